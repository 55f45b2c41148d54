//! What a request costs, in integers: prices in millionths of a dollar per
//! million tokens, costs in billionths of a dollar.

use serde::{Deserialize, Serialize};

use crate::types::Usage;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub input_micros_per_mtok: u64,
    pub output_micros_per_mtok: u64,
}

impl Price {
    /// Billionths of a dollar, rounded up so no request is free by rounding.
    /// (µ$ per 10⁶ tokens = 10⁻¹² $ per token = 10⁻³ n$ per token.)
    pub fn cost_nanos(&self, usage: Usage) -> u64 {
        let input = u128::from(usage.input_tokens) * u128::from(self.input_micros_per_mtok);
        let output = u128::from(usage.output_tokens) * u128::from(self.output_micros_per_mtok);
        let scaled = input.saturating_add(output);
        u64::try_from(scaled.div_ceil(1_000)).unwrap_or(u64::MAX)
    }

    /// Both directions together, for ordering candidates by cost.
    pub fn blended(&self) -> u64 {
        self.input_micros_per_mtok
            .saturating_add(self.output_micros_per_mtok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_exact_and_round_up() {
        // $0.15 in, $0.60 out per million tokens.
        let price = Price {
            input_micros_per_mtok: 150_000,
            output_micros_per_mtok: 600_000,
        };
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
        };
        assert_eq!(price.cost_nanos(usage), 750_000_000, "$0.75");
        let one = Usage {
            input_tokens: 1,
            output_tokens: 0,
        };
        assert_eq!(price.cost_nanos(one), 150, "150 n$ a token");
        let cheap = Price {
            input_micros_per_mtok: 1,
            output_micros_per_mtok: 0,
        };
        assert_eq!(cheap.cost_nanos(one), 1, "a fraction of a nano rounds up");
        assert_eq!(
            Price::default().cost_nanos(usage),
            0,
            "local models are free"
        );
    }

    #[test]
    fn huge_usage_saturates_instead_of_wrapping() {
        let price = Price {
            input_micros_per_mtok: u64::MAX,
            output_micros_per_mtok: u64::MAX,
        };
        let usage = Usage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
        };
        assert_eq!(price.cost_nanos(usage), u64::MAX);
    }
}

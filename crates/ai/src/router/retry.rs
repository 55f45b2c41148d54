//! How long to wait before trying the same provider again.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls to one candidate, the first included, before moving on.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Short: the next candidate is usually a better bet than waiting
        // long on a struggling one.
        Self {
            max_attempts: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0 for the first retry):
    /// "full jitter", uniform in `[0, min(max, base·2^retry)]`. Randomising
    /// the whole interval spreads out callers that failed together, which is
    /// what keeps a recovering upstream from being hit in synchronised waves.
    /// `unit` is a sample from `[0, 1)`, passed in so tests can pin it.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let top = |r| p.delay(r, 1.0);
        assert_eq!(top(0), Duration::from_millis(100));
        assert_eq!(top(1), Duration::from_millis(200));
        assert_eq!(top(2), Duration::from_millis(400));
        assert_eq!(top(3), Duration::from_millis(500));
        assert_eq!(top(40), Duration::from_millis(500));
        assert_eq!(p.delay(2, 0.0), Duration::ZERO);
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(200));
    }
}

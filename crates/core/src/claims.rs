//! Claims of on-chain rewards, as the API and the pages show them.

use serde::{Deserialize, Serialize};

/// Where a claim's transaction is; `confirmed` and `failed` are final.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Queued,
    Sent,
    Mined,
    Confirmed,
    Failed,
}

impl ClaimStatus {
    pub const ALL: [ClaimStatus; 5] = [
        ClaimStatus::Queued,
        ClaimStatus::Sent,
        ClaimStatus::Mined,
        ClaimStatus::Confirmed,
        ClaimStatus::Failed,
    ];

    /// How the status is stored (a claim's, or any platform transaction's).
    pub const fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Queued => "queued",
            ClaimStatus::Sent => "sent",
            ClaimStatus::Mined => "mined",
            ClaimStatus::Confirmed => "confirmed",
            ClaimStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => ClaimStatus::Queued,
            "sent" => ClaimStatus::Sent,
            "mined" => ClaimStatus::Mined,
            "confirmed" => ClaimStatus::Confirmed,
            "failed" => ClaimStatus::Failed,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, ClaimStatus::Confirmed | ClaimStatus::Failed)
    }
}

/// A claim the platform relays (it pays the gas).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    pub id: String,
    pub status: ClaimStatus,
    /// The wallet whose rewards are claimed (checksummed).
    pub wallet: String,
    /// Where the tokens go: the wallet, or the address a `claimTo` named.
    pub to: String,
    /// The cumulative amount claimed up to, token base units (decimal).
    pub cumulative_amount: String,
    /// The transaction hash, once sent (the latest, after fee bumps).
    pub tx_hash: Option<String>,
    /// Whether the mined transaction succeeded.
    pub succeeded: Option<bool>,
}

/// What a member needs to claim: the newest published root's leaf for their
/// wallet, what the contract has paid them so far, and for `claimTo` the
/// EIP-712 domain and their current nonce.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimable {
    pub wallet: String,
    pub round: i64,
    /// Token base units, decimal.
    pub cumulative_amount: String,
    pub claimed: String,
    /// `cumulative_amount − claimed`: what a claim pays now.
    pub claimable: String,
    pub proof: Vec<String>,
    pub chain_id: u64,
    pub distributor: String,
    pub token: String,
    /// The distributor's `nonces(wallet)`, for signing a `ClaimTo`.
    pub claim_to_nonce: String,
    /// Reward tokens the wallet holds now (base units, decimal).
    pub token_balance: String,
}

/// Base units as whole tokens for people: `25000000000000000000` with 18
/// decimals is `25`, `1500000000000000000` is `1.5`. Exact (no floats), so
/// what a page shows is what the chain holds. Input that is not a decimal
/// number is shown as it came.
pub fn format_token_units(units: &str, decimals: usize) -> String {
    if units.is_empty() || !units.bytes().all(|b| b.is_ascii_digit()) {
        return units.to_owned();
    }
    let digits = units.trim_start_matches('0');
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_token_units;

    #[test]
    fn token_units_read_as_exact_decimals() {
        assert_eq!(format_token_units("25000000000000000000", 18), "25");
        assert_eq!(format_token_units("1500000000000000000", 18), "1.5");
        assert_eq!(format_token_units("1", 18), "0.000000000000000001");
        assert_eq!(format_token_units("0", 18), "0");
        assert_eq!(format_token_units("000120", 2), "1.2");
        assert_eq!(
            format_token_units(
                "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                18
            ),
            "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
        );
        assert_eq!(format_token_units("12x", 18), "12x");
    }
}

//! Claims of on-chain rewards, as the API and the pages show them.

use serde::{Deserialize, Serialize};

/// Where a claim's transaction is; `confirmed` and `failed` are final.
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
}

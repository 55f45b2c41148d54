//! The chain side of the platform as an admin sees it: the distributor,
//! the key that pays for roots and relayed claims, and the transaction
//! outbox.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainOverview {
    pub chain_id: u64,
    /// EIP-55.
    pub distributor: String,
    /// 1 or 2 (docs/decisions/0030).
    pub distributor_version: u8,
    /// Whether claims are paused; `None` when the chain did not answer.
    pub paused: Option<bool>,
    /// The platform's key (EIP-55), which pays for every transaction.
    pub relayer: String,
    /// Its native balance in wei (decimal); `None` when the chain did not
    /// answer.
    pub relayer_balance_wei: Option<String>,
    /// Transactions not yet final, oldest first.
    pub pending: Vec<OutboxEntry>,
    /// The most recent transactions that failed, newest first.
    pub failed: Vec<OutboxEntry>,
}

/// One transaction of the outbox.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: String,
    /// `set_root`, `accept_root`, `claim`, `fund`, `slash`, `pause`, `unpause`.
    pub kind: String,
    /// `queued`, `sent`, `mined`, `confirmed` or `failed`.
    pub status: String,
    pub nonce: Option<i64>,
    /// How many times it was signed and sent (more than one: fees bumped).
    pub sends: i64,
    /// The mined hash, else the newest sent.
    pub hash: Option<String>,
    pub error: Option<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

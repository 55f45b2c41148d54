//! The platform on chain: its own transactions (an outbox with its own
//! nonces, fee bumping and confirmation tracking), root publication for
//! closed rounds, and gas-free claims relayed for members.

mod claims;
mod lease;
mod outbox;
mod overview;
mod publish;
mod reconcile;
mod transactions;

use std::time::Duration;

use alloy::primitives::Address;
use meritree_chain::contracts::DistributorVersion;
use meritree_chain::sender::Sender;
use meritree_chain::ChainError;
use meritree_store::StoreError;

pub use claims::{ClaimError, ClaimToRequest, RELAYED_CLAIM_GAS_CAP};
pub use outbox::{OutboxPass, TxKind};
pub use publish::PublishPass;
pub use reconcile::Reconciled;

service!(
    /// The chain: the transaction outbox, root publication, relayed claims.
    OnChain,
    chain
);

/// What settlement needs: the platform's key and the deployed contracts.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub sender: Sender,
    pub distributor: Address,
    /// Read from the contract at startup: how roots are published.
    pub version: DistributorVersion,
    pub token: Address,
    /// Blocks on top of a transaction's own before it counts as final.
    pub confirmations: u64,
    /// How long a sent transaction may wait before it is sent again with higher fees.
    pub bump_after: Duration,
    /// The block the distributor was deployed in: where scans of its events start.
    pub from_block: u64,
    /// The distributor this one replaced and the block it was deployed in:
    /// what it paid out counts as claimed.
    pub legacy: Option<(Address, u64)>,
    /// Whether the platform may mint the reward token to fund the
    /// distributor: only for its own development token on the local chain.
    pub may_mint: bool,
}

/// Why a chain operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("no chain is configured")]
    NoChain,
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored data is not what was written: {0}")]
    Corrupt(String),
    #[error("{0}")]
    InvalidRequest(&'static str),
}

impl crate::error::PublicError for SettlementError {
    fn code(&self) -> meritree_core::ErrorCode {
        use meritree_core::ErrorCode;
        match self {
            SettlementError::NoChain | SettlementError::Chain(_) => ErrorCode::ChainUnavailable,
            SettlementError::Store(err) => crate::error::store_error_code(err),
            SettlementError::Corrupt(_) => ErrorCode::Internal,
            SettlementError::InvalidRequest(_) => ErrorCode::InvalidRequest,
        }
    }
}

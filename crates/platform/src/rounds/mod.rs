//! Settlement rounds (docs/decisions/0007): opening and closing rounds,
//! moving settled points into each wallet's cumulative total and the Merkle
//! tree over those totals, and the views of rounds and rewards.
//!
//! Publishing roots on chain is [`crate::chain`]'s; a round leaves here as
//! `closing`.

mod close;
mod views;

use meritree_core::eth::U256;
use meritree_core::rounds::InvalidRoundLength;
use meritree_core::ErrorCode;
use meritree_store::StoreError;

use crate::error::{store_error_code, PublicError};

pub use close::TickReport;

service!(
    /// Settlement rounds: opening and closing them, and what they paid.
    Rounds,
    rounds
);

/// How rounds run and what a point is worth on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardsPolicy {
    /// Length of a round; rounds end on multiples of it.
    pub round_secs: u64,
    /// Token base units one point becomes (10^18: one whole token of an
    /// 18-decimal token). Lowering it would lower every wallet's total, so
    /// rounds refuse to close until it is restored.
    pub token_units_per_point: U256,
}

impl Default for RewardsPolicy {
    fn default() -> Self {
        Self {
            round_secs: 600,
            token_units_per_point: U256::from(10_u64).pow(U256::from(18_u64)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoundsError {
    #[error("round {0} does not exist")]
    NoSuchRound(i64),
    #[error("round {0} is still open: it has no tree yet")]
    NoTree(i64),
    #[error("no such account")]
    NoSuchAccount,
    #[error("rewards.round_secs: {0}")]
    InvalidPolicy(InvalidRoundLength),
    /// Cannot happen by construction (totals are sums of positive rows)
    /// unless `token_units_per_point` was lowered; refusing keeps every
    /// published claim valid.
    #[error(
        "round {round} would lower {wallet}'s cumulative amount from {previous} to {next}; \
         was rewards.token_units_per_point lowered?"
    )]
    CumulativeDecrease {
        round: i64,
        wallet: String,
        previous: String,
        next: String,
    },
    #[error("{wallet}'s cumulative amount does not fit in 256 bits")]
    AmountOverflow { wallet: String },
    /// Other instances kept moving the rounds on; the next tick retries.
    #[error("{0}: rounds kept changing under this instance; the next tick retries")]
    Contention(String),
    #[error("stored rounds data is not what was written: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PublicError for RoundsError {
    fn code(&self) -> ErrorCode {
        match self {
            RoundsError::NoSuchRound(_) | RoundsError::NoTree(_) | RoundsError::NoSuchAccount => {
                ErrorCode::NotFound
            }
            RoundsError::Store(err) => store_error_code(err),
            _ => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests;

//! One instance settles at a time. Several instances on one database each
//! run the settlement loop; only the holder of the settlement lease makes
//! a pass, and the outbox's nonce assignments and sends carry the lease's
//! fence, so an instance that stalled past its lease (a long GC-like
//! pause, a partition) cannot give out a nonce or send after another took
//! over. A dead holder's lease expires and the next instance takes it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use meritree_store::{leases, StoreError};

use super::OnChain;
use crate::clock;

impl OnChain<'_> {
    /// Takes the settlement lease for `holder` or renews it for `ttl`; true
    /// while this instance holds it. Losing it fences this instance's
    /// outbox writes until it takes the lease again.
    pub async fn hold_lease(&self, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = i64::try_from(clock::unix_ms()).unwrap_or(i64::MAX);
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let fence = leases::acquire(self.db(), leases::SETTLEMENT, holder, now, ttl).await;
        let (held, stored) = match &fence {
            Ok(Some(fence)) => (true, *fence),
            // Not ours, or unknown: fenced until taken again.
            Ok(None) | Err(_) => (false, -1),
        };
        let before = self.inner.settlement_fence.swap(stored, Ordering::SeqCst);
        if before != stored {
            match held {
                true => tracing::info!(
                    fence = stored,
                    "settlement lease taken: this instance settles"
                ),
                false if before > 0 => {
                    tracing::warn!("settlement lease lost: another instance settles")
                }
                false => {}
            }
        }
        fence.map(|fence| fence.is_some())
    }

    /// Lets the lease go (a clean shutdown).
    pub async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        self.inner.settlement_fence.store(-1, Ordering::SeqCst);
        leases::release(self.db(), leases::SETTLEMENT, holder).await
    }

    /// The fence outbox writes carry: `None` for a platform that never
    /// took the lease (driven by hand, one instance).
    pub(crate) fn fence(&self) -> Option<i64> {
        match self.inner.settlement_fence.load(Ordering::SeqCst) {
            0 => None,
            fence => Some(fence),
        }
    }
}

//! The database never runs ahead of the chain for long. Blocks the outbox
//! counted can disappear: a reorg on a public chain, or the embedded chain
//! restarted from a state saved before the machine died. Each settlement
//! pass compares what the database says landed with what the chain holds
//! and sends again whatever is missing, with the nonce it had, so a lost
//! copy and its replacement can never both be mined and no nonce is
//! skipped.

use super::OnChain;
use crate::clock;

use meritree_store::{chain_txs, rounds};

use super::SettlementError;

/// What reconciliation found missing from the chain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Transactions recorded as mined whose nonce the chain has not used:
    /// back to `sent`, re-sent by the next outbox pass.
    pub resent: Vec<String>,
    /// Rounds recorded as published above the distributor's newest round
    /// (claimable or proposed): back to `closing`, published again.
    pub reopened: Vec<i64>,
}

impl OnChain<'_> {
    /// Puts back what the chain lost; cheap when nothing is (two reads).
    pub async fn reconcile(&self) -> Result<Reconciled, SettlementError> {
        let settlement = self.settlement()?;
        let mut found = Reconciled::default();
        let mined_nonce = i64::try_from(settlement.sender.mined_nonce().await?).unwrap_or(i64::MAX);
        for tx in chain_txs::on_chain_from_nonce(self.db(), mined_nonce).await? {
            if chain_txs::back_to_sent(self.db(), &tx.id, clock::unix_secs()).await? {
                tracing::warn!(tx = %tx.id, kind = %tx.kind, nonce = ?tx.nonce, "a mined transaction is no longer on chain; sending it again");
                found.resent.push(tx.id);
            }
        }
        // A proposed (version 2) root counts as on chain: it is waiting
        // out its timelock, not lost. A revoked one does not, and its round
        // goes back to `closing`, where publication stops on it.
        let on_chain = self.chain_rounds(settlement).await?.newest();
        found.reopened = rounds::reopen_above(self.db(), on_chain).await?;
        if !found.reopened.is_empty() {
            tracing::warn!(rounds = ?found.reopened, on_chain, "published roots are no longer on chain; publishing again");
        }
        Ok(found)
    }
}

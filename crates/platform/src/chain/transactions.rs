//! The public face of the platform's own transactions: the hash a block
//! explorer knows, for pages that link a round to its `setRoot`.

use super::OnChain;
use meritree_store::chain_txs;
use meritree_store::StoreError;

impl OnChain<'_> {
    /// The hash of an outbox transaction: the mined one, else the latest
    /// sent (fee bumps replace it); `None` before it is first sent or for an
    /// unknown id.
    pub async fn transaction_hash(&self, tx_id: &str) -> Result<Option<String>, StoreError> {
        Ok(chain_txs::get(self.db(), tx_id)
            .await?
            .and_then(|tx| tx.mined_hash.clone().or_else(|| tx.hashes().pop())))
    }
}

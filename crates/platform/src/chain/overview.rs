//! What admins see of the chain and the one switch they hold: claims
//! paused or not. Pausing and resuming are transactions from the platform's
//! key through the outbox, so they are sent, bumped and confirmed like any
//! other; a key without the role fails its simulation and shows as failed.

use alloy::sol_types::SolCall;
use meritree_chain::contracts::{DistributorVersion, RewardDistributor};
use meritree_core::audit::AuditAction;
use meritree_core::settlement::{ChainOverview, OutboxEntry};
use meritree_store::chain_txs::{self, TxRecord};

use super::{OnChain, SettlementError, TxKind};
use meritree_core::accounts::AccountId;
use meritree_core::claims::ClaimStatus;

/// Failed transactions the overview lists.
const FAILED_SHOWN: u32 = 20;
const CHAIN_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl OnChain<'_> {
    /// The distributor, the platform key's balance and the outbox. A chain
    /// that does not answer in time leaves its figures out, not the page.
    pub async fn overview(&self) -> Result<ChainOverview, SettlementError> {
        let settlement = self.settlement()?;
        let chain = settlement.sender.chain();
        let relayer = settlement.sender.address();
        let paused = tokio::time::timeout(
            CHAIN_READ_TIMEOUT,
            chain.distributor_paused(settlement.distributor),
        )
        .await
        .ok()
        .and_then(Result::ok);
        let balance = tokio::time::timeout(
            CHAIN_READ_TIMEOUT,
            alloy::providers::Provider::get_balance(chain.provider(), relayer),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|wei| wei.to_string());
        let mut pending = Vec::new();
        for status in [ClaimStatus::Queued, ClaimStatus::Sent, ClaimStatus::Mined] {
            pending.extend(chain_txs::with_status(self.db(), status.as_str()).await?);
        }
        pending.sort_by_key(|tx| (tx.created_at, tx.nonce));
        let failed = chain_txs::recently_failed(self.db(), FAILED_SHOWN).await?;
        Ok(ChainOverview {
            chain_id: self.inner.chain_id,
            distributor: settlement.distributor.to_checksum(None),
            distributor_version: match settlement.version {
                DistributorVersion::V1 => 1,
                DistributorVersion::V2 => 2,
            },
            paused,
            relayer: relayer.to_checksum(None),
            relayer_balance_wei: balance,
            pending: pending.into_iter().map(entry).collect(),
            failed: failed.into_iter().map(entry).collect(),
        })
    }

    /// Queues `pause()` or `unpause()` on the distributor, audited with the
    /// admin. `request_key` makes a retried request queue one transaction.
    pub async fn set_claims_paused(
        &self,
        admin: &AccountId,
        paused: bool,
        request_key: &str,
    ) -> Result<OutboxEntry, SettlementError> {
        if request_key.is_empty() || request_key.len() > 100 {
            return Err(SettlementError::InvalidRequest(
                "idempotency_key must be 1 to 100 bytes",
            ));
        }
        let settlement = self.settlement()?;
        let (kind, calldata) = match paused {
            true => (TxKind::Pause, RewardDistributor::pauseCall {}.abi_encode()),
            false => (
                TxKind::Unpause,
                RewardDistributor::unpauseCall {}.abi_encode(),
            ),
        };
        let key = format!("{}:{admin}:{request_key}", kind.as_str());
        let existing = chain_txs::by_key(self.db(), &key).await?;
        let tx = self
            .queue_transaction(kind, &key, settlement.distributor, &calldata.into())
            .await?;
        if existing.is_none() {
            tracing::warn!(%admin, paused, tx = %tx.id, "claims pause switched by an admin");
            self.audit()
                .record(
                    admin.as_str(),
                    match paused {
                        true => AuditAction::ClaimsPaused,
                        false => AuditAction::ClaimsResumed,
                    },
                    &settlement.distributor.to_checksum(None),
                    None,
                    Some(serde_json::json!({ "tx": tx.id })),
                )
                .await?;
        }
        Ok(entry(tx))
    }
}

fn entry(tx: TxRecord) -> OutboxEntry {
    let hash = tx.mined_hash.clone().or_else(|| tx.hashes().pop());
    OutboxEntry {
        id: tx.id,
        kind: tx.kind,
        status: tx.status,
        nonce: tx.nonce,
        sends: tx.sends,
        hash,
        error: tx.error,
        updated_at: tx.updated_at,
    }
}

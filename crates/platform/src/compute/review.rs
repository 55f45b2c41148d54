//! Admins review flagged nodes: take part of the operator's stake (a
//! `NodeStaking.slash` sent through the platform's outbox, with the reason
//! in its event), or clear the flag. Either way the review is kept, and a
//! node is reviewed once per flag: two admins deciding at once cannot both
//! slash.

use alloy::primitives::{Address, U256};
use meritree_core::compute::review::{Decision, NodeReview, NodeReviewView, ReviewTransaction};
use meritree_core::compute::{NodeId, NodeView};
use meritree_store::accounts;
use meritree_store::chain_txs::{self, NewTx};
use meritree_store::compute::{self as store, NewReview, ReviewRecord};

use super::{Compute, ComputeError};
use crate::chain::TxKind;
use crate::clock;
use crate::principal::Principal;

/// Flagged nodes listed at once, at most.
const FLAGGED_LIMIT: u32 = 200;

impl Compute<'_> {
    /// Nodes flagged for review, most disagreements first.
    pub async fn flagged(&self) -> Result<Vec<NodeView>, ComputeError> {
        store::flagged_nodes(self.db(), FLAGGED_LIMIT)
            .await?
            .into_iter()
            .map(|record| self.node_view(record))
            .collect()
    }

    /// An admin's decision on a flagged node (the door checks the caller
    /// is an admin with a fresh proof of identity).
    #[tracing::instrument(skip_all, fields(node = %node_id, reviewer = %me.account_id))]
    pub async fn review(
        &self,
        me: &Principal,
        node_id: &NodeId,
        review: NodeReview,
    ) -> Result<NodeReviewView, ComputeError> {
        let (decision, reason) = review.parse().map_err(ComputeError::InvalidReview)?;
        let node = store::get_node(self.db(), node_id)
            .await?
            .ok_or(ComputeError::NoSuchNode)?;
        if node.flagged == 0 {
            return Err(ComputeError::NotFlagged);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let tx_key = format!("slash:{id}");
        let tx_id = uuid::Uuid::new_v4().to_string();
        let slash = match decision {
            Decision::Clear => None,
            Decision::Slash(amount) => {
                Some(self.slash_call(&node.account_id, amount, &reason).await?)
            }
        };
        let amount = match decision {
            Decision::Slash(amount) => Some(amount.to_string()),
            Decision::Clear => None,
        };
        let recorded = store::review_node(
            self.db(),
            NewReview {
                id: &id,
                node_id,
                reviewer_id: &me.account_id,
                decision: decision.as_str(),
                amount: amount.as_deref(),
                reason: &reason,
                now: clock::unix_secs(),
            },
            slash.as_ref().map(|(to, calldata)| NewTx {
                id: &tx_id,
                idempotency_key: &tx_key,
                kind: TxKind::Slash.as_str(),
                to_address: to,
                calldata,
                now: clock::unix_secs(),
            }),
        )
        .await?
        .ok_or(ComputeError::NotFlagged)?;
        tracing::info!(decision = decision.as_str(), amount = ?amount, "node reviewed");
        self.audit()
            .record(
                me.account_id.as_str(),
                meritree_core::audit::AuditAction::NodeReviewed,
                node_id.as_str(),
                Some(serde_json::json!({ "flagged": true })),
                Some(serde_json::json!({
                    "decision": decision.as_str(),
                    "amount": amount,
                    "reason": reason,
                })),
            )
            .await?;
        self.review_view(recorded).await
    }

    /// A node's reviews, newest first, with their slashes' progress.
    pub async fn reviews(&self, node_id: &NodeId) -> Result<Vec<NodeReviewView>, ComputeError> {
        let mut views = Vec::new();
        for record in store::reviews_of(self.db(), node_id).await? {
            views.push(self.review_view(record).await?);
        }
        Ok(views)
    }

    /// The staking contract and the slash's calldata, once it is known the
    /// slash can be sent and can succeed: staking is on, the platform has a
    /// key to send with, the operator has a wallet holding that much.
    async fn slash_call(
        &self,
        operator: &str,
        amount: U256,
        reason: &str,
    ) -> Result<(String, String), ComputeError> {
        let refused = |why: &str| ComputeError::SlashRefused(why.to_owned());
        let staking = self.staking().ok_or_else(|| {
            refused(
                "staking is off on this network (compute.min_stake): there is no stake to slash",
            )
        })?;
        if self.chain().settlement().is_err() {
            return Err(refused(
                "the platform has no chain key (chain.platform_key) to send the slash with",
            ));
        }
        let wallet = accounts::find_by_id(self.db(), operator)
            .await?
            .and_then(|account| account.wallet_address)
            .and_then(|wallet| wallet.parse::<Address>().ok())
            .ok_or_else(|| refused("the operator has no wallet bound: nothing is staked"))?;
        let slashable = staking
            .chain
            .slashable(staking.contract, wallet)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "stake not read");
                ComputeError::StakeUnknown
            })?;
        if amount > slashable {
            return Err(ComputeError::SlashRefused(format!(
                "the operator has {slashable} staked (active and unstaking); the slash asks {amount}"
            )));
        }
        let calldata = meritree_chain::contracts::slash_calldata(wallet, amount, reason);
        Ok((format!("{:#x}", staking.contract), calldata.to_string()))
    }

    async fn review_view(&self, record: ReviewRecord) -> Result<NodeReviewView, ComputeError> {
        let transaction = match &record.tx_id {
            None => None,
            Some(tx_id) => chain_txs::get(self.db(), tx_id)
                .await?
                .map(|tx| ReviewTransaction {
                    hash: tx.mined_hash.clone().or_else(|| tx.hashes().pop()),
                    id: tx.id,
                    status: tx.status,
                }),
        };
        Ok(NodeReviewView {
            id: record.id,
            node_id: NodeId::from(record.node_id),
            decision: record.decision,
            amount: record.amount,
            reason: record.reason,
            transaction,
            created_at: record.created_at,
        })
    }
}

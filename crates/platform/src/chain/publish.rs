//! Publishing closed rounds: one `setRoot(root, N)` per round, in order,
//! through the outbox. Idempotent across crashes: before queueing, the
//! contract's own `round()` says whether round N already landed, and the
//! contract refuses a round number that does not increase, so no round ever
//! gets two roots and none is skipped.

use super::OnChain;
use meritree_core::claims::ClaimStatus;
use meritree_core::rounds::RoundStatus;
use std::str::FromStr;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolCall;
use meritree_chain::contracts::{RewardDistributor, RewardToken};
use meritree_chain::ChainError;
use meritree_store::chain_txs;
use meritree_store::rounds::{self, RoundRecord};

use super::{Settlement, SettlementError, TxKind};
use crate::clock;

/// Rounds looked at per pass; the rest wait for the next.
const BATCH: u32 = 32;

/// What one publication pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishPass {
    pub queued: Vec<i64>,
    pub published: Vec<i64>,
    pub confirmed: Vec<i64>,
    /// A round held back, and why (e.g. the distributor lacks tokens).
    pub waiting: Option<(i64, String)>,
}

impl OnChain<'_> {
    /// Moves closed rounds towards `confirmed`: queues `setRoot` for the
    /// oldest unpublished round (after the funding check), marks rounds
    /// whose transaction was mined, and confirms them once final.
    pub async fn publish_rounds(&self) -> Result<PublishPass, SettlementError> {
        let settlement = self.settlement()?;
        let provider = settlement.sender.chain().provider();
        let distributor = RewardDistributor::new(settlement.distributor, provider);
        let mut pass = PublishPass::default();

        for round in rounds::with_status(self.db(), RoundStatus::Closing.as_str(), BATCH).await? {
            let on_chain = i64::try_from(distributor.round().call().await.map_err(contract)?)
                .unwrap_or(i64::MAX);
            if on_chain >= round.number {
                // Landed before a crash could record it.
                rounds::mark_published(self.db(), round.number, None, clock::unix_secs()).await?;
                pass.published.push(round.number);
                continue;
            }
            let tx = match &round.publish_tx {
                Some(id) => chain_txs::get(self.db(), id).await?,
                None => None,
            };
            match tx {
                Some(tx) if tx.succeeded == Some(true) => {
                    rounds::mark_published(
                        self.db(),
                        round.number,
                        Some(&tx.id),
                        clock::unix_secs(),
                    )
                    .await?;
                    pass.published.push(round.number);
                }
                Some(tx)
                    if tx.status == ClaimStatus::Failed.as_str() || tx.succeeded == Some(false) =>
                {
                    let why = format!("setRoot transaction {} did not succeed", tx.id);
                    tracing::error!(round = round.number, %why, "root publication failed");
                    pass.waiting = Some((round.number, why));
                    break;
                }
                // Sent and waiting for a block.
                Some(_) => break,
                None => {
                    if let Some(why) = self.ensure_funded(settlement, &round).await? {
                        pass.waiting = Some((round.number, why));
                        break;
                    }
                    let root = B256::from_str(round.root.as_deref().unwrap_or_default()).map_err(
                        |_| SettlementError::Corrupt(format!("root of round {}", round.number)),
                    )?;
                    let call = RewardDistributor::setRootCall {
                        newRoot: root,
                        newRound: round.number as u64,
                    };
                    let tx = self
                        .chain()
                        .queue_transaction(
                            TxKind::SetRoot,
                            &format!("set_root:{}", round.number),
                            settlement.distributor,
                            &call.abi_encode().into(),
                        )
                        .await?;
                    rounds::set_publish_tx(self.db(), round.number, &tx.id).await?;
                    pass.queued.push(round.number);
                    // One at a time: round N+1 waits until N is mined.
                    break;
                }
            }
        }

        for round in rounds::with_status(self.db(), RoundStatus::Published.as_str(), BATCH).await? {
            let final_ = match &round.publish_tx {
                Some(id) => chain_txs::get(self.db(), id)
                    .await?
                    .is_some_and(|tx| tx.status == ClaimStatus::Confirmed.as_str()),
                // Found on chain without our record of the transaction.
                None => true,
            };
            if final_ {
                rounds::mark_confirmed(self.db(), round.number, clock::unix_secs()).await?;
                pass.confirmed.push(round.number);
            }
        }
        Ok(pass)
    }

    /// `None` when the distributor holds enough tokens for every claim the
    /// round's root allows; otherwise why the round waits. On the local
    /// chain the platform mints the shortfall itself.
    async fn ensure_funded(
        &self,
        settlement: &Settlement,
        round: &RoundRecord,
    ) -> Result<Option<String>, SettlementError> {
        let provider = settlement.sender.chain().provider();
        let total = U256::from_str(round.total_amount.as_deref().unwrap_or("0"))
            .map_err(|_| SettlementError::Corrupt(format!("total of round {}", round.number)))?;
        let paid = self.claimed_so_far(settlement).await?;
        let owed = total.saturating_sub(paid);
        let token = RewardToken::new(settlement.token, provider);
        let held = token
            .balanceOf(settlement.distributor)
            .call()
            .await
            .map_err(contract)?;
        if held >= owed {
            return Ok(None);
        }
        let shortfall = owed - held;
        if !settlement.may_mint {
            tracing::error!(round = round.number, %shortfall, "the distributor lacks tokens; the round waits");
            return Ok(Some(format!(
                "the distributor needs {shortfall} more token units"
            )));
        }
        let mint = RewardToken::mintCall {
            to: settlement.distributor,
            amount: shortfall,
        };
        let tx = self
            .chain()
            .queue_transaction(
                TxKind::Fund,
                &format!("fund:round:{}", round.number),
                settlement.token,
                &mint.abi_encode().into(),
            )
            .await?;
        Ok(Some(format!("funding the distributor ({})", tx.status)))
    }

    /// Everything the distributor has paid out (its `Claimed` events): claims
    /// may be sent by anyone, not only through our relayer.
    async fn claimed_so_far(&self, settlement: &Settlement) -> Result<U256, SettlementError> {
        let provider = settlement.sender.chain().provider();
        let distributor = RewardDistributor::new(settlement.distributor, provider);
        let events = distributor
            .Claimed_filter()
            .from_block(settlement.from_block)
            .query()
            .await
            .map_err(contract)?;
        Ok(events.iter().fold(U256::ZERO, |sum, (claimed, _)| {
            sum.saturating_add(claimed.amount)
        }))
    }
}

pub(super) fn contract(err: alloy::contract::Error) -> SettlementError {
    match err {
        alloy::contract::Error::TransportError(err) => SettlementError::Chain(ChainError::Rpc(err)),
        other => SettlementError::Chain(ChainError::Reverted(other.to_string())),
    }
}

/// Lower-case hex, as wallets are stored.
pub(super) fn wallet_key(address: &Address) -> String {
    format!("{address:#x}")
}

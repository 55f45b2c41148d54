//! Publishing closed rounds: one root per round, in order, through the
//! outbox — `setRoot(root, N)` on a version 1 distributor, and on version 2
//! `proposeRoot(root, N, exportHash)` followed, once the timelock is over,
//! by `acceptRoot()`. Idempotent across crashes: before queueing, the
//! contract's own rounds say whether round N already landed, and the
//! contract refuses a round number that does not increase, so no round ever
//! gets two roots and none is skipped.

use super::OnChain;
use meritree_core::claims::ClaimStatus;
use meritree_core::rounds::RoundStatus;
use std::str::FromStr;

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::sol_types::{SolCall, SolValue};
use meritree_chain::contracts::{
    DistributorVersion, RewardDistributor, RewardDistributorV1, RewardToken,
};
use meritree_chain::ChainError;
use meritree_store::chain_txs;
use meritree_store::rounds::{self, RoundRecord};

use super::{Settlement, SettlementError, TxKind};
use crate::clock;

/// Rounds looked at per pass; the rest wait for the next.
const BATCH: u32 = 32;

/// How long a failed root transaction waits before it is tried again.
const RETRY_FAILED_AFTER_SECS: i64 = 60;

/// What one publication pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishPass {
    pub queued: Vec<i64>,
    pub published: Vec<i64>,
    pub confirmed: Vec<i64>,
    /// A round held back, and why (e.g. the distributor lacks tokens).
    pub waiting: Option<(i64, String)>,
    /// A proposed round whose timelock is over: `acceptRoot` queued.
    pub accepting: Option<i64>,
}

/// The distributor's rounds as the chain has them now.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChainRounds {
    /// The claimable round.
    pub active: i64,
    /// A version 2 root proposed and not yet accepted or revoked.
    pub pending: Option<PendingRound>,
    /// The last round of the distributor this one replaced (zero if none):
    /// rounds up to it were published there and are not published again.
    pub replaced: i64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PendingRound {
    pub round: i64,
    pub root: B256,
    /// Chain time (Unix seconds) from which it may be accepted.
    pub valid_at: u64,
}

impl ChainRounds {
    /// Whether the chain already has round `round`: claimable (or
    /// superseded by a later claimable round), published on the replaced
    /// distributor, or pending with this very root — a pending root that is
    /// not ours proves nothing.
    pub fn holds(&self, round: i64, root: B256) -> bool {
        self.active >= round
            || self.replaced >= round
            || self
                .pending
                .is_some_and(|p| p.round == round && p.root == root)
    }

    /// The highest round the chain has a root for, claimable or not.
    pub fn newest(&self) -> i64 {
        let pending = self.pending.map_or(0, |p| p.round);
        self.active.max(pending).max(self.replaced)
    }
}

impl OnChain<'_> {
    /// Moves closed rounds towards `confirmed`: queues the root of the
    /// oldest unpublished round (after the funding check), marks rounds
    /// whose transaction was mined, confirms them once final, and accepts
    /// a version 2 root whose timelock is over.
    pub async fn publish_rounds(&self) -> Result<PublishPass, SettlementError> {
        let settlement = self.settlement()?;
        let mut pass = PublishPass::default();
        let on_chain = self.chain_rounds(settlement).await?;
        let mut in_flight = false;

        for round in rounds::with_status(self.db(), RoundStatus::Closing.as_str(), BATCH).await? {
            let root = B256::from_str(round.root.as_deref().unwrap_or_default())
                .map_err(|_| SettlementError::Corrupt(format!("root of round {}", round.number)))?;
            if on_chain.holds(round.number, root) {
                // Landed before a crash could record it.
                rounds::mark_published(self.db(), round.number, None, clock::unix_secs()).await?;
                pass.published.push(round.number);
                continue;
            }
            let tx = match &round.publish_tx {
                Some(id) => chain_txs::get(self.db(), id).await?,
                None => None,
            };
            let key = match tx {
                // Mined and still in its block, yet the chain does not hold
                // the round (checked above): a guardian revoked the root.
                Some(tx) if tx.succeeded == Some(true) => {
                    let why = match self.proposal(settlement, &on_chain, &round, root).await? {
                        Err(why) => why,
                        Ok(_) => format!(
                            "round {}'s root is not on chain although transaction {} succeeded",
                            round.number, tx.id
                        ),
                    };
                    pass.waiting = Some((round.number, why));
                    break;
                }
                // It may have lost a race (another root pending, a node
                // behind the one asked before): tried again, at most once a
                // minute, under a key of its own.
                Some(tx)
                    if tx.status == ClaimStatus::Failed.as_str() || tx.succeeded == Some(false) =>
                {
                    if clock::unix_secs() < tx.updated_at + RETRY_FAILED_AFTER_SECS {
                        let why = format!(
                            "root transaction {} did not succeed ({}); trying again within a minute",
                            tx.id,
                            tx.error.as_deref().unwrap_or("reverted on chain")
                        );
                        tracing::error!(round = round.number, %why, "root publication failed");
                        pass.waiting = Some((round.number, why));
                        break;
                    }
                    format!("set_root:{}:after:{}", round.number, tx.id)
                }
                // Sent and waiting for a block.
                Some(_) => {
                    in_flight = true;
                    break;
                }
                None => format!("set_root:{}", round.number),
            };
            let call = match self.proposal(settlement, &on_chain, &round, root).await? {
                Ok(call) => call,
                Err(why) => {
                    pass.waiting = Some((round.number, why));
                    break;
                }
            };
            if let Some(why) = self.ensure_funded(settlement, &round).await? {
                pass.waiting = Some((round.number, why));
                break;
            }
            let tx = self
                .chain()
                .queue_transaction(TxKind::SetRoot, &key, settlement.distributor, &call)
                .await?;
            rounds::set_publish_tx(self.db(), round.number, &tx.id).await?;
            pass.queued.push(round.number);
            // One at a time: round N+1 waits until N is mined.
            break;
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
        // A proposal accepts a due root itself; one on its way would make
        // an `acceptRoot` mined after it revert.
        if pass.queued.is_empty() && !in_flight {
            pass.accepting = self.accept_due_root(settlement, &on_chain).await?;
        }
        Ok(pass)
    }

    /// The distributor's claimable round and, on version 2, the pending one.
    pub(super) async fn chain_rounds(
        &self,
        settlement: &Settlement,
    ) -> Result<ChainRounds, SettlementError> {
        let provider = settlement.sender.chain().provider();
        let distributor = RewardDistributor::new(settlement.distributor, provider);
        let active = round_number(distributor.round().call().await.map_err(contract)?);
        let pending = match settlement.version {
            DistributorVersion::V1 => None,
            DistributorVersion::V2 => {
                let pending = distributor.pendingRoot().call().await.map_err(contract)?;
                (pending.validAt != 0).then(|| PendingRound {
                    round: round_number(pending.round),
                    root: pending.root,
                    valid_at: pending.validAt,
                })
            }
        };
        let replaced = match settlement.legacy {
            Some((legacy, _)) => round_number(
                RewardDistributorV1::new(legacy, provider)
                    .round()
                    .call()
                    .await
                    .map_err(contract)?,
            ),
            None => 0,
        };
        Ok(ChainRounds {
            active,
            pending,
            replaced,
        })
    }

    /// The call that publishes `root` for `round`, or why it must wait.
    /// Version 1: `setRoot`. Version 2: `proposeRoot` with the hash of the
    /// round's export, unless a root is still in its timelock, a root this
    /// platform did not propose is pending (for the guardian to revoke), or
    /// this very proposal was revoked (then publication stops there: a
    /// person must look into it).
    async fn proposal(
        &self,
        settlement: &Settlement,
        on_chain: &ChainRounds,
        round: &RoundRecord,
        root: B256,
    ) -> Result<Result<Bytes, String>, SettlementError> {
        let number = u64::try_from(round.number)
            .map_err(|_| SettlementError::Corrupt(format!("round number {}", round.number)))?;
        if settlement.version == DistributorVersion::V1 {
            let call = RewardDistributorV1::setRootCall {
                newRoot: root,
                newRound: number,
            };
            return Ok(Ok(call.abi_encode().into()));
        }
        if let Some(pending) = on_chain.pending {
            if !self.proposed_by_us(&pending).await? {
                tracing::error!(round = pending.round, root = %pending.root, "a root this platform did not propose is pending");
                return Ok(Err(format!(
                    "a root this platform did not propose is pending for round {} ({}): \
                     the guardian should revoke it",
                    pending.round, pending.root
                )));
            }
            if pending.valid_at > settlement.sender.chain_time().await? {
                return Ok(Err(format!(
                    "round {}'s root is in its timelock until {} (Unix time)",
                    pending.round, pending.valid_at
                )));
            }
        }
        let export = self.rounds().export(round.number).await.map_err(|err| {
            SettlementError::Corrupt(format!("export of round {}: {err}", round.number))
        })?;
        if export.root != format!("{root:#x}") {
            return Err(SettlementError::Corrupt(format!(
                "round {}'s export does not carry its root",
                round.number
            )));
        }
        let export_hash = export.export_hash();
        let distributor =
            RewardDistributor::new(settlement.distributor, settlement.sender.chain().provider());
        let id = keccak256((root, number, export_hash).abi_encode());
        if distributor
            .revokedProposals(id)
            .call()
            .await
            .map_err(contract)?
        {
            tracing::error!(round = round.number, %root, "the guardian revoked this round's root; publication stops");
            return Ok(Err(format!(
                "the guardian revoked round {}'s root {root}; publication stops until an operator \
                 looks into it",
                round.number
            )));
        }
        let call = RewardDistributor::proposeRootCall {
            newRoot: root,
            newRound: number,
            newExportHash: export_hash,
        };
        Ok(Ok(call.abi_encode().into()))
    }

    /// Whether the pending root is the one this platform computed for its round.
    async fn proposed_by_us(&self, pending: &PendingRound) -> Result<bool, SettlementError> {
        let ours = rounds::get(self.db(), pending.round).await?;
        Ok(ours
            .and_then(|round| round.root)
            .and_then(|root| B256::from_str(&root).ok())
            .is_some_and(|root| root == pending.root))
    }

    /// Queues `acceptRoot` for a version 2 root of ours whose timelock is
    /// over, so it becomes claimable without waiting for the next round's
    /// proposal.
    async fn accept_due_root(
        &self,
        settlement: &Settlement,
        on_chain: &ChainRounds,
    ) -> Result<Option<i64>, SettlementError> {
        let Some(pending) = on_chain.pending else {
            return Ok(None);
        };
        if pending.valid_at > settlement.sender.chain_time().await?
            || !self.proposed_by_us(&pending).await?
        {
            return Ok(None);
        }
        let call = RewardDistributor::acceptRootCall {};
        self.chain()
            .queue_transaction(
                TxKind::AcceptRoot,
                &format!("accept_root:{}", pending.round),
                settlement.distributor,
                &call.abi_encode().into(),
            )
            .await?;
        Ok(Some(pending.round))
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

    /// Everything the distributor, and the one it replaced, paid out (their
    /// `Claimed` events): claims may be sent by anyone, not only through our
    /// relayer, and a member paid by the old one is not paid again.
    async fn claimed_so_far(&self, settlement: &Settlement) -> Result<U256, SettlementError> {
        let provider = settlement.sender.chain().provider();
        let mut paid = U256::ZERO;
        let sources = std::iter::once((settlement.distributor, settlement.from_block))
            .chain(settlement.legacy);
        for (address, from_block) in sources {
            // Both versions log the same `Claimed` event.
            let events = RewardDistributor::new(address, provider)
                .Claimed_filter()
                .from_block(from_block)
                .query()
                .await
                .map_err(contract)?;
            paid = events
                .iter()
                .fold(paid, |sum, (claimed, _)| sum.saturating_add(claimed.amount));
        }
        Ok(paid)
    }
}

pub(super) fn contract(err: alloy::contract::Error) -> SettlementError {
    match err {
        alloy::contract::Error::TransportError(err) => SettlementError::Chain(ChainError::Rpc(err)),
        other => SettlementError::Chain(ChainError::Reverted(other.to_string())),
    }
}

/// A round number from the chain, as the database numbers rounds.
fn round_number(round: u64) -> i64 {
    i64::try_from(round).unwrap_or(i64::MAX)
}

/// Lower-case hex, as wallets are stored.
pub(super) fn wallet_key(address: &Address) -> String {
    format!("{address:#x}")
}

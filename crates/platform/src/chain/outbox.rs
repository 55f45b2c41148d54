//! The outbox: every transaction the platform sends goes through it.
//!
//! - A transaction is simulated before it gets a nonce; one that would
//!   revert fails without one, so nonces never have gaps.
//! - The nonce is stored before the first send, so after a crash the same
//!   transaction is signed again with the same nonce, never with a new one.
//! - A transaction not mined within `bump_after` is sent again, same nonce,
//!   fees up by 12.5% (or today's fees, if higher).
//! - Mined transactions count as final after `confirmations` blocks, if
//!   their receipt is still in the block it was first seen in; one a reorg
//!   took away goes back to `sent` and is re-sent with the same nonce.
//!
//! One instance pumps the outbox at a time: the holder of the settlement
//! lease, whose nonce assignments and sends carry its fence (lease.rs);
//! the store's unique nonce column refuses a second claimant of a nonce.

use super::OnChain;
use meritree_core::claims::ClaimStatus;
use std::str::FromStr;

use alloy::primitives::{Address, Bytes, TxHash};
use meritree_chain::sender::{Fees, Inclusion};
use meritree_chain::ChainError;
use meritree_store::chain_txs::{self, NewTx, Sent, TxRecord};

use super::{Settlement, SettlementError};
use crate::clock;
use crate::notifications::Notice;
use meritree_core::notifications::NotificationKind;

/// What a transaction is for (the outbox's `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// `setRoot` (distributor version 1) or `proposeRoot` (version 2).
    SetRoot,
    /// `acceptRoot`: a version 2 root whose timelock is over becomes claimable.
    AcceptRoot,
    Claim,
    Fund,
    /// A node operator's stake taken after an admin's review.
    Slash,
    /// An admin pausing claims on the distributor, or resuming them.
    Pause,
    Unpause,
}

impl TxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::SetRoot => "set_root",
            TxKind::AcceptRoot => "accept_root",
            TxKind::Claim => "claim",
            TxKind::Fund => "fund",
            TxKind::Slash => "slash",
            TxKind::Pause => "pause",
            TxKind::Unpause => "unpause",
        }
    }
}

/// What one pass over the outbox did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OutboxPass {
    pub sent: usize,
    pub bumped: usize,
    pub mined: usize,
    pub confirmed: usize,
    pub failed: usize,
    /// Mined transactions whose block a reorg took away: sent again.
    pub reorged: usize,
}

impl OnChain<'_> {
    pub(crate) fn settlement(&self) -> Result<&Settlement, SettlementError> {
        self.inner
            .settlement
            .as_ref()
            .ok_or(SettlementError::NoChain)
    }

    /// Queues a call from the platform's key; idempotent per `key`.
    pub async fn queue_transaction(
        &self,
        kind: TxKind,
        key: &str,
        to: Address,
        calldata: &Bytes,
    ) -> Result<TxRecord, SettlementError> {
        let id = uuid::Uuid::new_v4().to_string();
        Ok(chain_txs::enqueue(
            self.db(),
            NewTx {
                id: &id,
                idempotency_key: key,
                kind: kind.as_str(),
                to_address: &format!("{to:#x}"),
                calldata: &calldata.to_string(),
                now: clock::unix_secs(),
            },
        )
        .await?)
    }

    /// One pass: send what is queued, bump what is stuck, track what is mined.
    pub async fn pump_outbox(&self) -> Result<OutboxPass, SettlementError> {
        let settlement = self.settlement()?;
        let mut pass = OutboxPass::default();
        let mut just_sent = Vec::new();
        for tx in chain_txs::with_status(self.db(), ClaimStatus::Queued.as_str()).await? {
            match self.send_queued(settlement, &tx).await? {
                true => {
                    pass.sent += 1;
                    just_sent.push(tx.id);
                }
                false => pass.failed += 1,
            }
        }
        let head = settlement.sender.block_number().await?;
        let sent = chain_txs::with_status(self.db(), ClaimStatus::Sent.as_str()).await?;
        // What this pass sent gets its first look (and bump) on the next.
        for tx in sent.into_iter().filter(|tx| !just_sent.contains(&tx.id)) {
            match self.track_sent(settlement, &tx).await? {
                Tracked::Mined => pass.mined += 1,
                Tracked::Bumped => pass.bumped += 1,
                Tracked::Waiting | Tracked::Requeued => {}
            }
        }
        for tx in chain_txs::with_status(self.db(), ClaimStatus::Mined.as_str()).await? {
            let block = u64::try_from(tx.mined_block.unwrap_or_default()).unwrap_or_default();
            if head + 1 < block + settlement.confirmations {
                continue;
            }
            // Final only if its receipt is still where it was: a reorg may
            // have dropped the block, or moved the transaction to another.
            if self.still_mined_in(settlement, &tx, block).await? {
                // Told once: only the pass that confirmed it.
                if chain_txs::mark_confirmed(self.db(), &tx.id, clock::unix_secs()).await? {
                    self.tell_claimant(&tx).await;
                }
                pass.confirmed += 1;
            } else {
                tracing::warn!(tx = %tx.id, kind = %tx.kind, block, "a mined transaction left its block (reorg); sending it again");
                chain_txs::back_to_sent(self.db(), &tx.id, clock::unix_secs()).await?;
                pass.reorged += 1;
            }
        }
        Ok(pass)
    }

    /// Returns false when the transaction failed its simulation (no nonce used).
    async fn send_queued(
        &self,
        settlement: &Settlement,
        tx: &TxRecord,
    ) -> Result<bool, SettlementError> {
        let (to, calldata) = call_of(tx)?;
        let sender = &settlement.sender;
        // Simulated only before the nonce is given: afterwards the nonce must
        // be used, even by a transaction that will now revert.
        let gas = match tx.nonce {
            Some(_) => tx.gas_limit.map(|g| g as u64),
            None => match sender.estimate_gas(to, &calldata).await {
                Ok(gas) => Some(gas),
                Err(ChainError::Reverted(reason)) => {
                    tracing::warn!(tx = %tx.id, kind = %tx.kind, %reason, "transaction would revert; not sent");
                    chain_txs::mark_failed(self.db(), &tx.id, &reason, clock::unix_secs()).await?;
                    return Ok(false);
                }
                Err(err) => return Err(err.into()),
            },
        };
        // 20% headroom: state can change between simulation and inclusion;
        // a relayed claim never past its cap, whatever changed.
        let mut gas_limit = gas.map_or(500_000, |g| g + g / 5);
        if tx.kind == TxKind::Claim.as_str() {
            gas_limit = gas_limit.min(super::claims::RELAYED_CLAIM_GAS_CAP);
        }
        let nonce = match tx.nonce {
            Some(nonce) => nonce,
            None => {
                let floor = i64::try_from(sender.pending_nonce().await?).unwrap_or(i64::MAX);
                chain_txs::assign_nonce(self.db(), &tx.id, floor, clock::unix_secs(), self.fence())
                    .await?
            }
        };
        let fees = sender.current_fees().await?;
        self.send_signed(settlement, tx, nonce, gas_limit, fees)
            .await?;
        Ok(true)
    }

    async fn track_sent(
        &self,
        settlement: &Settlement,
        tx: &TxRecord,
    ) -> Result<Tracked, SettlementError> {
        let sender = &settlement.sender;
        // Read before the receipts: if the nonce is used by then and none of
        // our signatures has a receipt, something else used it.
        let mined_nonce = sender.mined_nonce().await?;
        // Any of the signatures may be the one mined; the newest is likeliest.
        for hash in tx.hashes().iter().rev() {
            let parsed = TxHash::from_str(hash)
                .map_err(|_| SettlementError::Corrupt(format!("tx hash {hash}")))?;
            if let Inclusion::Mined { block, succeeded } = sender.inclusion(parsed).await? {
                if !succeeded {
                    tracing::error!(tx = %tx.id, kind = %tx.kind, %hash, "transaction reverted on chain");
                }
                let block = i64::try_from(block).unwrap_or(i64::MAX);
                chain_txs::mark_mined(
                    self.db(),
                    &tx.id,
                    hash,
                    block,
                    succeeded,
                    clock::unix_secs(),
                )
                .await?;
                return Ok(Tracked::Mined);
            }
        }
        let nonce = tx
            .nonce
            .ok_or_else(|| SettlementError::Corrupt(format!("sent tx {} has no nonce", tx.id)))?;
        if u64::try_from(nonce).is_ok_and(|n| n < mined_nonce) {
            let requeued = chain_txs::requeue(
                self.db(),
                &tx.id,
                clock::unix_secs(),
                tx.sends,
                self.fence(),
            )
            .await?;
            if !requeued {
                // Sent again meanwhile (another holder): that copy may be
                // the one mined; the next pass looks at its receipt.
                return Ok(Tracked::Waiting);
            }
            tracing::warn!(tx = %tx.id, nonce, "nonce used by another transaction of this key; queueing again");
            return Ok(Tracked::Requeued);
        }
        let due = match tx.last_sent_at {
            // Its block was lost (`back_to_sent`): the chain holds no copy.
            None => true,
            Some(at) => clock::unix_secs() - at >= settlement.bump_after.as_secs() as i64,
        };
        if !due {
            return Ok(Tracked::Waiting);
        }
        let previous = Fees {
            max_fee_per_gas: parse_wei(tx.max_fee_per_gas.as_deref())?,
            max_priority_fee_per_gas: parse_wei(tx.priority_fee.as_deref())?,
        };
        let fees = previous.bumped().max(sender.current_fees().await?);
        let gas_limit = tx.gas_limit.unwrap_or(500_000) as u64;
        tracing::info!(tx = %tx.id, nonce, max_fee = fees.max_fee_per_gas, "re-sending a stuck transaction with higher fees");
        self.send_signed(settlement, tx, nonce, gas_limit, fees)
            .await?;
        Ok(Tracked::Bumped)
    }

    /// A confirmed claim's account (named in its key, `claim:{account}:…`)
    /// is told its tokens arrived.
    async fn tell_claimant(&self, tx: &TxRecord) {
        let Some(account_id) = (tx.kind == TxKind::Claim.as_str())
            .then(|| tx.idempotency_key.strip_prefix("claim:"))
            .flatten()
            .and_then(|rest| rest.split(':').next())
        else {
            return;
        };
        let (title, body) = if tx.succeeded == Some(false) {
            (
                "Claim refused on chain",
                "Your claim was mined but the chain refused it; the rewards page shows what is claimable.",
            )
        } else {
            (
                "Claim confirmed",
                "Your claimed tokens reached your wallet on chain.",
            )
        };
        let notice = Notice::new(NotificationKind::ClaimConfirmed, title, body).linking("/rewards");
        self.notifications().notify(account_id, notice).await;
    }

    async fn still_mined_in(
        &self,
        settlement: &Settlement,
        tx: &TxRecord,
        block: u64,
    ) -> Result<bool, SettlementError> {
        let hash = tx
            .mined_hash
            .as_deref()
            .ok_or_else(|| SettlementError::Corrupt(format!("mined tx {} has no hash", tx.id)))?;
        let hash = TxHash::from_str(hash)
            .map_err(|_| SettlementError::Corrupt(format!("tx hash {hash}")))?;
        Ok(matches!(
            settlement.sender.inclusion(hash).await?,
            Inclusion::Mined { block: now_in, .. } if now_in == block
        ))
    }

    async fn send_signed(
        &self,
        settlement: &Settlement,
        tx: &TxRecord,
        nonce: i64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<(), SettlementError> {
        let (to, calldata) = call_of(tx)?;
        let nonce =
            u64::try_from(nonce).map_err(|_| SettlementError::Corrupt(format!("nonce {nonce}")))?;
        let signed = settlement
            .sender
            .sign(to, &calldata, nonce, gas_limit, fees)
            .await?;
        let hash = signed.hash;
        // Recorded before it is broadcast: after a crash the hash is known
        // and the transaction is tracked (or re-sent) rather than forgotten.
        chain_txs::record_send(
            self.db(),
            Sent {
                id: &tx.id,
                hash: &hash.to_string(),
                max_fee_per_gas: &fees.max_fee_per_gas.to_string(),
                priority_fee: &fees.max_priority_fee_per_gas.to_string(),
                gas_limit: i64::try_from(gas_limit).unwrap_or(i64::MAX),
                now: clock::unix_secs(),
            },
            self.fence(),
        )
        .await?;
        settlement.sender.broadcast(&signed).await?;
        tracing::info!(tx = %tx.id, kind = %tx.kind, nonce, %hash, "transaction sent");
        Ok(())
    }
}

enum Tracked {
    Waiting,
    Bumped,
    Mined,
    Requeued,
}

fn call_of(tx: &TxRecord) -> Result<(Address, Bytes), SettlementError> {
    let to = Address::from_str(&tx.to_address)
        .map_err(|_| SettlementError::Corrupt(format!("address {}", tx.to_address)))?;
    let calldata = Bytes::from_str(&tx.calldata)
        .map_err(|_| SettlementError::Corrupt(format!("calldata of {}", tx.id)))?;
    Ok((to, calldata))
}

fn parse_wei(text: Option<&str>) -> Result<u128, SettlementError> {
    text.unwrap_or("0")
        .parse()
        .map_err(|_| SettlementError::Corrupt(format!("fee {text:?}")))
}

//! What the API and pages show of rounds and of a member's rewards.

use super::Rounds;
use meritree_core::accounts::AccountId;
use std::str::FromStr;

use meritree_core::eth::{to_checksum, Address};
use meritree_core::points::page_size;
use meritree_core::rounds::{
    PublicRound, RewardsClaim, RewardsView, RoundExport, RoundExportLeaf, RoundLeafView,
    RoundStatus, RoundView, RoundsPage, SettledPoints,
};
use meritree_store::rounds::{self as store, LeafRecord, RoundRecord};
use meritree_store::{accounts, points};

use super::RoundsError;

/// Settlements a rewards view lists, newest first.
const SETTLEMENTS_SHOWN: u32 = 100;

impl Rounds<'_> {
    /// A page of rounds, newest first: `limit` clamped to 1..=100 (20 when
    /// absent), numbered below `before` when given.
    /// The newest `limit` rounds with the hash of each one's `setRoot`
    /// transaction: the public record.
    pub async fn list_public(&self, limit: u32) -> Result<Vec<PublicRound>, RoundsError> {
        let page = self.list(Some(limit), None).await?;
        let mut rounds = Vec::with_capacity(page.rounds.len());
        for round in page.rounds {
            let publish_tx_hash = match &round.publish_tx {
                Some(id) => self.chain().transaction_hash(id).await?,
                None => None,
            };
            rounds.push(PublicRound {
                round,
                publish_tx_hash,
            });
        }
        Ok(rounds)
    }

    pub async fn list(
        &self,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<RoundsPage, RoundsError> {
        let limit = page_size(limit);
        // One extra row tells whether another page follows.
        let mut records = store::list(self.db(), limit + 1, before).await?;
        let more = records.len() > limit as usize;
        records.truncate(limit as usize);
        let rounds = records
            .into_iter()
            .map(round_view)
            .collect::<Result<Vec<_>, _>>()?;
        let next_before = if more {
            rounds.last().map(|r| r.number)
        } else {
            None
        };
        Ok(RoundsPage {
            rounds,
            next_before,
        })
    }

    pub async fn round(&self, number: i64) -> Result<RoundView, RoundsError> {
        store::get(self.db(), number)
            .await?
            .map(round_view)
            .transpose()?
            .ok_or(RoundsError::NoSuchRound(number))
    }

    /// The public export of a round with a tree: its root and every
    /// wallet's cumulative amount and proof.
    pub async fn export(&self, number: i64) -> Result<RoundExport, RoundsError> {
        let round = self.round(number).await?;
        let Some(root) = round.root.filter(|_| round.status.has_tree()) else {
            return Err(RoundsError::NoTree(number));
        };
        let leaves = store::leaves(self.db(), number)
            .await?
            .into_iter()
            .map(|leaf| {
                let view = leaf_view(leaf)?;
                Ok(RoundExportLeaf {
                    address: view.wallet,
                    amount: view.amount,
                    proof: view.proof,
                })
            })
            .collect::<Result<Vec<_>, RoundsError>>()?;
        Ok(RoundExport {
            round: number,
            root,
            leaves,
        })
    }

    /// The account's unsettled points, what it settled in each round, and
    /// what its bound wallet can claim after the newest round with a tree.
    pub async fn rewards_of(&self, account_id: &AccountId) -> Result<RewardsView, RoundsError> {
        let account = accounts::find_by_id(self.db(), account_id)
            .await?
            .ok_or(RoundsError::NoSuchAccount)?;
        let points_balance = points::balance(self.db(), account_id).await?;
        let settlements = store::settlements_of(self.db(), account_id, SETTLEMENTS_SHOWN)
            .await?
            .into_iter()
            .map(|s| {
                Ok(SettledPoints {
                    round: s.round,
                    wallet: checksummed(&s.wallet)?,
                    points: s.points,
                })
            })
            .collect::<Result<Vec<_>, RoundsError>>()?;
        let claim = match &account.wallet_address {
            Some(wallet) => match store::latest_leaf(self.db(), wallet).await? {
                Some(leaf) => {
                    let round = self.round(leaf.round).await?;
                    let root = round.root.ok_or_else(|| {
                        RoundsError::Corrupt(format!("round {} has leaves but no root", leaf.round))
                    })?;
                    Some(RewardsClaim {
                        round: round.number,
                        status: round.status,
                        root,
                        leaf: leaf_view(leaf)?,
                    })
                }
                None => None,
            },
            None => None,
        };
        Ok(RewardsView {
            points_balance,
            wallet: account
                .wallet_address
                .as_deref()
                .map(checksummed)
                .transpose()?,
            settlements,
            claim,
        })
    }
}

fn round_view(record: RoundRecord) -> Result<RoundView, RoundsError> {
    let status = RoundStatus::parse(&record.status).ok_or_else(|| {
        RoundsError::Corrupt(format!(
            "round {} has status {:?}",
            record.number, record.status
        ))
    })?;
    Ok(RoundView {
        number: record.number,
        starts_at: record.starts_at,
        ends_at: record.ends_at,
        status,
        root: record.root,
        leaf_count: record.leaf_count,
        total_amount: record.total_amount,
        closed_at: record.closed_at,
        publish_tx: record.publish_tx,
        published_at: record.published_at,
        confirmed_at: record.confirmed_at,
    })
}

fn leaf_view(leaf: LeafRecord) -> Result<RoundLeafView, RoundsError> {
    let proof: Vec<String> = serde_json::from_str(&leaf.proof).map_err(|_| {
        RoundsError::Corrupt(format!("proof of {} in round {}", leaf.wallet, leaf.round))
    })?;
    Ok(RoundLeafView {
        wallet: checksummed(&leaf.wallet)?,
        amount: leaf.amount,
        proof,
    })
}

fn checksummed(wallet: &str) -> Result<String, RoundsError> {
    Address::from_str(wallet)
        .map(|address| to_checksum(&address))
        .map_err(|_| RoundsError::Corrupt(format!("stored wallet {wallet:?}")))
}

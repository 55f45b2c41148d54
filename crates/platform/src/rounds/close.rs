//! Opening and closing rounds. Every step is idempotent and guarded in the
//! database, so a tick that stops half-way (a crash, a lost connection) or
//! runs on two instances at once converges on the same rounds: settlements
//! are once per (round, account), the tree is derived from them, and a
//! round leaves `open` once.

use super::Rounds;
use std::collections::HashMap;
use std::str::FromStr;

use meritree_core::eth::{Address, B256, U256};
use meritree_core::merkle::MerkleTree;
use meritree_core::rounds::RoundSchedule;
use meritree_store::rounds::{
    self as store, Closed, ClosingRound, NewLeaf, Opened, RoundRecord, Settled,
};

use super::RoundsError;

/// Passes of open-then-close per tick. Two suffice (close the due round,
/// open the next, which ends after now); the rest absorb other instances
/// closing and opening in between.
const MAX_PASSES: usize = 8;
/// Times one round's tree is rebuilt because settlements landed meanwhile.
const MAX_CLOSE_ATTEMPTS: usize = 3;

/// What one [`Platform::tick_rounds`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Rounds this call opened.
    pub opened: Vec<i64>,
    /// Rounds this call moved to `closing`.
    pub closed: Vec<i64>,
    /// Accounts this call settled.
    pub settled: usize,
}

impl Rounds<'_> {
    /// Makes sure a round is open and closes every round due at `now`, in
    /// order: settles each bound account's balance, builds the tree over
    /// every wallet's cumulative total, stores it and marks the round
    /// `closing`. Safe to call at any time, from any number of instances.
    #[tracing::instrument(skip_all)]
    pub async fn tick(&self, now: i64) -> Result<TickReport, RoundsError> {
        let schedule = RoundSchedule::new(self.inner.rewards.round_secs)
            .map_err(RoundsError::InvalidPolicy)?;
        let mut report = TickReport::default();
        for _ in 0..MAX_PASSES {
            let round = self.ensure_open_round(schedule, now, &mut report).await?;
            if !RoundSchedule::is_due(round.ends_at, now) {
                break;
            }
            self.close_round(&round, now, &mut report).await?;
        }
        Ok(report)
    }

    async fn ensure_open_round(
        &self,
        schedule: RoundSchedule,
        now: i64,
        report: &mut TickReport,
    ) -> Result<RoundRecord, RoundsError> {
        for _ in 0..MAX_PASSES {
            if let Some(round) = store::current(self.db()).await? {
                return Ok(round);
            }
            let latest = store::latest(self.db()).await?;
            let (starts_at, ends_at) = schedule.next(latest.as_ref().map(|r| r.ends_at), now);
            let number = latest.map_or(1, |r| r.number + 1);
            match store::open(self.db(), number, starts_at, ends_at).await? {
                Opened::Created(round) => {
                    tracing::info!(round = number, starts_at, ends_at, "round opened");
                    report.opened.push(number);
                    return Ok(round);
                }
                Opened::Existing(round) => return Ok(round),
                Opened::NumberTaken => continue,
            }
        }
        Err(RoundsError::Contention("opening a round".into()))
    }

    async fn close_round(
        &self,
        round: &RoundRecord,
        now: i64,
        report: &mut TickReport,
    ) -> Result<(), RoundsError> {
        let number = round.number;
        for _ in 0..MAX_CLOSE_ATTEMPTS {
            if !self.settle_all(number, now, report).await? {
                return Ok(());
            }
            // Counted before the totals are read: a settlement landing in
            // between makes the count too small, and `close` then refuses.
            let settlements = store::settlement_count(self.db(), number).await?;
            let tree = self.build_tree(number).await?;
            let leaves: Vec<NewLeaf<'_>> = tree
                .leaves
                .iter()
                .map(|(wallet, amount, proof)| NewLeaf {
                    wallet,
                    amount,
                    proof,
                })
                .collect();
            let closed = store::close(
                self.db(),
                ClosingRound {
                    number,
                    root: &tree.root,
                    total_amount: &tree.total,
                    leaves: &leaves,
                    settlements,
                    now,
                },
            )
            .await?;
            match closed {
                Closed::Closed => {
                    tracing::info!(
                        round = number,
                        root = %tree.root,
                        leaves = leaves.len(),
                        total = %tree.total,
                        "round closed"
                    );
                    report.closed.push(number);
                    return Ok(());
                }
                // Another instance (or this one before a restart) closed it.
                Closed::NotOpen { .. } => return Ok(()),
                Closed::NoSuchRound => {
                    return Err(RoundsError::Corrupt(format!("round {number} vanished")))
                }
                Closed::SettlementsChanged { .. } => continue,
            }
        }
        Err(RoundsError::Contention(format!("closing round {number}")))
    }

    /// Settles every account due in `round`. False when the round is no
    /// longer open (another instance closed it).
    async fn settle_all(
        &self,
        round: i64,
        now: i64,
        report: &mut TickReport,
    ) -> Result<bool, RoundsError> {
        for (account, wallet) in store::accounts_to_settle(self.db()).await? {
            match store::settle_account(self.db(), round, &account, &wallet, now).await? {
                Settled::Created { settlement, .. } => {
                    tracing::info!(round, %account, %wallet, points = settlement.points, "points settled");
                    report.settled += 1;
                }
                Settled::RoundNotOpen => return Ok(false),
                // Settled before a restart, emptied, rebound or deleted
                // since the list was read: the next round takes it.
                Settled::Replayed(_)
                | Settled::NothingToSettle
                | Settled::WalletChanged { .. }
                | Settled::NoSuchAccount => {}
                Settled::Refused(posted) => {
                    tracing::error!(
                        round, %account, ?posted,
                        "the ledger refused a settlement (its idempotency key is taken); the account is skipped"
                    );
                }
            }
        }
        Ok(true)
    }

    /// The tree over every wallet's cumulative amount after `round`,
    /// checked against the previous round's.
    async fn build_tree(&self, round: i64) -> Result<Tree, RoundsError> {
        let units = self.inner.rewards.token_units_per_point;
        let mut entries = Vec::new();
        for (wallet, points) in store::cumulative_points(self.db(), round).await? {
            let address = Address::from_str(&wallet)
                .map_err(|_| RoundsError::Corrupt(format!("settled wallet {wallet:?}")))?;
            let points = u64::try_from(points).map_err(|_| {
                RoundsError::Corrupt(format!("{wallet} has {points} settled points"))
            })?;
            let amount = U256::from(points)
                .checked_mul(units)
                .ok_or(RoundsError::AmountOverflow { wallet })?;
            entries.push((address, amount));
        }
        self.check_not_decreasing(round, &entries).await?;

        let mut total = U256::ZERO;
        for (address, amount) in &entries {
            total = total
                .checked_add(*amount)
                .ok_or_else(|| RoundsError::AmountOverflow {
                    wallet: format!("{address:#x}"),
                })?;
        }
        // An empty round still gets a root, so no round number is skipped
        // on chain; the zero root proves no claim.
        let (root, proofs) = if entries.is_empty() {
            (B256::ZERO, Vec::new())
        } else {
            let tree = MerkleTree::build(&entries)
                .map_err(|e| RoundsError::Corrupt(format!("round {round}'s tree: {e}")))?;
            let proofs = (0..entries.len()).map(|i| tree.proof(i)).collect();
            (tree.root(), proofs)
        };
        let leaves = entries
            .iter()
            .zip(proofs)
            .map(|((address, amount), proof)| {
                let proof = serde_json::to_string(&proof).expect("hashes serialise");
                (format!("{address:#x}"), amount.to_string(), proof)
            })
            .collect();
        Ok(Tree {
            root: format!("{root:#x}"),
            total: total.to_string(),
            leaves,
        })
    }

    /// Refuses a tree in which any wallet's amount is below its amount in
    /// the previous round's tree: a claim against the older root would then
    /// pay more than the newer root allows, and the contract would refuse
    /// the wallet's later claims.
    async fn check_not_decreasing(
        &self,
        round: i64,
        entries: &[(Address, U256)],
    ) -> Result<(), RoundsError> {
        if round <= 1 {
            return Ok(());
        }
        let next: HashMap<Address, U256> = entries.iter().copied().collect();
        for leaf in store::leaves(self.db(), round - 1).await? {
            let corrupt =
                || RoundsError::Corrupt(format!("round {} leaf {}", leaf.round, leaf.wallet));
            let address = Address::from_str(&leaf.wallet).map_err(|_| corrupt())?;
            let previous = U256::from_str(&leaf.amount).map_err(|_| corrupt())?;
            let now = next.get(&address).copied().unwrap_or(U256::ZERO);
            if now < previous {
                let err = RoundsError::CumulativeDecrease {
                    round,
                    wallet: leaf.wallet.clone(),
                    previous: previous.to_string(),
                    next: now.to_string(),
                };
                tracing::error!(error = %err, "REFUSING TO CLOSE ROUND: a cumulative amount would decrease");
                return Err(err);
            }
        }
        Ok(())
    }
}

struct Tree {
    root: String,
    total: String,
    /// `(wallet, amount, proof as JSON)`, by wallet.
    leaves: Vec<(String, String, String)>,
}

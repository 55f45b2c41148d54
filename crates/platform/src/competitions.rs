//! Rounds as competitions: each round's theme, its entries and leaderboard,
//! and sharing its pool once it closes.
//!
//! A pool is paid when its round has ended and every entry of it finished
//! evaluating, or at the payout deadline; entries that finish later join
//! the next pool paid. Payouts are ledger credits posted after the round
//! closed, so they settle (and become claimable) with the next round's
//! Merkle root.

use meritree_core::live::{Audience, LiveEvent};
use meritree_core::submissions::leaderboard;
use meritree_core::submissions::payout::{payouts, PayoutEntry};
use meritree_core::submissions::{CompetitionView, EntryView, Title};
use meritree_store::competitions::{self as store, PoolPaid, PoolPayout};
use meritree_store::StoreError;

use crate::clock;
use crate::notifications::Notice;
use crate::submissions::{entry_view, SubmissionError, PAGE};
use meritree_core::notifications::NotificationKind;

service!(
    /// Rounds as competitions: themes, standings and pools.
    Competitions,
    competitions
);

/// How long leaderboard changes gather before one announcement.
const BOARD_GATHERING: std::time::Duration = std::time::Duration::from_millis(250);

/// What this instance last announced of the newest rounds, so that
/// announcements carry changes.
#[derive(Debug, Default)]
pub struct Announced {
    rounds: std::collections::BTreeMap<i64, LastAnnounced>,
}

#[derive(Debug, Default)]
struct LastAnnounced {
    standing: Option<LiveEvent>,
    board: Vec<EntryView>,
}

/// Rounds whose announcements are remembered; an older round announced
/// again starts from an empty board (its first change is the whole board).
const ROUNDS_REMEMBERED: usize = 4;

impl Announced {
    fn of(&mut self, round: i64) -> &mut LastAnnounced {
        if !self.rounds.contains_key(&round) && self.rounds.len() == ROUNDS_REMEMBERED {
            self.rounds.pop_first();
        }
        self.rounds.entry(round).or_default()
    }
}

/// A pool this call shared out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidPool {
    pub round: i64,
    pub entries: usize,
    pub credited: i64,
}

impl Competitions<'_> {
    /// The round's theme: an admin's, or the configured default.
    pub async fn theme(&self, round: i64) -> Result<String, StoreError> {
        Ok(store::get(self.db(), round)
            .await?
            .and_then(|c| c.theme)
            .unwrap_or_else(|| self.work_policy().default_theme.clone()))
    }

    /// Sets a round's theme ahead of time (or while it runs, before it pays).
    pub async fn set_theme(
        &self,
        admin: &meritree_core::accounts::AccountId,
        round: i64,
        theme: &str,
    ) -> Result<(), SubmissionError> {
        let theme = Title::parse(theme).map_err(SubmissionError::Invalid)?;
        if round < 1 {
            return Err(SubmissionError::InvalidRequest(
                "rounds are numbered from 1",
            ));
        }
        if !store::set_theme(self.db(), round, theme.as_str()).await? {
            return Err(SubmissionError::InvalidRequest(
                "that round's pool is already paid",
            ));
        }
        self.audit()
            .record(
                admin.as_str(),
                meritree_core::audit::AuditAction::RoundThemeSet,
                &format!("round:{round}"),
                None,
                Some(serde_json::json!({ "theme": theme.as_str() })),
            )
            .await?;
        Ok(())
    }

    /// A round's page: theme, pool, times and entries.
    pub async fn view(&self, round: i64) -> Result<CompetitionView, SubmissionError> {
        let record = meritree_store::rounds::get(self.db(), round)
            .await?
            .ok_or(SubmissionError::NotFound)?;
        let competition = store::get(self.db(), round).await?;
        let policy = self.work_policy();
        let entries = meritree_store::submissions::in_round(self.db(), round, PAGE)
            .await?
            .into_iter()
            .map(entry_view)
            .collect();
        let paid = competition.as_ref().and_then(|c| c.paid_at);
        Ok(CompetitionView {
            round,
            theme: self.theme(round).await?,
            pool: competition
                .as_ref()
                .and_then(|c| c.pool)
                .and_then(|p| u64::try_from(p).ok())
                .unwrap_or(policy.pool),
            rule: competition
                .as_ref()
                .and_then(|c| c.rule.as_deref())
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(policy.rule),
            starts_at: record.starts_at,
            ends_at: record.ends_at,
            paid_at: paid,
            entries,
        })
    }

    /// A round's scored entries, best first in the order pages keep
    /// ([`leaderboard::rank`]; the database's collation may break ties
    /// differently).
    pub async fn leaderboard(&self, round: i64) -> Result<Vec<EntryView>, SubmissionError> {
        meritree_store::rounds::get(self.db(), round)
            .await?
            .ok_or(SubmissionError::NotFound)?;
        let mut board: Vec<EntryView> =
            meritree_store::submissions::leaderboard(self.db(), round, PAGE)
                .await?
                .into_iter()
                .map(entry_view)
                .collect();
        leaderboard::sort(&mut board);
        Ok(board)
    }

    /// Pays every pool that is due at `now`; safe on any number of
    /// instances at once (each pool is paid in one transaction, once).
    #[tracing::instrument(skip_all)]
    pub async fn pay_due(&self, now: i64) -> Result<Vec<PaidPool>, StoreError> {
        let policy = self.work_policy().clone();
        let mut paid = Vec::new();
        for round in store::payable(self.db(), now, policy.payout_deadline_secs).await? {
            let rule = serde_json::to_string(&policy.rule).expect("rules serialise");
            let outcome = store::pay(
                self.db(),
                PoolPayout {
                    round,
                    pool: i64::try_from(policy.pool).unwrap_or(i64::MAX),
                    rule: &rule,
                    now,
                },
                |entries| {
                    let entries: Vec<PayoutEntry> = entries
                        .iter()
                        .map(|e| PayoutEntry {
                            id: e.id.clone(),
                            account: e.account_id.clone(),
                            score: u32::try_from(e.score.clamp(0, 100)).unwrap_or(0),
                            payout_percent: u32::try_from(e.payout_percent.clamp(0, 100))
                                .unwrap_or(0),
                            created_at: e.created_at,
                        })
                        .collect();
                    payouts(policy.pool, policy.rule, &entries)
                },
                |credit| round_notice(round, credit).composed_for(&credit.account_id),
            )
            .await?;
            let PoolPaid::Paid {
                entries,
                credits,
                notices,
            } = outcome
            else {
                continue;
            };
            let credited = credits.iter().map(|c| c.points).sum();
            tracing::info!(round, entries, credited, "round pool paid");
            let mut events: Vec<_> = credits
                .iter()
                .map(|credit| {
                    (
                        Audience::Account(credit.account_id.clone()),
                        LiveEvent::PointsCredited {
                            amount: credit.points,
                            balance: credit.balance_after,
                            reference: Some(format!("submission:{}", credit.submission_id)),
                        },
                    )
                })
                .collect();
            events.extend(self.notifications().deliver_kept(notices));
            self.hub().publish_paced(events);
            if entries > 0 {
                self.announce_leaderboard(round).await;
            }
            paid.push(PaidPool {
                round,
                entries,
                credited,
            });
        }
        Ok(paid)
    }

    /// Announces the round's leaderboard shortly, once for every change
    /// made until then: while work is scored many times a second, pages
    /// get a few boards a second, not one query and one event per score.
    /// Each change is followed by an announcement read after it.
    pub fn announce_leaderboard_soon(&self, round: i64) {
        let due = &self.pipeline().boards_due;
        if !due.lock().expect("not poisoned").insert(round) {
            return; // An announcement is already on its way.
        }
        let platform = self.0.clone();
        tokio::spawn(async move {
            tokio::time::sleep(BOARD_GATHERING).await;
            // Taken off first: a change from now on schedules another.
            platform
                .pipeline()
                .boards_due
                .lock()
                .expect("not poisoned")
                .remove(&round);
            platform.competitions().announce_leaderboard(round).await;
        });
    }

    /// Sends the round's standing and what changed on its leaderboard to
    /// every page, each only when it differs from what this instance
    /// announced last.
    pub async fn announce_leaderboard(&self, round: i64) {
        // Held from the read to the publication, so announcements leave in
        // the order their boards were read and each diff starts from the
        // board before it.
        let mut announced = self.pipeline().announced.lock().await;
        let (Ok(view), Ok(top), Ok(entries)) = (
            self.view(round).await,
            self.leaderboard(round).await,
            meritree_store::submissions::count_in_round(self.db(), round).await,
        ) else {
            return;
        };
        let standing = LiveEvent::Round {
            round,
            entries: u32::try_from(entries).unwrap_or(u32::MAX),
            ends_at: view.ends_at,
            paid: view.paid_at.is_some(),
        };
        let last = announced.of(round);
        if last.standing.as_ref() != Some(&standing) {
            self.hub().publish(Audience::Everyone, standing.clone());
            last.standing = Some(standing);
        }
        let change = leaderboard::diff(&last.board, &top);
        if !change.is_empty() {
            let digest = leaderboard::digest(&top);
            self.hub().publish(
                Audience::Everyone,
                LiveEvent::Leaderboard {
                    round,
                    change,
                    digest,
                },
            );
            last.board = top;
        }
    }

    /// The open round's number, for pages that show "this round".
    pub async fn current_round(&self) -> Result<Option<i64>, StoreError> {
        let now = clock::unix_secs();
        Ok(meritree_store::rounds::current(self.db())
            .await?
            .filter(|r| r.ends_at > now)
            .map(|r| r.number))
    }
}

/// What a member paid by a round's pool is told.
fn round_notice(round: i64, credit: &store::Credit) -> Notice {
    Notice::new(
        NotificationKind::RoundResult,
        format!("Round {round} paid your work"),
        format!(
            "Your work earned {} points in round {round}; your balance is {}.",
            credit.points, credit.balance_after
        ),
    )
    .linking(format!("/s/{}", credit.submission_id))
}

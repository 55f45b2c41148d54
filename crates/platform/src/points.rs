//! The points ledger's services: posting entries (rewards, adjustments,
//! settlements) and reading an account's balance and history.

use meritree_core::accounts::AccountId;
use meritree_core::audit::AuditAction;
use meritree_core::points::{
    self, AmountError, IdempotencyKey, PointsBalance, PointsEntryView, PointsHistory,
    PointsOverview, PointsReason, PointsReference,
};
use meritree_core::ErrorCode;
use meritree_store::points::{self as store, EntryRecord, NewEntry, Posted};
use meritree_store::{accounts, StoreError};

use crate::clock;
use crate::error::{store_error_code, PublicError};
use crate::group_commit::{GroupCommit, Sink};
use crate::notifications::Notice;
use meritree_core::notifications::NotificationKind;

service!(
    /// The points ledger: postings and what an account holds.
    Points,
    points
);

/// A request to move points. The idempotency key makes it safe to retry:
/// posting the same key again for the same account returns the first entry.
#[derive(Debug, Clone, Copy)]
pub struct PointsPosting<'a> {
    pub account_id: &'a str,
    /// Positive credits, negative debits (only for reasons that allow them).
    pub amount: i64,
    pub reason: PointsReason,
    pub reference: Option<&'a str>,
    pub idempotency_key: &'a str,
}

/// A posted entry, and whether this call wrote it or an earlier one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedPoints {
    pub entry: PointsEntryView,
    pub replayed: bool,
}

/// Why a points operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    #[error("{0}")]
    InvalidAmount(AmountError),
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("the balance is {balance} points; it cannot go below zero")]
    InsufficientPoints { balance: i64 },
    #[error("this would take the balance past the largest number of points an account can hold")]
    BalanceOverflow,
    #[error("idempotency key {key:?} was already used for a different posting (entry {entry_id})")]
    IdempotencyConflict { key: String, entry_id: i64 },
    #[error("no such account")]
    NoSuchAccount,
    /// The database holds a reason this build does not know.
    #[error("ledger entry {id} has an unknown reason {reason:?}")]
    UnknownStoredReason { id: i64, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PublicError for PointsError {
    fn code(&self) -> ErrorCode {
        match self {
            PointsError::InvalidAmount(_) | PointsError::BalanceOverflow => {
                ErrorCode::InvalidAmount
            }
            PointsError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            PointsError::InsufficientPoints { .. } => ErrorCode::InsufficientPoints,
            PointsError::IdempotencyConflict { .. } => ErrorCode::IdempotencyConflict,
            PointsError::NoSuchAccount => ErrorCode::NotFound,
            PointsError::UnknownStoredReason { .. } => ErrorCode::Internal,
            PointsError::Store(err) => store_error_code(err),
        }
    }
}

/// A posting on its way to the ledger's writer: concurrent postings are
/// committed together (see [`crate::group_commit`]), each still checked
/// and answered on its own.
pub(crate) struct LedgerJob {
    account_id: String,
    amount: i64,
    reason: &'static str,
    reference: Option<String>,
    idempotency_key: String,
    now: i64,
}

impl LedgerJob {
    fn entry(&self) -> NewEntry<'_> {
        NewEntry {
            account_id: &self.account_id,
            amount: self.amount,
            reason: self.reason,
            reference: self.reference.as_deref(),
            idempotency_key: &self.idempotency_key,
            now: self.now,
        }
    }
}

pub(crate) struct LedgerSink(pub meritree_store::Database);

impl Sink for LedgerSink {
    type Job = LedgerJob;
    type Done = Posted;

    async fn batch(&self, jobs: &[LedgerJob]) -> Result<Vec<Posted>, StoreError> {
        let entries: Vec<NewEntry<'_>> = jobs.iter().map(LedgerJob::entry).collect();
        store::post_batch(&self.0, &entries).await
    }

    async fn one(&self, job: &LedgerJob) -> Result<Posted, StoreError> {
        store::post(&self.0, job.entry()).await
    }
}

pub(crate) type LedgerWriter = GroupCommit<LedgerSink>;

impl Points<'_> {
    /// A posting an admin (or the operator at the command line: `cli`)
    /// makes, not the platform's rules: [`Self::post`], then an audit entry
    /// naming `actor`, with the balance before and after. A replay of a
    /// posting whose entry is missing (the audit write failed) records it
    /// then; otherwise a replay adds none.
    pub async fn post_by_admin(
        &self,
        actor: &str,
        posting: PointsPosting<'_>,
    ) -> Result<PostedPoints, PointsError> {
        let posted = self.post(posting).await?;
        // Also on a replay: the first attempt may have posted and then
        // failed to record.
        let entry = &posted.entry;
        self.audit()
            .record_once(
                &format!("ledger:{}", entry.id),
                actor,
                AuditAction::PointsPosted,
                &entry.account_id,
                Some(serde_json::json!({ "balance": entry.balance_after - entry.amount })),
                Some(serde_json::json!({
                    "balance": entry.balance_after,
                    "entry": entry.id,
                    "amount": entry.amount,
                    "reason": entry.reason,
                    "reference": entry.reference,
                })),
            )
            .await?;
        if !posted.replayed {
            let (headline, change) = if entry.amount >= 0 {
                ("Points credited", "added")
            } else {
                ("Points removed", "removed")
            };
            let notice = Notice::new(
                NotificationKind::PointsCredited,
                headline,
                format!(
                    "An admin {change} {} points ({}); your balance is {}.",
                    entry.amount.unsigned_abs(),
                    entry.reason,
                    entry.balance_after
                ),
            )
            .linking("/rewards");
            self.notifications().notify(&entry.account_id, notice).await;
        }
        Ok(posted)
    }

    /// Posts one ledger entry: validated here, then written with its balance
    /// change in one transaction, at most once per (account, key).
    #[tracing::instrument(skip_all)]
    pub async fn post(&self, posting: PointsPosting<'_>) -> Result<PostedPoints, PointsError> {
        points::check_amount(posting.reason, posting.amount).map_err(PointsError::InvalidAmount)?;
        let key =
            IdempotencyKey::parse(posting.idempotency_key).map_err(PointsError::InvalidRequest)?;
        let reference = posting
            .reference
            .map(PointsReference::parse)
            .transpose()
            .map_err(PointsError::InvalidRequest)?;
        let outcome = self
            .ledger_writer()
            .write(LedgerJob {
                account_id: posting.account_id.to_owned(),
                amount: posting.amount,
                reason: posting.reason.as_str(),
                reference: reference.map(|r| r.as_str().to_owned()),
                idempotency_key: key.as_str().to_owned(),
                now: clock::unix_secs(),
            })
            .await?;
        match outcome {
            Posted::Created(entry) => {
                self.metrics().ledger_posting(&entry.reason);
                tracing::info!(
                    account = %entry.account_id,
                    entry = entry.id,
                    amount = entry.amount,
                    reason = %entry.reason,
                    balance = entry.balance_after,
                    "points posted"
                );
                Ok(PostedPoints {
                    entry: view(entry)?,
                    replayed: false,
                })
            }
            Posted::Replayed(entry) => Ok(PostedPoints {
                entry: view(entry)?,
                replayed: true,
            }),
            Posted::KeyConflict(entry) => Err(PointsError::IdempotencyConflict {
                key: entry.idempotency_key,
                entry_id: entry.id,
            }),
            Posted::InsufficientBalance { balance } => {
                Err(PointsError::InsufficientPoints { balance })
            }
            Posted::BalanceOverflow { .. } => Err(PointsError::BalanceOverflow),
            Posted::NoSuchAccount => Err(PointsError::NoSuchAccount),
        }
    }

    pub async fn balance(&self, account_id: &AccountId) -> Result<PointsBalance, PointsError> {
        Ok(PointsBalance {
            balance: store::balance(self.db(), account_id).await?,
        })
    }

    /// The balance and a page of the entries: what the account's points
    /// page shows.
    pub async fn overview(
        &self,
        account_id: &AccountId,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<PointsOverview, PointsError> {
        Ok(PointsOverview {
            balance: self.balance(account_id).await?.balance,
            history: self.history(account_id, limit, before).await?,
        })
    }

    /// A page of the account's entries, newest first: `limit` clamped to
    /// 1..=100 (20 when absent), older than the entry `before` when given.
    pub async fn history(
        &self,
        account_id: &AccountId,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<PointsHistory, PointsError> {
        let limit = points::page_size(limit);
        // One extra row tells whether another page follows.
        let mut records = store::history(self.db(), account_id, limit + 1, before).await?;
        let more = records.len() > limit as usize;
        records.truncate(limit as usize);
        let entries = records
            .into_iter()
            .map(view)
            .collect::<Result<Vec<_>, _>>()?;
        let next_before = if more {
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok(PointsHistory {
            entries,
            next_before,
        })
    }

    /// The id of the account named by `who`: an email address when it has
    /// an `@`, otherwise an account id. For operators' tools.
    pub async fn find_account_id(&self, who: &str) -> Result<String, PointsError> {
        let found = if who.contains('@') {
            let email = meritree_core::accounts::Email::parse(who)
                .map_err(|_| PointsError::NoSuchAccount)?;
            accounts::find_by_email(self.db(), email.as_str()).await?
        } else {
            accounts::find_by_id(self.db(), who).await?
        };
        found
            .map(|account| account.id)
            .ok_or(PointsError::NoSuchAccount)
    }
}

fn view(record: EntryRecord) -> Result<PointsEntryView, PointsError> {
    let reason = record
        .reason
        .parse()
        .map_err(|_| PointsError::UnknownStoredReason {
            id: record.id,
            reason: record.reason.clone(),
        })?;
    Ok(PointsEntryView {
        id: record.id,
        account_id: record.account_id,
        amount: record.amount,
        reason,
        reference: record.reference,
        idempotency_key: record.idempotency_key,
        balance_after: record.balance_after,
        created_at: record.created_at,
    })
}

#[cfg(test)]
mod tests {
    use crate::Platform;
    use meritree_store::accounts::NewAccount;
    use meritree_store::testing::TestDatabase;
    use meritree_store::{test_both_backends, Backend, Database, PoolOptions};

    use super::*;

    fn posting<'a>(account_id: &'a str, amount: i64, key: &'a str) -> PointsPosting<'a> {
        PointsPosting {
            account_id,
            amount,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: key,
        }
    }

    test_both_backends! {
        async fn points_services_validate_and_map_refusals(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            accounts::insert(&db, NewAccount {
                id: "ann-id",
                email: Some("ann@example.org"), email_skeleton: None,
                password_hash: None,
                wallet_address: None,
                telegram_id: None,
                role: "member",
                now: 1,
            }).await.unwrap();
            let platform = Platform::start(db, Default::default()).await.unwrap();
            assert_eq!(platform.points().find_account_id("Ann@Example.org").await.unwrap(), "ann-id");
            assert_eq!(platform.points().find_account_id("ann-id").await.unwrap(), "ann-id");
            assert!(matches!(platform.points().find_account_id("bob@example.org").await, Err(PointsError::NoSuchAccount)));

            let first = platform.points().post(PointsPosting {
                reference: Some("task:7"),
                ..posting("ann-id", 40, "task:7")
            }).await.unwrap();
            assert!(!first.replayed);
            assert_eq!(first.entry.reason, PointsReason::TaskReward);
            assert_eq!(first.entry.reference.as_deref(), Some("task:7"));
            let again = platform.points().post(PointsPosting {
                reference: Some("task:7"),
                ..posting("ann-id", 40, "task:7")
            }).await.unwrap();
            assert_eq!(again, PostedPoints { replayed: true, ..first.clone() });

            let refusals = [
                (posting("ann-id", 0, "k"), ErrorCode::InvalidAmount),
                (posting("ann-id", -1, "k"), ErrorCode::InvalidAmount),
                (posting("ann-id", 1, "has space"), ErrorCode::InvalidRequest),
                (PointsPosting { reference: Some(""), ..posting("ann-id", 1, "k") }, ErrorCode::InvalidRequest),
                (posting("ann-id", 41, "task:7"), ErrorCode::IdempotencyConflict),
                (PointsPosting { reason: PointsReason::AdminAdjustment, ..posting("ann-id", -41, "k") },
                    ErrorCode::InsufficientPoints),
                (posting("nobody", 1, "k"), ErrorCode::NotFound),
            ];
            for (posting, code) in refusals {
                let err = platform.points().post(posting).await.unwrap_err();
                assert_eq!(err.code(), code, "{posting:?}: {err}");
            }
            assert_eq!(platform.points().balance(&"ann-id".into()).await.unwrap().balance, 40);

            for i in 0..3 {
                platform.points().post(posting("ann-id", 1, &format!("more:{i}"))).await.unwrap();
            }
            let page = platform.points().history(&"ann-id".into(), Some(3), None).await.unwrap();
            assert_eq!(page.entries.len(), 3);
            assert_eq!(page.next_before, Some(page.entries[2].id));
            let last = platform.points().history(&"ann-id".into(), Some(3), page.next_before).await.unwrap();
            assert_eq!(last.entries, vec![first.entry]);
            assert_eq!(last.next_before, None);
        }
    }

    test_both_backends! {
        async fn concurrent_postings_are_committed_together_and_answered_each(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            for (id, email) in [("ann-id", "ann@example.org"), ("bob-id", "bob@example.org")] {
                accounts::insert(&db, NewAccount {
                    id, email: Some(email), email_skeleton: None, password_hash: None,
                    wallet_address: None, role: "member", now: 1,
                    telegram_id: None,
                }).await.unwrap();
            }
            let platform = Platform::start(db, Default::default()).await.unwrap();
            // 300 postings at once, to two accounts.
            let tasks: Vec<_> = (0..300)
                .map(|i| {
                    let platform = platform.clone();
                    tokio::spawn(async move {
                        let account = if i % 2 == 0 { "ann-id" } else { "bob-id" };
                        let key = format!("k{i}");
                        let amount = if i < 150 { 3 } else { 1 };
                        platform.points().post(posting(account, amount, &key)).await
                    })
                })
                .collect();
            let mut replays = 0;
            for task in tasks {
                let posted = task.await.unwrap().unwrap();
                replays += usize::from(posted.replayed);
            }
            assert_eq!(replays, 0);
            let ann = platform.points().balance(&"ann-id".to_owned().into()).await.unwrap();
            assert_eq!(ann.balance, 75 * 3 + 75);

            // The same key from many callers at once: one entry, the rest replays.
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let platform = platform.clone();
                    tokio::spawn(async move { platform.points().post(posting("bob-id", 7, "same")).await })
                })
                .collect();
            let mut created = 0;
            for task in tasks {
                created += usize::from(!task.await.unwrap().unwrap().replayed);
            }
            assert_eq!(created, 1);
            let bob = platform.points().balance(&"bob-id".to_owned().into()).await.unwrap();
            assert_eq!(bob.balance, 75 * 3 + 75 + 7);
        }
    }
}

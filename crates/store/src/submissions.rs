//! Submitted work: the one insert (with its evaluation job, once per
//! idempotency key, within the per-round limit), and the reads pages and
//! the pipeline need. Evaluation writes are in [`crate::evaluations`].

use crate::database::with_tx;
use crate::{with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubmissionRecord {
    pub id: String,
    pub account_id: String,
    /// The author's public handle, joined from the account.
    pub handle: Option<String>,
    pub round: i64,
    pub idempotency_key: String,
    pub title: String,
    pub body: String,
    pub body_html: String,
    pub fingerprint: String,
    pub client_ip: Option<String>,
    pub status: String,
    pub stage: Option<String>,
    pub score: Option<i64>,
    pub breakdown: Option<String>,
    pub reason: Option<String>,
    pub duplicate_of: Option<String>,
    pub similarity: Option<f64>,
    pub flags: String,
    pub payout_percent: i64,
    pub paid_round: Option<i64>,
    pub reward: Option<i64>,
    pub created_at: i64,
    pub evaluated_at: Option<i64>,
    /// Arrival order: a lower `seq` came first.
    pub seq: i64,
    /// The image it carries, if any.
    pub image_id: Option<String>,
}

pub(crate) const COLUMNS: &str = "s.id, s.account_id, a.handle, s.round, s.idempotency_key, \
    s.title, s.body, s.body_html, s.fingerprint, s.client_ip, s.status, s.stage, s.score, \
    s.breakdown, s.reason, s.duplicate_of, s.similarity, s.flags, s.payout_percent, \
    s.paid_round, s.reward, s.created_at, s.evaluated_at, s.seq, s.image_id";
pub(crate) const FROM: &str = "submissions s JOIN accounts a ON a.id = s.account_id";

pub struct NewSubmission<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub round: i64,
    pub idempotency_key: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub body_html: &'a str,
    pub fingerprint: &'a str,
    pub client_ip: Option<&'a str>,
    pub image_id: Option<&'a str>,
    /// The first stage to run.
    pub stage: &'a str,
    pub now: i64,
    /// Submissions one account may make per round; `None`: no limit.
    pub max_per_round: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    Created(SubmissionRecord),
    /// The key was used before by this account: its submission.
    Replayed(SubmissionRecord),
    LimitReached {
        limit: u32,
    },
}

/// Stores a submission and queues its evaluation job, in one transaction
/// that holds the account's row, so concurrent submissions of one account
/// cannot pass the limit or reuse a key.
pub async fn insert(db: &Database, new: NewSubmission<'_>) -> Result<Inserted, StoreError> {
    let mut tx = db.begin_write().await?;
    let lock = format!("SELECT id FROM accounts WHERE id = $1{}", tx.for_update());
    let find =
        format!("SELECT {COLUMNS} FROM {FROM} WHERE s.account_id = $1 AND s.idempotency_key = $2");
    let inserted = with_tx!(&mut tx, conn => {
        sqlx::query(&lock).bind(new.account_id).execute(&mut *conn).await?;
        let earlier: Option<SubmissionRecord> = sqlx::query_as(&find)
            .bind(new.account_id)
            .bind(new.idempotency_key)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(earlier) = earlier {
            return Ok(Inserted::Replayed(earlier));
        }
        if let Some(limit) = new.max_per_round {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM submissions WHERE account_id = $1 AND round = $2",
            )
            .bind(new.account_id)
            .bind(new.round)
            .fetch_one(&mut *conn)
            .await?;
            if count >= i64::from(limit) {
                return Ok(Inserted::LimitReached { limit });
            }
        }
        sqlx::query(
            "INSERT INTO submissions (id, account_id, round, idempotency_key, title, body, \
             body_html, fingerprint, client_ip, status, stage, created_at, image_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'evaluating', $10, $11, $12)",
        )
        .bind(new.id)
        .bind(new.account_id)
        .bind(new.round)
        .bind(new.idempotency_key)
        .bind(new.title)
        .bind(new.body)
        .bind(new.body_html)
        .bind(new.fingerprint)
        .bind(new.client_ip)
        .bind(new.stage)
        .bind(new.now)
        .bind(new.image_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO evaluation_jobs (submission_id, state, run_after, updated_at) \
             VALUES ($1, 'queued', $2, $2)",
        )
        .bind(new.id)
        .bind(new.now)
        .execute(&mut *conn)
        .await?;
        let created: SubmissionRecord =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = $1"))
                .bind(new.id)
                .fetch_one(&mut *conn)
                .await?;
        Inserted::Created(created)
    });
    tx.commit().await?;
    Ok(inserted)
}

pub async fn get(db: &Database, id: &str) -> Result<Option<SubmissionRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
}

/// The submissions with these ids, by id (ids not found are left out).
pub async fn get_many(
    db: &Database,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, SubmissionRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.id IN ({})",
        crate::sql::json_list(db.backend(), 1)
    );
    let ids = crate::sql::strings(ids.iter().copied());
    let rows: Vec<SubmissionRecord> =
        with_pool!(db, pool => sqlx::query_as(&sql).bind(&ids).fetch_all(pool).await)?;
    let found = rows.into_iter().map(|r| (r.id.clone(), r)).collect();
    Ok(found)
}

/// A round's entries, oldest first.
pub async fn in_round(
    db: &Database,
    round: i64,
    limit: u32,
) -> Result<Vec<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.round = $1 ORDER BY s.created_at, s.id LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(round)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// A round's scored entries, best first (the leaderboard).
pub async fn leaderboard(
    db: &Database,
    round: i64,
    limit: u32,
) -> Result<Vec<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.round = $1 AND s.status = 'scored' \
         ORDER BY s.score DESC, s.created_at, s.id LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(round)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Entries in a round (any status).
pub async fn count_in_round(db: &Database, round: i64) -> Result<i64, StoreError> {
    let (count,): (i64,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM submissions WHERE round = $1",
    )
    .bind(round)
    .fetch_one(pool)
    .await)?;
    Ok(count)
}

/// An account's submissions, newest first.
pub async fn by_account(
    db: &Database,
    account_id: &str,
    limit: u32,
) -> Result<Vec<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.account_id = $1 \
         ORDER BY s.created_at DESC, s.id DESC LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Points an account earned from pools, all time.
pub async fn earned(db: &Database, account_id: &str) -> Result<i64, StoreError> {
    let (sum,): (Option<i64>,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT CAST(SUM(reward) AS BIGINT) FROM submissions WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_one(pool)
    .await)?;
    Ok(sum.unwrap_or(0))
}

/// `(handle, earned, entries)` of the members who earned most, all time.
pub async fn top_earners(db: &Database, limit: u32) -> Result<Vec<(String, i64, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT a.handle, CAST(SUM(s.reward) AS BIGINT) AS earned, COUNT(*) AS entries \
         FROM submissions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.reward > 0 AND a.handle IS NOT NULL \
         GROUP BY a.handle ORDER BY earned DESC, a.handle LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)?)
}

/// The first submission with this fingerprint that arrived before `seq`:
/// what an exact copy copies.
pub async fn earlier_with_fingerprint(
    db: &Database,
    fingerprint: &str,
    id: &str,
    before: i64,
) -> Result<Option<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.fingerprint = $1 AND s.id <> $2 \
         AND s.seq < $3 ORDER BY s.seq LIMIT 1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(fingerprint)
        .bind(id)
        .bind(before)
        .fetch_optional(pool)
        .await)?)
}

/// Marks `copy` (later work judged original because its check ran first)
/// a near-duplicate of `original`, unless it was paid already or is
/// linked to other work: evaluating, it ends as a duplicate at its fraud
/// stage; scored, it becomes one now; held, approving it makes it one.
/// Whether it was marked.
pub async fn mark_later_copy(
    db: &Database,
    copy: &str,
    original: &str,
    similarity: f64,
) -> Result<bool, StoreError> {
    let changed = crate::execute!(
        db,
        "UPDATE submissions SET duplicate_of = $2, similarity = $3, \
         status = CASE WHEN status = 'scored' THEN 'duplicate' ELSE status END \
         WHERE id = $1 AND duplicate_of IS NULL AND paid_round IS NULL \
         AND status IN ('evaluating', 'scored', 'in_review')",
        copy,
        original,
        similarity,
    )?;
    Ok(changed == 1)
}

/// Submissions made in a window by one account, from one client address,
/// and by every account bound to the same wallet as that account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentCounts {
    pub by_account: i64,
    /// `None` when no address was given.
    pub by_address: Option<i64>,
    /// `None` when the account has no wallet.
    pub by_wallet: Option<i64>,
}

/// The three burst counts over `[since, until]`, in one statement (the
/// fraud stage runs for every submission).
pub async fn recent_counts(
    db: &Database,
    account_id: &str,
    client_ip: Option<&str>,
    since: i64,
    until: i64,
) -> Result<RecentCounts, StoreError> {
    let sql = format!(
        "SELECT \
           (SELECT COUNT(*) FROM submissions s \
            WHERE s.account_id = w.id AND s.created_at BETWEEN $3 AND $4), \
           CASE WHEN CAST($2 AS TEXT) IS NULL THEN NULL ELSE \
            (SELECT COUNT(*) FROM submissions s \
             WHERE s.client_ip = $2 AND s.created_at BETWEEN $3 AND $4) END, \
           CASE WHEN w.wallet_address IS NULL THEN NULL ELSE \
            (SELECT COUNT(*) FROM {FROM} \
             WHERE a.wallet_address = w.wallet_address AND s.created_at BETWEEN $3 AND $4) END \
         FROM accounts w WHERE w.id = $1"
    );
    // Every submission's account exists (the submission references it).
    let (by_account, by_address, by_wallet): (i64, Option<i64>, Option<i64>) = with_pool!(db, pool => sqlx::query_as(&sql)
            .bind(account_id)
            .bind(client_ip)
            .bind(since)
            .bind(until)
            .fetch_one(pool)
            .await)?;
    Ok(RecentCounts {
        by_account,
        by_address,
        by_wallet,
    })
}

/// The account with this public handle.
pub async fn account_by_handle(db: &Database, handle: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT id FROM accounts WHERE handle = $1",
    )
    .bind(handle)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(id,)| id))
}

/// One search hit: `(id, round, handle, title, snippet, score)`.
pub type Hit = (String, i64, Option<String>, String, String, Option<i64>);

/// Scored work matching `query` (already reduced to plain words), best
/// match first. In snippets the matches sit between `\u{2}` and `\u{3}`,
/// characters a submission can never hold.
pub async fn search(
    db: &Database,
    words: &[String],
    limit: u32,
    offset: u32,
) -> Result<Vec<Hit>, StoreError> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    match db {
        Database::Sqlite(pool, _) => {
            // Each word quoted: FTS5 operators in the query stay words.
            let query = words
                .iter()
                .map(|w| format!("\"{}\"", w.replace('"', "")))
                .collect::<Vec<_>>()
                .join(" ");
            Ok(sqlx::query_as(
                "SELECT s.id, s.round, a.handle, s.title, \
                 snippet(submissions_fts, 2, char(2), char(3), '…', 16), s.score \
                 FROM submissions_fts f JOIN submissions s ON s.id = f.submission_id \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE submissions_fts MATCH $1 AND s.status = 'scored' \
                 ORDER BY bm25(submissions_fts), s.created_at DESC LIMIT $2 OFFSET $3",
            )
            .bind(query)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(pool)
            .await?)
        }
        Database::Postgres(pool) => {
            let query = words.join(" ");
            Ok(sqlx::query_as(
                "SELECT s.id, s.round, a.handle, s.title, \
                 ts_headline('english', s.body, q, \
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=24, MinWords=8'), \
                 s.score \
                 FROM submissions s JOIN accounts a ON a.id = s.account_id, \
                 plainto_tsquery('english', $1) q \
                 WHERE s.search @@ q AND s.status = 'scored' \
                 ORDER BY ts_rank(s.search, q) DESC, s.created_at DESC LIMIT $2 OFFSET $3",
            )
            .bind(query)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(pool)
            .await?)
        }
    }
}

/// Work waiting for a moderator, oldest first.
pub async fn in_review(db: &Database, limit: u32) -> Result<Vec<SubmissionRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE s.status = 'in_review' \
         ORDER BY s.created_at, s.id LIMIT $1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// A moderator's decision: `in_review` becomes `status` with `reason`
/// (an approved copy of earlier work becomes a duplicate, which earns
/// nothing).
/// False when the work was not in review (decided already, or never held).
pub async fn decide_review(
    db: &Database,
    id: &str,
    status: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = crate::execute!(
        db,
        "UPDATE submissions SET status = CASE WHEN $2 = 'scored' AND duplicate_of IS NOT NULL \
         THEN 'duplicate' ELSE $2 END, reason = COALESCE($3, reason), evaluated_at = $4 \
         WHERE id = $1 AND status = 'in_review'",
        id,
        status,
        reason,
        now,
    )?;
    Ok(changed == 1)
}

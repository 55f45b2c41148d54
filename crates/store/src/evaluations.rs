//! The evaluation pipeline's durable state: jobs leased by workers, each
//! stage's record, and the embeddings of earlier work.
//!
//! A stage's result and the move to the next stage are one transaction,
//! guarded by the stage it moves from: a worker that crashed after calling
//! a model reruns that stage, and two workers can never both apply one.

use crate::database::{with_tx, Tx};
use crate::submissions::{SubmissionRecord, COLUMNS, FROM};
use crate::{execute, with_pool, Database, StoreError};

/// A job a worker holds until `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    pub submission: SubmissionRecord,
    /// Leases of the current stage so far, this one included.
    pub attempts: i64,
}

/// Takes up to `limit` due jobs, oldest first, for `lease_secs`; none
/// when none is due. Jobs whose worker died come back once their lease
/// runs out.
pub async fn lease_due(
    db: &Database,
    now: i64,
    lease_secs: i64,
    limit: u32,
) -> Result<Vec<Leased>, StoreError> {
    let pick = match db {
        Database::Sqlite(..) => "",
        Database::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    // Materialised: PostgreSQL may otherwise run the picking subquery
    // more than once and lease more than `limit`.
    let sql = format!(
        "WITH picked AS MATERIALIZED (SELECT submission_id FROM evaluation_jobs \
           WHERE state = 'queued' AND run_after <= $1 AND lease_until <= $1 \
           ORDER BY run_after, submission_id LIMIT $3{pick}) \
         UPDATE evaluation_jobs SET lease_until = $2, attempts = attempts + 1, updated_at = $1 \
         WHERE submission_id IN (SELECT submission_id FROM picked) \
         AND lease_until <= $1 RETURNING submission_id, attempts"
    );
    let leased: Vec<(String, i64)> = with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(now)
        .bind(now + lease_secs)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
    let ids: Vec<&str> = leased.iter().map(|(id, _)| id.as_str()).collect();
    let mut submissions = crate::submissions::get_many(db, &ids).await?;
    Ok(leased
        .into_iter()
        .filter_map(|(id, attempts)| {
            // A submission row cannot go while its job exists (the job
            // references it), so each is found.
            let submission = submissions.remove(&id)?;
            Some(Leased {
                submission,
                attempts,
            })
        })
        .collect())
}

/// One stage run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StageRecord {
    pub stage: String,
    pub outcome: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input: String,
    pub output: String,
    pub summary: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
}

/// What a finished stage changes on the submission; `None` leaves a column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageResult<'a> {
    pub duplicate_of: Option<&'a str>,
    pub similarity: Option<f64>,
    pub score: Option<i64>,
    pub breakdown: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub flags: Option<&'a str>,
    pub payout_percent: Option<i64>,
    /// The status the submission ends in; `None` while stages remain.
    pub final_status: Option<&'a str>,
}

/// A finished stage to apply: its record, its result, and the stage the
/// submission moves to (`None` ends it with `result.final_status`).
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub id: &'a str,
    /// The stage that ran: the submission must still be at it.
    pub stage: &'a str,
    pub next: Option<&'a str>,
    pub record: &'a StageRecord,
    pub result: StageResult<'a>,
}

/// Applies finished stages in one transaction: each is recorded, writes
/// its result and moves its submission on, releasing the job. Each answer
/// is false when that submission was not at the stage any more (another
/// worker applied it): nothing of it is written. A database error writes
/// none of them.
pub async fn complete_stages(
    db: &Database,
    completions: &[Completion<'_>],
    now: i64,
) -> Result<Vec<bool>, StoreError> {
    let mut tx = db.begin_write().await?;
    let mut applied = Vec::with_capacity(completions.len());
    for completion in completions {
        applied.push(complete_in(&mut tx, completion, now).await?);
    }
    tx.commit().await?;
    Ok(applied)
}

async fn complete_in(tx: &mut Tx, c: &Completion<'_>, now: i64) -> Result<bool, StoreError> {
    let result = &c.result;
    let moved = with_tx!(tx, conn => {
        let updated = sqlx::query(
            "UPDATE submissions SET stage = $3, \
             duplicate_of = COALESCE($4, duplicate_of), similarity = COALESCE($5, similarity), \
             score = COALESCE($6, score), breakdown = COALESCE($7, breakdown), \
             reason = COALESCE($8, reason), flags = COALESCE($9, flags), \
             payout_percent = COALESCE($10, payout_percent), \
             status = COALESCE($11, status), \
             evaluated_at = CASE WHEN $11 IS NULL THEN evaluated_at ELSE $12 END \
             WHERE id = $1 AND stage = $2 AND status = 'evaluating'",
        )
        .bind(c.id)
        .bind(c.stage)
        .bind(c.next)
        .bind(result.duplicate_of)
        .bind(result.similarity)
        .bind(result.score)
        .bind(result.breakdown)
        .bind(result.reason)
        .bind(result.flags)
        .bind(result.payout_percent)
        .bind(result.final_status)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if updated == 1 {
            let state = if c.next.is_none() { "done" } else { "queued" };
            sqlx::query(
                "UPDATE evaluation_jobs SET state = $2, attempts = 0, lease_until = 0, \
                 run_after = $3, last_error = NULL, updated_at = $3 WHERE submission_id = $1",
            )
            .bind(c.id)
            .bind(state)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        updated == 1
    });
    if moved {
        insert_stage(tx, c.id, c.record).await?;
    }
    Ok(moved)
}

async fn insert_stage(tx: &mut Tx, id: &str, r: &StageRecord) -> Result<(), StoreError> {
    with_tx!(tx, conn => sqlx::query(
        "INSERT INTO evaluation_stages (submission_id, stage, outcome, provider, model, input, \
         output, summary, started_at_ms, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(r.stage.as_str())
    .bind(r.outcome.as_str())
    .bind(r.provider.as_deref())
    .bind(r.model.as_deref())
    .bind(r.input.as_str())
    .bind(r.output.as_str())
    .bind(r.summary.as_str())
    .bind(r.started_at_ms)
    .bind(r.duration_ms)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    Ok(())
}

/// A stage failed in a way worth retrying: records it and puts the job
/// back for `run_after`.
pub async fn retry_later(
    db: &Database,
    id: &str,
    record: &StageRecord,
    error: &str,
    run_after: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    insert_stage(&mut tx, id, record).await?;
    with_tx!(&mut tx, conn => sqlx::query(
        "UPDATE evaluation_jobs SET lease_until = 0, run_after = $2, last_error = $3, \
         updated_at = $2 WHERE submission_id = $1",
    )
    .bind(id)
    .bind(run_after)
    .bind(error)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    tx.commit().await
}

/// A stage ran out of retries: the submission fails with `reason` and the
/// job goes to the dead letters, where an admin can requeue it.
pub async fn give_up(
    db: &Database,
    id: &str,
    record: &StageRecord,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    insert_stage(&mut tx, id, record).await?;
    with_tx!(&mut tx, conn => {
        sqlx::query(
            "UPDATE submissions SET status = 'failed', reason = $2, evaluated_at = $3 \
             WHERE id = $1 AND status = 'evaluating'",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE evaluation_jobs SET state = 'dead', lease_until = 0, last_error = $2, \
             updated_at = $3 WHERE submission_id = $1",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    tx.commit().await
}

/// Puts a dead job back in the queue at the stage it failed in. False when
/// the job is not dead.
pub async fn requeue(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let revived = sqlx::query(
            "UPDATE evaluation_jobs SET state = 'queued', attempts = 0, lease_until = 0, \
             run_after = $2, updated_at = $2 WHERE submission_id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revived == 1 {
            sqlx::query(
                "UPDATE submissions SET status = 'evaluating', reason = NULL, evaluated_at = NULL \
                 WHERE id = $1 AND status = 'failed'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(revived == 1)
    })
}

/// Dead jobs, oldest first, with their last error.
pub async fn dead_letters(
    db: &Database,
    limit: u32,
) -> Result<Vec<(SubmissionRecord, Option<String>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, j.last_error FROM {FROM} \
         JOIN evaluation_jobs j ON j.submission_id = s.id \
         WHERE j.state = 'dead' ORDER BY j.updated_at, s.id LIMIT $1"
    );
    let rows: Vec<DeadRow> = with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.submission, r.last_error))
        .collect())
}

#[derive(sqlx::FromRow)]
struct DeadRow {
    #[sqlx(flatten)]
    submission: SubmissionRecord,
    last_error: Option<String>,
}

/// Jobs not yet done or dead.
pub async fn pending_count(db: &Database) -> Result<i64, StoreError> {
    let (count,): (i64,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM evaluation_jobs WHERE state = 'queued'",
    )
    .fetch_one(pool)
    .await)?;
    Ok(count)
}

/// Every stage run of a submission, in order.
pub async fn stages(db: &Database, id: &str) -> Result<Vec<StageRecord>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT stage, outcome, provider, model, input, output, summary, started_at_ms, \
         duration_ms FROM evaluation_stages WHERE submission_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await)?)
}

/// Whether any stage of a submission's evaluation flagged it.
pub async fn was_flagged(db: &Database, id: &str) -> Result<bool, StoreError> {
    let (flagged,): (i64,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT 1 FROM evaluation_stages \
         WHERE submission_id = $1 AND outcome = 'flagged' LIMIT 1) f",
    )
    .bind(id)
    .fetch_one(pool)
    .await)?;
    Ok(flagged > 0)
}

/// Stores a submission's embedding (once; a rerun keeps the first).
pub async fn put_vector(
    db: &Database,
    id: &str,
    model: &str,
    vector: &[u8],
) -> Result<(), StoreError> {
    execute!(
        db,
        "INSERT INTO submission_vectors (submission_id, model, vector) VALUES ($1, $2, $3) \
         ON CONFLICT (submission_id) DO NOTHING",
        id,
        model,
        vector,
    )?;
    Ok(())
}

/// A stored embedding: `(submission id, author, seq, model, vector)`.
pub type VectorRow = (String, String, i64, String, Vec<u8>);

/// Every stored embedding, for rebuilding the in-process index.
pub async fn all_vectors(db: &Database) -> Result<Vec<VectorRow>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT v.submission_id, s.account_id, s.seq, v.model, v.vector \
         FROM submission_vectors v JOIN submissions s ON s.id = v.submission_id",
    )
    .fetch_all(pool)
    .await)?)
}

/// The ids of every work with a stored embedding.
pub async fn vector_ids(db: &Database) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT submission_id FROM submission_vectors",
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The stored embeddings of these works (those without one left out).
pub async fn vectors(db: &Database, ids: &[&str]) -> Result<Vec<VectorRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT v.submission_id, s.account_id, s.seq, v.model, v.vector \
         FROM submission_vectors v JOIN submissions s ON s.id = v.submission_id \
         WHERE v.submission_id IN ({})",
        crate::sql::json_list(db.backend(), 1)
    );
    let ids = crate::sql::strings(ids.iter().copied());
    let found = with_pool!(db, pool => sqlx::query_as(&sql).bind(&ids).fetch_all(pool).await)?;
    Ok(found)
}

/// Closes a job that has nothing left to run.
pub async fn close_job(db: &Database, id: &str, now: i64) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE evaluation_jobs SET state = 'done', lease_until = 0, updated_at = $2 \
         WHERE submission_id = $1",
        id,
        now,
    )?;
    Ok(())
}

/// One stored embedding, for an instance that learns of it from another.
pub async fn vector(db: &Database, id: &str) -> Result<Option<VectorRow>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT v.submission_id, s.account_id, s.seq, v.model, v.vector \
         FROM submission_vectors v JOIN submissions s ON s.id = v.submission_id \
         WHERE v.submission_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?)
}

/// How long each stage takes, from the stage records: per stage, how many
/// runs were recorded and their mean duration in milliseconds.
pub async fn stage_durations(db: &Database) -> Result<Vec<(String, i64, f64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT stage, COUNT(*), AVG(CAST(duration_ms AS DOUBLE PRECISION)) \
         FROM evaluation_stages GROUP BY stage ORDER BY stage",
    )
    .fetch_all(pool)
    .await)?)
}

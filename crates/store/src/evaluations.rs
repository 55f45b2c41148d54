//! The evaluation pipeline's durable state: jobs leased by workers, each
//! stage's record, and the embeddings of earlier work.
//!
//! The stages a worker ran under one lease are written with the move to the
//! next stage in one transaction, guarded by the stage the run began at: a
//! worker that crashed after calling a model reruns what it had not
//! written, and two workers can never both apply one.

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

/// Stages run one after another under one lease, to apply together: their
/// records, their combined result (a later stage's value wins), and where
/// the submission goes next (`None` ends it with `result.final_status`).
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub id: &'a str,
    /// The stage the run began at: the submission must still be at it.
    pub from: &'a str,
    pub next: Option<&'a str>,
    /// Each stage's record, in the order they ran.
    pub records: &'a [StageRecord],
    pub result: StageResult<'a>,
    /// The work's embedding, stored with the result: `(model, vector)`.
    pub vector: Option<(&'a str, &'a [u8])>,
}

/// Applies finished runs in one transaction of a few statements, whatever
/// their number: each moves its submission on with its result, releases
/// its job, and records its stages. Each answer is false when that
/// submission was not at the run's first stage any more (another worker
/// applied it): nothing of it is written. A database error writes none.
pub async fn complete_stages(
    db: &Database,
    completions: &[Completion<'_>],
    now: i64,
) -> Result<Vec<bool>, StoreError> {
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin_write().await?;
    let rows = crate::sql::json_rows(tx.backend(), 1);
    let moves = crate::sql::json(completions.iter().map(|c| {
        let r = &c.result;
        serde_json::json!({
            "id": c.id, "from": c.from, "next": c.next, "dup": r.duplicate_of,
            "sim": r.similarity, "score": r.score, "breakdown": r.breakdown,
            "reason": r.reason, "flags": r.flags, "pay": r.payout_percent,
            "status": r.final_status,
        })
    }));
    // The guard is a subquery that starts from the batch: written in the
    // outer statement, SQLite chose the index on `status` and read the batch
    // again for every submission still evaluating (a scan per commit that
    // grew with the queue).
    let advance = format!(
        "UPDATE submissions SET stage = j.value ->> 'next', \
         duplicate_of = COALESCE(j.value ->> 'dup', submissions.duplicate_of), \
         similarity = COALESCE(CAST(j.value ->> 'sim' AS DOUBLE PRECISION), submissions.similarity), \
         score = COALESCE(CAST(j.value ->> 'score' AS BIGINT), submissions.score), \
         breakdown = COALESCE(j.value ->> 'breakdown', submissions.breakdown), \
         reason = COALESCE(j.value ->> 'reason', submissions.reason), \
         flags = COALESCE(j.value ->> 'flags', submissions.flags), \
         payout_percent = COALESCE(CAST(j.value ->> 'pay' AS BIGINT), submissions.payout_percent), \
         status = COALESCE(j.value ->> 'status', submissions.status), \
         evaluated_at = CASE WHEN j.value ->> 'status' IS NULL THEN submissions.evaluated_at ELSE $2 END \
         FROM {rows} WHERE submissions.id = j.value ->> 'id' AND submissions.id IN ( \
           SELECT s.id FROM {rows} CROSS JOIN submissions s WHERE s.id = j.value ->> 'id' \
           AND s.stage = j.value ->> 'from' AND s.status = 'evaluating') \
         RETURNING submissions.id"
    );
    let moved: Vec<(String,)> = with_tx!(&mut tx, conn => sqlx::query_as(&advance)
        .bind(&moves)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?);
    let moved: std::collections::HashSet<String> = moved.into_iter().map(|(id,)| id).collect();
    let applied: Vec<bool> = completions.iter().map(|c| moved.contains(c.id)).collect();
    let done: Vec<&Completion<'_>> = completions
        .iter()
        .filter(|c| moved.contains(c.id))
        .collect();
    if !done.is_empty() {
        let released = crate::sql::json(
            done.iter()
                .map(|c| serde_json::json!({ "id": c.id, "next": c.next })),
        );
        let release = format!(
            "UPDATE evaluation_jobs SET \
             state = CASE WHEN j.value ->> 'next' IS NULL THEN 'done' ELSE 'queued' END, \
             attempts = 0, lease_until = 0, run_after = $2, last_error = NULL, updated_at = $2 \
             FROM {rows} WHERE evaluation_jobs.submission_id = j.value ->> 'id'"
        );
        with_tx!(&mut tx, conn => sqlx::query(&release)
            .bind(&released)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(drop))?;
        let records: Vec<(&str, &StageRecord)> = done
            .iter()
            .flat_map(|c| c.records.iter().map(|r| (c.id, r)))
            .collect();
        insert_stages(&mut tx, &records).await?;
        for (id, (model, vector)) in done.iter().filter_map(|c| Some((c.id, c.vector?))) {
            with_tx!(&mut tx, conn => sqlx::query(
                "INSERT INTO submission_vectors (submission_id, model, vector) VALUES ($1, $2, $3) \
                 ON CONFLICT (submission_id) DO NOTHING",
            )
            .bind(id)
            .bind(model)
            .bind(vector)
            .execute(&mut *conn)
            .await
            .map(drop))?;
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// Records stage runs, in the order given. One statement each, the texts
/// bound as they are: a record's prompt is kilobytes, and inside a JSON
/// batch SQLite would parse it again for every column it reads.
async fn insert_stages(tx: &mut Tx, records: &[(&str, &StageRecord)]) -> Result<(), StoreError> {
    for (id, r) in records {
        with_tx!(&mut *tx, conn => sqlx::query(
            "INSERT INTO evaluation_stages (submission_id, stage, outcome, provider, model, input, \
             output, summary, started_at_ms, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(*id)
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
    }
    Ok(())
}

/// A stage failed in a way worth retrying: records it and puts the job
/// back for `run_after`, with the stage's `tries` so far (the next lease
/// counts one more).
pub async fn retry_later(
    db: &Database,
    id: &str,
    record: &StageRecord,
    error: &str,
    tries: i64,
    run_after: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    insert_stages(&mut tx, &[(id, record)]).await?;
    with_tx!(&mut tx, conn => sqlx::query(
        "UPDATE evaluation_jobs SET lease_until = 0, run_after = $2, last_error = $3, \
         attempts = $4, updated_at = $2 WHERE submission_id = $1",
    )
    .bind(id)
    .bind(run_after)
    .bind(error)
    .bind(tries)
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
    insert_stages(&mut tx, &[(id, record)]).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::submissions::{self, Inserted, NewSubmission};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend, PoolOptions};

    async fn with_work(backend: Backend, ids: &[&str]) -> (TestDatabase, Database) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = Database::connect(&test_db.target, PoolOptions::default())
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let account = NewAccount {
            id: "ann",
            email: Some("ann@example.org"),
            email_skeleton: None,
            password_hash: None,
            wallet_address: None,
            telegram_id: None,
            role: "member",
            now: 1,
        };
        accounts::insert(&db, account).await.unwrap();
        for id in ids {
            let new = NewSubmission {
                id,
                account_id: "ann",
                round: 1,
                idempotency_key: id,
                title: "A title",
                body: "A body",
                body_html: "<p>A body</p>",
                fingerprint: id,
                client_ip: None,
                image_id: None,
                stage: "moderation",
                now: 10,
                max_per_round: None,
            };
            let inserted = submissions::insert(&db, new).await.unwrap();
            assert!(matches!(inserted, Inserted::Created(_)));
        }
        (test_db, db)
    }

    fn record(stage: &str, outcome: &str) -> StageRecord {
        StageRecord {
            stage: stage.into(),
            outcome: outcome.into(),
            provider: (stage == "quality").then(|| "judge".into()),
            model: (stage == "quality").then(|| "judge-1".into()),
            input: format!(r#"{{"stage":"{stage}"}}"#),
            output: "{}".into(),
            summary: format!("{stage} said {outcome}"),
            started_at_ms: 1_000,
            duration_ms: 3,
        }
    }

    test_both_backends! {
        async fn a_run_of_stages_is_written_once_in_order_with_its_result(backend: Backend) {
            let (_test_db, db) = with_work(backend, &["s1", "s2"]).await;
            let leased = lease_due(&db, 20, 60, 8).await.unwrap();
            assert_eq!(leased.len(), 2);

            // s1 ran every stage; s2 two of them, and goes on at quality.
            let s1 = [record("moderation", "ok"), record("originality", "ok"),
                record("quality", "ok"), record("fraud", "ok")];
            let s2 = [record("moderation", "flagged"), record("originality", "ok")];
            let embedding = [1_u8, 2, 3, 4];
            let runs = [
                Completion {
                    id: "s1", from: "moderation", next: None, records: &s1,
                    result: StageResult {
                        similarity: Some(0.25), score: Some(70), breakdown: Some("{\"a\":7}"),
                        reason: Some("Fine"), flags: Some("[]"), payout_percent: Some(90),
                        final_status: Some("scored"), ..Default::default()
                    },
                    vector: Some(("m/bow", &embedding)),
                },
                Completion {
                    id: "s2", from: "moderation", next: Some("quality"), records: &s2,
                    result: StageResult::default(), vector: None,
                },
            ];
            assert_eq!(complete_stages(&db, &runs, 30).await.unwrap(), vec![true, true]);

            let s1_now = submissions::get(&db, "s1").await.unwrap().unwrap();
            assert_eq!((s1_now.status.as_str(), s1_now.stage.as_deref()), ("scored", None));
            assert_eq!((s1_now.score, s1_now.similarity, s1_now.payout_percent), (Some(70), Some(0.25), 90));
            assert_eq!((s1_now.reason.as_deref(), s1_now.evaluated_at), (Some("Fine"), Some(30)));
            assert_eq!(stages(&db, "s1").await.unwrap(), s1.to_vec());
            let (_, _, _, model, stored) = vector(&db, "s1").await.unwrap().unwrap();
            assert_eq!((model.as_str(), stored.as_slice()), ("m/bow", &embedding[..]));

            let s2_now = submissions::get(&db, "s2").await.unwrap().unwrap();
            assert_eq!((s2_now.status.as_str(), s2_now.stage.as_deref()), ("evaluating", Some("quality")));
            assert_eq!((s2_now.score, s2_now.evaluated_at), (None, None));
            assert_eq!(stages(&db, "s2").await.unwrap(), s2.to_vec());
            assert!(was_flagged(&db, "s2").await.unwrap());
            assert!(vector(&db, "s2").await.unwrap().is_none());

            // The finished job is done; the other is due again at once.
            assert_eq!(pending_count(&db).await.unwrap(), 1);
            let again = lease_due(&db, 30, 60, 8).await.unwrap();
            assert_eq!(again.iter().map(|l| (l.submission.id.as_str(), l.attempts)).collect::<Vec<_>>(), [("s2", 1)]);

            // A second worker holding the same runs (its lease ran out)
            // writes nothing of them.
            assert_eq!(complete_stages(&db, &runs, 40).await.unwrap(), vec![false, false]);
            assert_eq!(stages(&db, "s1").await.unwrap().len(), 4);
            assert_eq!(stages(&db, "s2").await.unwrap().len(), 2);
        }
    }
}

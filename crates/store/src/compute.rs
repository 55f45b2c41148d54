//! The compute network's durable state: nodes, and the tasks leased to
//! them. A task's every transition is one compare-and-set on the status
//! and lease it was computed from ([`apply_batch`]), so two instances, a node
//! and the lease reaper can race on one task and exactly one wins.

use std::collections::{HashMap, HashSet};

use crate::chain_txs::{self, NewTx};
use crate::database::{with_tx, Tx};
use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeRecord {
    pub id: String,
    pub account_id: String,
    /// The operator's public handle, joined from the account.
    pub handle: Option<String>,
    pub name: String,
    /// A JSON array of model names.
    pub models: String,
    pub capacity: i64,
    pub status: String,
    pub reputation: i64,
    pub tasks_completed: i64,
    pub tasks_failed: i64,
    pub earned: i64,
    pub checks: i64,
    pub mismatches: i64,
    pub flagged: i64,
    pub last_seen: Option<i64>,
    pub created_at: i64,
}

const NODE_COLUMNS: &str = "n.id, n.account_id, a.handle, n.name, n.models, n.capacity, \
    n.status, n.reputation, n.tasks_completed, n.tasks_failed, n.earned, n.checks, n.mismatches, \
    n.flagged, n.last_seen, n.created_at";
const NODE_FROM: &str = "compute_nodes n JOIN accounts a ON a.id = n.account_id";

pub struct NewNode<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    pub models: &'a str,
    pub capacity: i64,
    pub now: i64,
}

/// Registers a node, or updates the models and capacity of the operator's
/// node of that name; answers the node as stored.
pub async fn register_node(db: &Database, new: NewNode<'_>) -> Result<NodeRecord, StoreError> {
    let (id,): (String,) = with_pool!(db, pool => sqlx::query_as(
        "INSERT INTO compute_nodes (id, account_id, name, models, capacity, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'offline', $6) \
         ON CONFLICT (account_id, name) DO UPDATE SET models = excluded.models, \
         capacity = excluded.capacity RETURNING id",
    )
    .bind(new.id)
    .bind(new.account_id)
    .bind(new.name)
    .bind(new.models)
    .bind(new.capacity)
    .bind(new.now)
    .fetch_one(pool)
    .await)?;
    get_node(db, &id)
        .await?
        .ok_or_else(|| StoreError::Query(sqlx::Error::RowNotFound))
}

pub async fn get_node(db: &Database, id: &str) -> Result<Option<NodeRecord>, StoreError> {
    let sql = format!("SELECT {NODE_COLUMNS} FROM {NODE_FROM} WHERE n.id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
}

/// The operator's nodes, oldest first.
pub async fn nodes_of(db: &Database, account_id: &str) -> Result<Vec<NodeRecord>, StoreError> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM {NODE_FROM} WHERE n.account_id = $1 ORDER BY n.created_at, n.id"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(account_id).fetch_all(pool).await)?)
}

/// Nodes in `status`, most reputable first, at most `limit`.
pub async fn nodes_in(
    db: &Database,
    status: &str,
    limit: u32,
) -> Result<Vec<NodeRecord>, StoreError> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM {NODE_FROM} WHERE n.status = $1 \
         ORDER BY n.reputation DESC, n.tasks_completed DESC, n.id LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// How many nodes are in each status.
pub async fn node_counts(db: &Database) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT status, COUNT(*) FROM compute_nodes GROUP BY status",
    )
    .fetch_all(pool)
    .await)?)
}

pub async fn set_node_status(
    db: &Database,
    id: &str,
    status: &str,
    now: i64,
) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE compute_nodes SET status = $2, last_seen = $3 WHERE id = $1",
        id,
        status,
        now
    )?;
    Ok(())
}

/// Marks offline the nodes not heard from since `before`: their instance
/// died with their sockets. Answers how many.
pub async fn mark_silent_offline(db: &Database, before: i64) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE compute_nodes SET status = 'offline' WHERE status <> 'offline' \
         AND (last_seen IS NULL OR last_seen < $1)",
        before
    )?)
}

/// Counts a task the node failed.
pub async fn count_failure(db: &Database, node_id: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE compute_nodes SET tasks_failed = tasks_failed + 1 WHERE id = $1",
        node_id
    )?;
    Ok(())
}

/// Flagged nodes waiting for an admin's review, most disagreements first.
pub async fn flagged_nodes(db: &Database, limit: u32) -> Result<Vec<NodeRecord>, StoreError> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM {NODE_FROM} WHERE n.flagged = 1 \
         ORDER BY n.mismatches DESC, n.id LIMIT $1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReviewRecord {
    pub id: String,
    pub node_id: String,
    pub reviewer_id: String,
    pub decision: String,
    pub amount: Option<String>,
    pub reason: String,
    pub tx_id: Option<String>,
    pub created_at: i64,
}

const REVIEW_COLUMNS: &str =
    "id, node_id, reviewer_id, decision, amount, reason, tx_id, created_at";

pub struct NewReview<'a> {
    pub id: &'a str,
    pub node_id: &'a str,
    pub reviewer_id: &'a str,
    pub decision: &'a str,
    pub amount: Option<&'a str>,
    pub reason: &'a str,
    pub now: i64,
}

/// Records an admin's review of a flagged node and clears its flag, with
/// the slash's transaction (if any) queued in the same commit: a review is
/// never recorded without its slash, nor a slash queued without its
/// review. `None`, and nothing written, when the node is not flagged
/// (another admin reviewed it first).
pub async fn review_node(
    db: &Database,
    review: NewReview<'_>,
    slash: Option<NewTx<'_>>,
) -> Result<Option<ReviewRecord>, StoreError> {
    let mut write = db.begin_write().await?;
    let cleared = with_tx!(&mut write, conn => sqlx::query(
        "UPDATE compute_nodes SET flagged = 0 WHERE id = $1 AND flagged = 1",
    )
    .bind(review.node_id)
    .execute(&mut *conn)
    .await
    .map(|done| done.rows_affected()))?;
    if cleared != 1 {
        return Ok(None);
    }
    if let Some(tx) = &slash {
        chain_txs::enqueue_in(&mut write, tx).await?;
    }
    let sql = format!(
        "INSERT INTO compute_reviews ({REVIEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING {REVIEW_COLUMNS}"
    );
    let record: ReviewRecord = with_tx!(&mut write, conn => sqlx::query_as(&sql)
        .bind(review.id)
        .bind(review.node_id)
        .bind(review.reviewer_id)
        .bind(review.decision)
        .bind(review.amount)
        .bind(review.reason)
        .bind(slash.as_ref().map(|tx| tx.id))
        .bind(review.now)
        .fetch_one(&mut *conn)
        .await)?;
    write.commit().await?;
    Ok(Some(record))
}

/// A node's reviews, newest first.
pub async fn reviews_of(db: &Database, node_id: &str) -> Result<Vec<ReviewRecord>, StoreError> {
    let sql = format!(
        "SELECT {REVIEW_COLUMNS} FROM compute_reviews WHERE node_id = $1 \
         ORDER BY created_at DESC, id DESC"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(node_id).fetch_all(pool).await)?)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TaskRecord {
    pub id: String,
    /// The submitter; `None` for the platform's own tasks.
    pub account_id: Option<String>,
    pub idempotency_key: String,
    pub kind: String,
    pub model: String,
    pub input: String,
    pub status: String,
    pub node_id: Option<String>,
    pub lease: i64,
    pub lease_until: i64,
    pub leased_at: Option<i64>,
    pub failures: i64,
    pub max_attempts: i64,
    pub progress: i64,
    pub output: Option<String>,
    pub error: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub reward: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub verifies: Option<String>,
    pub exclude_operator: Option<String>,
    pub verdict: Option<String>,
}

const TASK_COLUMNS: &str = "id, account_id, idempotency_key, kind, model, input, status, node_id, \
    lease, lease_until, leased_at, failures, max_attempts, progress, output, error, input_tokens, \
    output_tokens, reward, created_at, updated_at, completed_at, verifies, exclude_operator, verdict";

pub struct NewTask<'a> {
    pub id: &'a str,
    pub account_id: Option<&'a str>,
    pub idempotency_key: &'a str,
    /// The gateway request it serves, for the gateway's own tasks.
    pub request_id: Option<&'a str>,
    pub kind: &'a str,
    pub model: &'a str,
    pub input: &'a str,
    pub max_attempts: i64,
    /// A check: the task it checks, and the operator whose nodes may not
    /// run it.
    pub verifies: Option<&'a str>,
    pub exclude_operator: Option<&'a str>,
    /// The submitter may have at most this many tasks waiting or running;
    /// a replay of a key used before is answered whatever the count.
    pub open_limit: Option<i64>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    Created(TaskRecord),
    /// The submitter used the key before: its task.
    Replayed(TaskRecord),
    /// The submitter has `open_limit` tasks open: nothing stored.
    AtLimit,
}

/// Stores a pending task, once per submitter and idempotency key (the
/// platform's own tasks: once per id).
pub async fn insert_task(db: &Database, new: NewTask<'_>) -> Result<Inserted, StoreError> {
    let mut inserted = insert_tasks(db, std::slice::from_ref(&new)).await?;
    Ok(inserted.remove(0))
}

/// [`insert_task`] for many tasks in one transaction, answered in order:
/// the submitter's open tasks are counted in the statement that adds one,
/// so submissions written together cannot pass the limit together (on
/// PostgreSQL, instances writing at the same moment still can, by one
/// each). A new task is one statement; a replay or a refusal one more, to
/// tell them apart.
pub async fn insert_tasks(
    db: &Database,
    tasks: &[NewTask<'_>],
) -> Result<Vec<Inserted>, StoreError> {
    let mut tx = db.begin_write().await?;
    let mut answers = Vec::with_capacity(tasks.len());
    for new in tasks {
        answers.push(insert_in(&mut tx, new).await?);
    }
    tx.commit().await?;
    Ok(answers)
}

/// Sets a completed task's verdict (the one meaning "waiting for its
/// check") and queues its check, in one transaction: a crash between the
/// two would leave the task waiting for a check no sweep would ever find.
pub async fn queue_check(
    db: &Database,
    original_id: &str,
    waiting: &str,
    check: &NewTask<'_>,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    with_tx!(&mut tx, conn => sqlx::query("UPDATE compute_tasks SET verdict = $2 WHERE id = $1")
        .bind(original_id)
        .bind(waiting)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    insert_in(&mut tx, check).await?;
    tx.commit().await?;
    Ok(())
}

/// [`insert_task`] inside the caller's transaction.
async fn insert_in(tx: &mut Tx, new: &NewTask<'_>) -> Result<Inserted, StoreError> {
    // Counting stops at the limit: an account with thousands of open tasks
    // costs no more than one at the limit.
    let insert = format!(
        "INSERT INTO compute_tasks (id, account_id, idempotency_key, kind, model, input, \
         status, max_attempts, created_at, updated_at, verifies, exclude_operator, request_id) \
         SELECT $1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8, $9, $10, $11 \
         WHERE $12 IS NULL OR (SELECT COUNT(*) FROM (SELECT 1 FROM compute_tasks \
           WHERE account_id = $2 AND status IN ('pending', 'assigned', 'in_progress') \
           LIMIT $12) AS open) < $12 \
         ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING {TASK_COLUMNS}"
    );
    let created: Option<TaskRecord> = with_tx!(tx, conn => sqlx::query_as(&insert)
        .bind(new.id)
        .bind(new.account_id)
        .bind(new.idempotency_key)
        .bind(new.kind)
        .bind(new.model)
        .bind(new.input)
        .bind(new.max_attempts)
        .bind(new.now)
        .bind(new.verifies)
        .bind(new.exclude_operator)
        .bind(new.request_id)
        .bind(new.open_limit)
        .fetch_optional(&mut *conn)
        .await)?;
    if let Some(task) = created {
        return Ok(Inserted::Created(task));
    }
    // Nothing inserted: the key was used before, or the limit is met.
    let Some(account_id) = new.account_id else {
        return Err(StoreError::Query(sqlx::Error::RowNotFound));
    };
    let by_key = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE account_id = $1 AND idempotency_key = $2"
    );
    let before: Option<TaskRecord> = with_tx!(tx, conn => sqlx::query_as(&by_key)
        .bind(account_id)
        .bind(new.idempotency_key)
        .fetch_optional(&mut *conn)
        .await)?;
    Ok(before.map_or(Inserted::AtLimit, Inserted::Replayed))
}

pub async fn get_task(db: &Database, id: &str) -> Result<Option<TaskRecord>, StoreError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM compute_tasks WHERE id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
}

/// The node that completed a task for the gateway request `request_id`
/// (several tasks may have tried it, one after another; one completed).
pub async fn served_by(db: &Database, request_id: &str) -> Result<Option<String>, StoreError> {
    let node: Option<(Option<String>,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT node_id FROM compute_tasks WHERE request_id = $1 AND status = 'completed' LIMIT 1",
    )
    .bind(request_id)
    .fetch_optional(pool)
    .await)?;
    Ok(node.and_then(|(node,)| node))
}

/// A task's state after a transition, to be written over the one it was
/// computed from (`status` and `lease`): a compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskWrite {
    pub id: String,
    pub from_status: String,
    pub from_lease: i64,
    pub status: String,
    pub lease: i64,
    pub node_id: Option<String>,
    pub lease_until: i64,
    pub leased_at: Option<i64>,
    pub failures: i64,
    pub error: Option<String>,
    pub progress: i64,
    /// Set with the result; `None` leaves the column.
    pub output: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub completed_at: Option<i64>,
    pub now: i64,
}

/// Writes each transition whose task is still where it was computed from,
/// in one transaction; answers, in order, whether each was written (false:
/// another transition got there first). An error writes none of them.
///
/// A batch is one statement, not one per transition: on SQLite every
/// statement is a hop to the writer's thread and on PostgreSQL a round
/// trip, and the writer is what every node waits on. A task written twice
/// in a batch (assigned and started) is written by a statement per write,
/// in order, so the second meets the state the first left.
pub async fn apply_batch(db: &Database, writes: &[TaskWrite]) -> Result<Vec<bool>, StoreError> {
    let rows_of = crate::sql::json_rows(db.backend(), 1);
    let update = format!(
        "UPDATE compute_tasks SET status = w.status, lease = w.lease, node_id = w.node_id, \
         lease_until = w.lease_until, failures = w.failures, error = w.error, \
         progress = w.progress, output = COALESCE(w.output, compute_tasks.output), \
         input_tokens = w.input_tokens, output_tokens = w.output_tokens, \
         completed_at = w.completed_at, updated_at = w.now, leased_at = w.leased_at \
         FROM (SELECT j.value ->> 'id' AS id, j.value ->> 'from_status' AS from_status, \
           CAST(j.value ->> 'from_lease' AS BIGINT) AS from_lease, j.value ->> 'status' AS status, \
           CAST(j.value ->> 'lease' AS BIGINT) AS lease, j.value ->> 'node_id' AS node_id, \
           CAST(j.value ->> 'lease_until' AS BIGINT) AS lease_until, \
           CAST(j.value ->> 'leased_at' AS BIGINT) AS leased_at, \
           CAST(j.value ->> 'failures' AS BIGINT) AS failures, j.value ->> 'error' AS error, \
           CAST(j.value ->> 'progress' AS BIGINT) AS progress, j.value ->> 'output' AS output, \
           CAST(j.value ->> 'input_tokens' AS BIGINT) AS input_tokens, \
           CAST(j.value ->> 'output_tokens' AS BIGINT) AS output_tokens, \
           CAST(j.value ->> 'completed_at' AS BIGINT) AS completed_at, \
           CAST(j.value ->> 'now' AS BIGINT) AS now FROM {rows_of}) AS w \
         WHERE compute_tasks.id = w.id AND compute_tasks.status = w.from_status \
         AND compute_tasks.lease = w.from_lease RETURNING compute_tasks.id"
    );
    let mut tx = db.begin_write().await?;
    let mut written = vec![false; writes.len()];
    for round in distinct_rounds(writes.iter().map(|w| w.id.as_str())) {
        let rows = crate::sql::json(round.iter().map(|&at| {
            let to = &writes[at];
            serde_json::json!({
                "id": to.id, "from_status": to.from_status, "from_lease": to.from_lease,
                "status": to.status, "lease": to.lease, "node_id": to.node_id,
                "lease_until": to.lease_until, "leased_at": to.leased_at,
                "failures": to.failures, "error": to.error, "progress": to.progress,
                "output": to.output, "input_tokens": to.input_tokens,
                "output_tokens": to.output_tokens, "completed_at": to.completed_at, "now": to.now,
            })
        }));
        let moved: Vec<(String,)> = with_tx!(&mut tx, conn => sqlx::query_as(&update)
            .bind(&rows)
            .fetch_all(&mut *conn)
            .await)?;
        let moved: HashSet<String> = moved.into_iter().map(|(id,)| id).collect();
        for at in round {
            written[at] = moved.contains(&writes[at].id);
        }
    }
    tx.commit().await?;
    Ok(written)
}

/// The positions of `ids` in groups holding each id at most once, in
/// order: an id's n-th position is in the n-th group.
fn distinct_rounds<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<Vec<usize>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (at, id) in ids.enumerate() {
        let times = seen.entry(id).or_default();
        if rounds.len() == *times {
            rounds.push(Vec::new());
        }
        rounds[*times].push(at);
        *times += 1;
    }
    rounds
}

/// [`apply_batch`] for one transition.
pub async fn apply(db: &Database, write: &TaskWrite) -> Result<bool, StoreError> {
    Ok(apply_batch(db, std::slice::from_ref(write)).await?[0])
}

/// Records how far the node says it is, while it holds the lease.
pub async fn set_progress(
    db: &Database,
    id: &str,
    lease: i64,
    progress: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = execute!(
        db,
        "UPDATE compute_tasks SET progress = $3, updated_at = $4 \
         WHERE id = $1 AND lease = $2 AND status IN ('assigned', 'in_progress')",
        id,
        lease,
        progress,
        now
    )?;
    Ok(changed == 1)
}

/// The oldest pending tasks for these models, at most `limit`.
pub async fn pending(
    db: &Database,
    models: &[String],
    limit: u32,
) -> Result<Vec<TaskRecord>, StoreError> {
    if models.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = crate::sql::strings(models.iter().map(String::as_str));
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE status = 'pending' \
         AND model IN ({}) ORDER BY created_at, id LIMIT $2",
        crate::sql::json_list(db.backend(), 1)
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(&wanted)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Leased tasks whose lease ran out before `now`, or that were leased
/// before `leased_before` (a run longer than any task may take), at most
/// `limit`.
pub async fn expired(
    db: &Database,
    now: i64,
    leased_before: i64,
    limit: u32,
) -> Result<Vec<TaskRecord>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE status IN ('assigned', 'in_progress') \
         AND (lease_until < $1 OR leased_at < $3) ORDER BY lease_until LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(now)
        .bind(i64::from(limit))
        .bind(leased_before)
        .fetch_all(pool)
        .await)?)
}

/// The tasks a node holds now.
pub async fn leased_to(db: &Database, node_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE node_id = $1 \
         AND status IN ('assigned', 'in_progress')"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(node_id).fetch_all(pool).await)?)
}

/// A node's heartbeat: it is alive at `now`, and the tasks its connection
/// runs keep their leases until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub node_id: String,
    pub now: i64,
    /// Only the tasks its connection runs, so a task it lost track of (a
    /// reconnection) is not kept alive by heartbeats for others.
    pub running: Vec<String>,
    pub until: i64,
}

/// Records heartbeats, in one transaction of at most two statements.
pub async fn record_heartbeats(db: &Database, beats: &[Heartbeat]) -> Result<(), StoreError> {
    // One row per node and per task, each the latest: a statement updating
    // from several rows for one target picks any of them.
    let mut seen: HashMap<&str, i64> = HashMap::new();
    let mut renewals: HashMap<(&str, &str), i64> = HashMap::new();
    for beat in beats {
        let last = seen.entry(&beat.node_id).or_insert(beat.now);
        *last = (*last).max(beat.now);
        for task in &beat.running {
            let until = renewals.entry((task, &beat.node_id)).or_insert(beat.until);
            *until = (*until).max(beat.until);
        }
    }
    let rows_of = crate::sql::json_rows(db.backend(), 1);
    let seen = crate::sql::json(
        seen.into_iter()
            .map(|(node, now)| serde_json::json!({ "node": node, "now": now })),
    );
    let touch = format!(
        "UPDATE compute_nodes SET last_seen = w.now \
         FROM (SELECT j.value ->> 'node' AS id, CAST(j.value ->> 'now' AS BIGINT) AS now \
           FROM {rows_of}) AS w WHERE compute_nodes.id = w.id"
    );
    let mut tx = db.begin_write().await?;
    with_tx!(&mut tx, conn => sqlx::query(&touch).bind(&seen).execute(&mut *conn).await.map(drop))?;
    if !renewals.is_empty() {
        // Only a lease the node still holds, and never shortened. The
        // status is matched as an expression: as a column SQLite would
        // scan every running task by it and look each up in the batch.
        let renewals = crate::sql::json(renewals.into_iter().map(|((task, node), until)| {
            serde_json::json!({ "task": task, "node": node, "until": until })
        }));
        let renew = format!(
            "UPDATE compute_tasks SET lease_until = w.until \
             FROM (SELECT j.value ->> 'task' AS id, j.value ->> 'node' AS node_id, \
               CAST(j.value ->> 'until' AS BIGINT) AS until FROM {rows_of}) AS w \
             WHERE compute_tasks.id = w.id AND compute_tasks.node_id = w.node_id \
             AND compute_tasks.status || '' IN ('assigned', 'in_progress') \
             AND compute_tasks.lease_until < w.until"
        );
        with_tx!(&mut tx, conn => sqlx::query(&renew)
            .bind(&renewals)
            .execute(&mut *conn)
            .await
            .map(drop))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Completed tasks whose operator's reward is not recorded yet (a crash
/// between completing and crediting, or a check just judged), at most
/// `limit`; tasks waiting for their check, and checks not judged yet, are
/// not among them (a check is paid by its verdict).
pub async fn unrewarded(db: &Database, limit: u32) -> Result<Vec<TaskRecord>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE status = 'completed' AND reward IS NULL \
         AND ((verdict IS NULL AND verifies IS NULL) OR verdict <> 'pending') \
         ORDER BY completed_at LIMIT $1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// A completed task's reward, to record once on the task and the node
/// that ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardWrite {
    pub task_id: String,
    pub node_id: String,
    pub reward: i64,
}

/// Records each completed task's reward and counts it, with the points, to
/// the node that ran it, in one transaction of two statements; answers, in
/// order, whether each was written (false: the task's reward was recorded
/// before, or earlier in the batch).
pub async fn record_rewards(
    db: &Database,
    rewards: &[RewardWrite],
) -> Result<Vec<bool>, StoreError> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (at, reward) in rewards.iter().enumerate() {
        first.entry(&reward.task_id).or_insert(at);
    }
    let rows_of = crate::sql::json_rows(db.backend(), 1);
    let rows = crate::sql::json(first.values().map(|&at| {
        let reward = &rewards[at];
        serde_json::json!({ "task": reward.task_id, "reward": reward.reward })
    }));
    // "Not recorded yet" is written so that no planner reads it as the
    // unpaid tasks' partial index: PostgreSQL, before its statistics, took
    // that index over the primary key and walked every unpaid entry (and
    // the dead ones not vacuumed yet) for each batch.
    let record = format!(
        "UPDATE compute_tasks SET reward = w.reward \
         FROM (SELECT j.value ->> 'task' AS id, CAST(j.value ->> 'reward' AS BIGINT) AS reward \
           FROM {rows_of}) AS w \
         WHERE compute_tasks.id = w.id \
         AND CASE WHEN compute_tasks.reward IS NULL THEN 1 END = 1 RETURNING compute_tasks.id"
    );
    let mut tx = db.begin_write().await?;
    let recorded: Vec<(String,)> = with_tx!(&mut tx, conn => sqlx::query_as(&record)
        .bind(&rows)
        .fetch_all(&mut *conn)
        .await)?;
    let mut written = vec![false; rewards.len()];
    let mut per_node: HashMap<&str, (i64, i64)> = HashMap::new();
    for (task_id,) in &recorded {
        let at = first[task_id.as_str()];
        written[at] = true;
        let counted = per_node.entry(&rewards[at].node_id).or_default();
        counted.0 += 1;
        counted.1 += rewards[at].reward;
    }
    if !per_node.is_empty() {
        let counts = crate::sql::json(per_node.into_iter().map(|(node, (tasks, earned))| {
            serde_json::json!({ "node": node, "tasks": tasks, "earned": earned })
        }));
        let count = format!(
            "UPDATE compute_nodes SET tasks_completed = compute_nodes.tasks_completed + w.tasks, \
             earned = compute_nodes.earned + w.earned \
             FROM (SELECT j.value ->> 'node' AS id, CAST(j.value ->> 'tasks' AS BIGINT) AS tasks, \
               CAST(j.value ->> 'earned' AS BIGINT) AS earned FROM {rows_of}) AS w \
             WHERE compute_nodes.id = w.id"
        );
        with_tx!(&mut tx, conn => sqlx::query(&count)
            .bind(&counts)
            .execute(&mut *conn)
            .await
            .map(drop))?;
    }
    tx.commit().await?;
    Ok(written)
}

/// [`record_rewards`] for one task.
pub async fn record_reward(db: &Database, reward: &RewardWrite) -> Result<bool, StoreError> {
    Ok(record_rewards(db, std::slice::from_ref(reward)).await?[0])
}

/// How many tasks are in each status.
pub async fn task_counts(db: &Database) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT status, COUNT(*) FROM compute_tasks GROUP BY status",
    )
    .fetch_all(pool)
    .await)?)
}

/// Tasks completed per minute since `since` (unix seconds):
/// `(minute, count)` for the minutes that had any, oldest first.
pub async fn completed_per_minute(
    db: &Database,
    since: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT completed_at / 60 AS minute, COUNT(*) FROM compute_tasks \
         WHERE completed_at >= $1 AND status = 'completed' GROUP BY minute ORDER BY minute",
    )
    .bind(since)
    .fetch_all(pool)
    .await)?)
}

/// An account's tasks by status: `(status, count, tokens)`.
pub async fn task_totals(
    db: &Database,
    account_id: &str,
) -> Result<Vec<(String, i64, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT status, COUNT(*), CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) \
         FROM compute_tasks WHERE account_id = $1 GROUP BY status",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await)?)
}

/// Records what a check found on a task (and on its check).
pub async fn set_verdict(db: &Database, id: &str, verdict: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE compute_tasks SET verdict = $2 WHERE id = $1",
        id,
        verdict
    )?;
    Ok(())
}

/// Counts a check on a node ($1): its reputation moves by $3 (kept within
/// 0 to 1000), a disagreement ($2 = 1) is counted, and a disagreement that
/// makes $4 or more flags it (again, after a review cleared the flag; an
/// agreement never does).
const COUNT_CHECK: &str = "UPDATE compute_nodes SET checks = checks + 1, \
     mismatches = mismatches + $2, \
     reputation = CASE WHEN reputation + $3 > 1000 THEN 1000 WHEN reputation + $3 < 0 THEN 0 \
     ELSE reputation + $3 END, \
     flagged = CASE WHEN $2 > 0 AND mismatches + $2 >= $4 THEN 1 ELSE flagged END \
     WHERE id = $1";

/// Counts a check on a node: its reputation moves by `delta` (kept within
/// 0 to 1000), a disagreement is counted, and a disagreement that makes
/// `flag_after` or more flags it (again, after a review cleared the flag;
/// an agreement never does).
pub async fn record_check(
    db: &Database,
    node_id: &str,
    agreed: bool,
    delta: i64,
    flag_after: i64,
) -> Result<(), StoreError> {
    execute!(
        db,
        COUNT_CHECK,
        node_id,
        i64::from(!agreed),
        delta,
        flag_after
    )?;
    Ok(())
}

/// What an agreement or a disagreement counts on each node that ran the
/// checked task or its check (see [`record_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckCount {
    pub agreed: bool,
    pub delta: i64,
    pub flag_after: i64,
}

/// Records a check's verdict on the check and on the task it checks and,
/// with `count`, counts it on `nodes`, in one transaction and once: the
/// verdict claims the check, so a second judge of it (the sweep racing the
/// node's completion, or another instance) writes nothing and gets false.
pub async fn record_verdict(
    db: &Database,
    check_id: &str,
    original_id: &str,
    verdict: &str,
    count: Option<CheckCount>,
    nodes: &[&str],
) -> Result<bool, StoreError> {
    const SET: &str = "UPDATE compute_tasks SET verdict = $2 WHERE id = $1";
    const CLAIM: &str = "UPDATE compute_tasks SET verdict = $2 WHERE id = $1 AND verdict IS NULL";
    let mut tx = db.begin_write().await?;
    let claimed = with_tx!(&mut tx, conn => sqlx::query(CLAIM)
        .bind(check_id)
        .bind(verdict)
        .execute(&mut *conn)
        .await
        .map(|done| done.rows_affected()))?;
    if claimed == 0 {
        return Ok(false);
    }
    with_tx!(&mut tx, conn => sqlx::query(SET)
        .bind(original_id)
        .bind(verdict)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    if let Some(count) = count {
        for node in nodes {
            with_tx!(&mut tx, conn => sqlx::query(COUNT_CHECK)
                .bind(*node)
                .bind(i64::from(!count.agreed))
                .bind(count.delta)
                .bind(count.flag_after)
                .execute(&mut *conn)
                .await
                .map(drop))?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Completed checks not judged yet (a crash after the check completed).
pub async fn unjudged_checks(db: &Database, limit: u32) -> Result<Vec<TaskRecord>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE status = 'completed' \
         AND verifies IS NOT NULL AND verdict IS NULL ORDER BY completed_at LIMIT $1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Checks still pending since before `before`: no other node took them.
pub async fn stale_checks(
    db: &Database,
    before: i64,
    limit: u32,
) -> Result<Vec<TaskRecord>, StoreError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM compute_tasks WHERE status = 'pending' \
         AND verifies IS NOT NULL AND created_at < $1 ORDER BY created_at LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend, PoolOptions};

    async fn node_of_a_new_operator(db: &Database) -> NodeRecord {
        for (id, role) in [("op", "node_operator"), ("root", "admin")] {
            accounts::insert(
                db,
                NewAccount {
                    id,
                    email: Some(&format!("{id}@example.org")),
                    email_skeleton: None,
                    password_hash: None,
                    wallet_address: None,
                    telegram_id: None,
                    role,
                    now: 1,
                },
            )
            .await
            .unwrap();
        }
        let new = NewNode {
            id: "n1",
            account_id: "op",
            name: "n",
            models: "[\"m\"]",
            capacity: 1,
            now: 1,
        };
        register_node(db, new).await.unwrap()
    }

    /// The platform's own tasks "a" and "b", pending.
    async fn two_pending_tasks(db: &Database) {
        for id in ["a", "b"] {
            let new = NewTask {
                id,
                account_id: None,
                idempotency_key: id,
                request_id: None,
                kind: "chat",
                model: "m",
                input: "{}",
                max_attempts: 3,
                verifies: None,
                exclude_operator: None,
                open_limit: None,
                now: 1,
            };
            insert_task(db, new).await.unwrap();
        }
    }

    /// Task `id`, pending under `from_lease`, leased to node "n1".
    fn lease_to_n1(id: &str, from_lease: i64) -> TaskWrite {
        TaskWrite {
            id: id.to_owned(),
            from_status: "pending".to_owned(),
            from_lease,
            status: "assigned".to_owned(),
            lease: from_lease + 1,
            node_id: Some("n1".to_owned()),
            lease_until: 60,
            leased_at: Some(2),
            failures: 0,
            error: None,
            progress: 0,
            output: None,
            input_tokens: 0,
            output_tokens: 0,
            completed_at: None,
            now: 2,
        }
    }

    fn review<'a>(id: &'a str, decision: &'a str, amount: Option<&'a str>) -> NewReview<'a> {
        NewReview {
            id,
            node_id: "n1",
            reviewer_id: "root",
            decision,
            amount,
            reason: "copies",
            now: 5,
        }
    }

    #[test]
    fn a_tasks_nth_write_in_a_batch_goes_in_the_nth_round() {
        let ids = ["a", "b", "a", "c", "a", "b"];
        assert_eq!(
            distinct_rounds(ids.into_iter()),
            vec![vec![0, 1, 3], vec![2, 5], vec![4]]
        );
    }

    test_both_backends! {
        async fn a_check_is_judged_once_and_neither_task_is_paid_before(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            node_of_a_new_operator(&db).await;
            let task = |id, verifies| NewTask { id, account_id: None, idempotency_key: id, request_id: None,
                kind: "chat", model: "m", input: "{}", max_attempts: 3, verifies, exclude_operator: None,
                open_limit: None, now: 1 };
            insert_task(&db, task("a", None)).await.unwrap();
            queue_check(&db, "a", "pending", &task("c", Some("a"))).await.unwrap();
            for id in ["a", "c"] {
                assert!(apply(&db, &lease_to_n1(id, 0)).await.unwrap());
                let done = TaskWrite { from_status: "assigned".to_owned(), from_lease: 1,
                    status: "completed".to_owned(), output: Some("{}".to_owned()), completed_at: Some(3),
                    ..lease_to_n1(id, 0) };
                assert!(apply(&db, &done).await.unwrap());
            }
            let unpaid = async || -> Vec<String> {
                let mut ids: Vec<String> = unrewarded(&db, 10).await.unwrap().into_iter().map(|t| t.id).collect();
                ids.sort();
                ids
            };
            assert!(unpaid().await.is_empty(), "the task waits for its verdict, and so does its check");

            // The sweep and the check's completion judge it at once.
            let count = Some(CheckCount { agreed: false, delta: -100, flag_after: 3 });
            let judge = || record_verdict(&db, "c", "a", "disagreed", count, &["n1"]);
            let (one, other) = tokio::join!(judge(), judge());
            let judged = [one.unwrap(), other.unwrap()];
            assert_eq!(judged.iter().filter(|&&won| won).count(), 1, "{judged:?}");
            assert!(!judge().await.unwrap(), "and later");
            let node = get_node(&db, "n1").await.unwrap().unwrap();
            assert_eq!((node.checks, node.mismatches), (1, 1));
            for id in ["a", "c"] {
                let task = get_task(&db, id).await.unwrap().unwrap();
                assert_eq!(task.verdict.as_deref(), Some("disagreed"));
            }
            assert_eq!(unpaid().await, ["a", "c"], "both settled once judged");
            db.close().await;
        }

        async fn a_flag_is_reviewed_once_and_a_slash_is_queued_with_its_review(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            node_of_a_new_operator(&db).await;

            // Not flagged: nothing to review, nothing written.
            assert_eq!(review_node(&db, review("r0", "cleared", None), None).await.unwrap(), None);

            for _ in 0..3 {
                record_check(&db, "n1", false, 100, 3).await.unwrap();
            }
            assert_eq!(get_node(&db, "n1").await.unwrap().unwrap().flagged, 1);
            let slash = NewTx { id: "t1", idempotency_key: "slash:r1", kind: "slash", to_address: "0x01", calldata: "0x", now: 5 };
            let recorded = review_node(&db, review("r1", "slashed", Some("1000")), Some(slash)).await.unwrap().unwrap();
            assert_eq!(recorded.tx_id.as_deref(), Some("t1"));
            assert_eq!(recorded.amount.as_deref(), Some("1000"));
            assert_eq!(get_node(&db, "n1").await.unwrap().unwrap().flagged, 0);
            assert_eq!(chain_txs::get(&db, "t1").await.unwrap().unwrap().status, "queued");

            // A second admin, a moment later: the flag is gone, and so is
            // their slash (not queued without a review).
            let late = NewTx { id: "t2", idempotency_key: "slash:r2", kind: "slash", to_address: "0x01", calldata: "0x", now: 6 };
            assert_eq!(review_node(&db, review("r2", "slashed", Some("5")), Some(late)).await.unwrap(), None);
            assert_eq!(chain_txs::get(&db, "t2").await.unwrap(), None);
            assert_eq!(reviews_of(&db, "n1").await.unwrap(), vec![recorded]);

            // After the review, agreeing does not flag it again; the next
            // disagreement does.
            record_check(&db, "n1", true, 10, 3).await.unwrap();
            assert_eq!(get_node(&db, "n1").await.unwrap().unwrap().flagged, 0);
            record_check(&db, "n1", false, -100, 3).await.unwrap();
            assert_eq!(get_node(&db, "n1").await.unwrap().unwrap().flagged, 1);
            db.close().await;
        }

        async fn submissions_in_one_batch_replay_their_keys_and_keep_to_the_open_limit(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            node_of_a_new_operator(&db).await;
            let submit = |id: &'static str, key: &'static str| NewTask { id, account_id: Some("op"),
                idempotency_key: key, request_id: None, kind: "chat", model: "m", input: "{}",
                max_attempts: 3, verifies: None, exclude_operator: None, open_limit: Some(2), now: 1 };
            // The limit counts what the batch itself stored; a replay is
            // answered even at the limit.
            let answers = insert_tasks(&db, &[submit("a", "k1"), submit("b", "k1"), submit("c", "k2"),
                                               submit("d", "k3"), submit("e", "k2")]).await.unwrap();
            let ids: Vec<String> = answers.iter().map(|a| match a {
                Inserted::Created(t) => format!("created {}", t.id),
                Inserted::Replayed(t) => format!("replayed {}", t.id),
                Inserted::AtLimit => "at limit".to_owned(),
            }).collect();
            assert_eq!(ids, ["created a", "replayed a", "created c", "at limit", "replayed c"]);
            assert_eq!(get_task(&db, "d").await.unwrap(), None, "nothing stored at the limit");
            db.close().await;
        }

        async fn a_check_is_queued_with_its_tasks_verdict(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            node_of_a_new_operator(&db).await;
            let task = |id, verifies| NewTask { id, account_id: None, idempotency_key: id, request_id: None,
                kind: "chat", model: "m", input: "{}", max_attempts: 3, verifies, exclude_operator: Some("op"),
                open_limit: None, now: 1 };
            insert_task(&db, task("a", None)).await.unwrap();
            queue_check(&db, "a", "pending", &task("c", Some("a"))).await.unwrap();
            assert_eq!(get_task(&db, "a").await.unwrap().unwrap().verdict.as_deref(), Some("pending"));
            let check = get_task(&db, "c").await.unwrap().unwrap();
            assert_eq!((check.status.as_str(), check.verifies.as_deref(), check.exclude_operator.as_deref()),
                ("pending", Some("a"), Some("op")));
            db.close().await;
        }

        async fn a_batch_writes_each_transition_still_current_and_refuses_stale_ones(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            node_of_a_new_operator(&db).await;
            two_pending_tasks(&db).await;
            let assign = lease_to_n1;
            // "b" was computed from a lease it no longer holds; "a" twice in
            // one batch: the second write finds the first's.
            let written = apply_batch(&db, &[assign("a", 0), assign("b", 7), assign("a", 0)]).await.unwrap();
            assert_eq!(written, vec![true, false, false]);
            let a = get_task(&db, "a").await.unwrap().unwrap();
            assert_eq!((a.status.as_str(), a.lease, a.node_id.as_deref()), ("assigned", 1, Some("n1")));
            let b = get_task(&db, "b").await.unwrap().unwrap();
            assert_eq!((b.status.as_str(), b.lease, b.node_id), ("pending", 0, None));

            // Started and completed in the batch that leases it: each write
            // meets the one before.
            let start = TaskWrite { from_status: "assigned".to_owned(), from_lease: 1,
                status: "in_progress".to_owned(), ..assign("b", 0) };
            let complete = TaskWrite { from_status: "in_progress".to_owned(), from_lease: 1,
                status: "completed".to_owned(), output: Some("{}".to_owned()), completed_at: Some(3),
                ..assign("b", 0) };
            let written = apply_batch(&db, &[assign("b", 0), start.clone(), complete, start]).await.unwrap();
            assert_eq!(written, vec![true, true, true, false]);
            let b = get_task(&db, "b").await.unwrap().unwrap();
            assert_eq!((b.status.as_str(), b.lease, b.output.as_deref(), b.completed_at),
                ("completed", 1, Some("{}"), Some(3)));
            db.close().await;
        }

        async fn heartbeats_renew_only_the_leases_their_node_holds_and_never_shorten_one(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            node_of_a_new_operator(&db).await;
            two_pending_tasks(&db).await;
            assert!(apply(&db, &lease_to_n1("a", 0)).await.unwrap());
            let beat = |now, until, running: &[&str]| Heartbeat { node_id: "n1".to_owned(), now,
                running: running.iter().map(|t| (*t).to_owned()).collect(), until };
            // Two beats of one node in a batch: the later counts. "b" is
            // pending, not the node's: untouched.
            record_heartbeats(&db, &[beat(10, 90, &["a", "b"]), beat(5, 70, &["a"])]).await.unwrap();
            assert_eq!(get_node(&db, "n1").await.unwrap().unwrap().last_seen, Some(10));
            assert_eq!(get_task(&db, "a").await.unwrap().unwrap().lease_until, 90);
            assert_eq!(get_task(&db, "b").await.unwrap().unwrap().lease_until, 0);
            record_heartbeats(&db, &[beat(11, 80, &["a"])]).await.unwrap();
            assert_eq!(get_task(&db, "a").await.unwrap().unwrap().lease_until, 90, "never shortened");
            db.close().await;
        }

        async fn a_reward_is_recorded_and_counted_to_its_node_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            node_of_a_new_operator(&db).await;
            two_pending_tasks(&db).await;
            let reward = |task: &str, reward| RewardWrite { task_id: task.to_owned(), node_id: "n1".to_owned(), reward };
            let written = record_rewards(&db, &[reward("a", 5), reward("b", 7), reward("a", 9)]).await.unwrap();
            assert_eq!(written, vec![true, true, false]);
            assert!(!record_reward(&db, &reward("b", 7)).await.unwrap());
            let node = get_node(&db, "n1").await.unwrap().unwrap();
            assert_eq!((node.tasks_completed, node.earned), (2, 12));
            assert_eq!(get_task(&db, "a").await.unwrap().unwrap().reward, Some(5));
            db.close().await;
        }
    }
}

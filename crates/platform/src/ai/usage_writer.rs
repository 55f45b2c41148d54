//! Group commit for usage records. Every AI request writes one row before
//! its answer is complete; thousands a second, each its own transaction,
//! would queue on SQLite's single write lock (and sleep in its busy
//! handler). One task writes instead: whatever requests are waiting go in
//! one transaction, and each request still waits until its own row is
//! committed, so nothing is answered before it is accounted for.

use meritree_store::ai_usage::{self as store, NewUsage, UsageStatus};
use meritree_store::{Database, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Rows per transaction at most: bounds one commit's latency.
const MAX_BATCH: usize = 256;
/// Requests waiting for the writer at most; more wait to be queued.
const QUEUE: usize = 4_096;

/// A usage row that owns its fields, to cross to the writer task.
#[derive(Debug, Clone)]
pub(crate) struct PendingUsage {
    pub id: String,
    pub request_id: String,
    pub account_id: String,
    pub api_key_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub public_model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
    pub cached: bool,
    pub status: UsageStatus,
    pub now: i64,
}

impl PendingUsage {
    fn row(&self) -> NewUsage<'_> {
        NewUsage {
            id: &self.id,
            request_id: &self.request_id,
            account_id: &self.account_id,
            api_key_id: self.api_key_id.as_deref(),
            provider: &self.provider,
            model: &self.model,
            public_model: &self.public_model,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_nanos: self.cost_nanos,
            cached: self.cached,
            status: self.status,
            now: self.now,
        }
    }
}

struct Job {
    usage: PendingUsage,
    done: oneshot::Sender<Result<bool, StoreError>>,
}

/// The handle requests write through; the task ends once every handle is
/// dropped and the queue is drained.
#[derive(Debug, Clone)]
pub(crate) struct UsageWriter {
    queue: mpsc::Sender<Job>,
}

impl UsageWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub fn spawn(db: Database) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, jobs));
        Self { queue }
    }

    /// Writes `usage` with whatever else is waiting; whether this call wrote
    /// it (`false`: its request id was recorded before).
    pub async fn write(&self, usage: PendingUsage) -> Result<bool, StoreError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Job { usage, done })
            .await
            .map_err(|_| writer_gone())?;
        written.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::WriterStopped
}

async fn run(db: Database, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        if jobs.len() > 1 {
            let rows: Vec<NewUsage<'_>> = jobs.iter().map(|job| job.usage.row()).collect();
            let batch = store::insert_batch(&db, &rows).await;
            drop(rows);
            match batch {
                Ok(written) => {
                    for (job, written) in jobs.drain(..).zip(written) {
                        let _ = job.done.send(Ok(written));
                    }
                    continue;
                }
                // One bad row (an account deleted meanwhile) must not fail
                // the others: each is written alone and gets its own answer.
                Err(error) => {
                    tracing::warn!(%error, rows = jobs.len(), "usage batch failed; writing rows one by one")
                }
            }
        }
        for job in jobs.drain(..) {
            let written = store::insert(&db, job.usage.row()).await;
            let _ = job.done.send(written);
        }
    }
}

//! Group commit for usage records. Every AI request writes one row before
//! its answer is complete; thousands a second, each its own transaction,
//! would queue on SQLite's single write lock (and sleep in its busy
//! handler). One task writes instead: whatever requests are waiting go in
//! one transaction, and each request still waits until its own row is
//! committed, so nothing is answered before it is accounted for.

use meritree_store::ai_usage::{self as store, NewUsage};
use meritree_store::{Database, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::usage::UsageRecord;

/// Rows per transaction at most: bounds one commit's latency.
const MAX_BATCH: usize = 256;
/// Requests waiting for the writer at most; more wait to be queued.
const QUEUE: usize = 4_096;

/// A record on its way to the writer task, with its row id and time.
struct Job {
    record: UsageRecord,
    id: String,
    now: i64,
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

    /// Writes `record` (row `id`, time `now`) with whatever else is waiting;
    /// whether this call wrote it (`false`: its request id was recorded before).
    pub async fn write(
        &self,
        record: UsageRecord,
        id: String,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Job {
                record,
                id,
                now,
                done,
            })
            .await
            .map_err(|_| writer_gone())?;
        written.await.map_err(|_| writer_gone())?
    }
}

impl Job {
    fn row(&self) -> NewUsage<'_> {
        self.record.row(&self.id, self.now)
    }
}

fn writer_gone() -> StoreError {
    StoreError::WriterStopped
}

async fn run(db: Database, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        if jobs.len() > 1 {
            let rows: Vec<NewUsage<'_>> = jobs.iter().map(Job::row).collect();
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
            let written = store::insert(&db, job.row()).await;
            let _ = job.done.send(written);
        }
    }
}

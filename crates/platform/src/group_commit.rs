//! Group commit: one task writes for many callers. Whatever jobs are
//! waiting go in one transaction, so thousands of small writes a second do
//! not each queue for SQLite's single write lock (and sleep in its busy
//! handler); each caller still waits until its own job is committed, so
//! nothing is answered before it is written. Used by the AI usage records
//! and the points ledger.

use std::future::Future;

use meritree_store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Jobs per transaction at most: bounds one commit's latency.
const MAX_BATCH: usize = 256;
/// Jobs waiting for the writer at most; more wait to be queued.
const QUEUE: usize = 4_096;

/// How a kind of job is written: many in one transaction, or one alone.
pub(crate) trait Sink: Send + Sync + 'static {
    type Job: Send + Sync + 'static;
    type Done: Send + 'static;

    /// Writes every job in one transaction, answering each in order; an
    /// error writes none of them.
    fn batch(
        &self,
        jobs: &[Self::Job],
    ) -> impl Future<Output = Result<Vec<Self::Done>, StoreError>> + Send;

    fn one(&self, job: &Self::Job) -> impl Future<Output = Result<Self::Done, StoreError>> + Send;
}

type Queued<S> = (
    <S as Sink>::Job,
    oneshot::Sender<Result<<S as Sink>::Done, StoreError>>,
);

/// The handle callers write through; the task ends once every handle is
/// dropped and the queue is drained.
pub(crate) struct GroupCommit<S: Sink> {
    queue: mpsc::Sender<Queued<S>>,
}

impl<S: Sink> Clone for GroupCommit<S> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<S: Sink> std::fmt::Debug for GroupCommit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<S: Sink> GroupCommit<S> {
    /// Starts the writer task on the current Tokio runtime.
    pub fn spawn(sink: S) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(sink, jobs));
        Self { queue }
    }

    /// Writes `job` with whatever else is waiting, once it is committed.
    pub async fn write(&self, job: S::Job) -> Result<S::Done, StoreError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send((job, done))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        written.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run<S: Sink>(sink: S, mut queue: mpsc::Receiver<Queued<S>>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (jobs, answers): (Vec<S::Job>, Vec<_>) = waiting.drain(..).unzip();
        if jobs.len() > 1 {
            match sink.batch(&jobs).await {
                Ok(done) => {
                    for (answer, done) in answers.into_iter().zip(done) {
                        let _ = answer.send(Ok(done));
                    }
                    continue;
                }
                // One bad job (an account deleted meanwhile) must not fail
                // the others: each is written alone and gets its own answer.
                Err(error) => {
                    tracing::warn!(%error, jobs = jobs.len(), "batch failed; writing its jobs one by one")
                }
            }
        }
        for (job, answer) in jobs.iter().zip(answers) {
            let _ = answer.send(sink.one(job).await);
        }
    }
}

//! Group commit: one task writes for many callers. Whatever jobs are
//! waiting go in one transaction, so thousands of small writes a second do
//! not each queue for SQLite's single write lock (and sleep in its busy
//! handler). A caller either waits until its own job is committed
//! ([`GroupCommit::write`]: the points ledger, compute tasks) or only until
//! it is queued ([`GroupCommit::queue`]: AI usage rows, so an answer does
//! not wait for the disk); [`GroupCommit::flush`] waits for everything
//! queued before it, so a read that follows a flush sees every queued job
//! that could be written.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use meritree_store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Jobs per transaction at most: bounds one commit's latency.
const MAX_BATCH: usize = 256;
/// Jobs waiting for the writer at most; more wait to be queued.
const QUEUE: usize = 4_096;
/// Pauses before a queued job, whose caller is no longer waiting, is
/// written again after its write failed; it is logged as lost after the
/// last. Writing a job twice must be harmless (every sink's job carries
/// its own id).
const QUEUED_RETRIES: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

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

type Answer<S> = oneshot::Sender<Result<<S as Sink>::Done, StoreError>>;

enum Entry<S: Sink> {
    /// A job, with where to answer when its caller waits for the commit.
    Job(S::Job, Option<Answer<S>>),
    /// Answered once every job queued before it is written (or lost).
    Flush(oneshot::Sender<()>),
}

/// The handle callers write through; the task ends once every handle is
/// dropped and the queue is drained.
pub(crate) struct GroupCommit<S: Sink> {
    queue: mpsc::Sender<Entry<S>>,
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
        let (queue, entries) = mpsc::channel(QUEUE);
        tokio::spawn(run(sink, entries));
        Self { queue }
    }

    /// Writes `job` with whatever else is waiting, once it is committed.
    pub async fn write(&self, job: S::Job) -> Result<S::Done, StoreError> {
        let (done, written) = oneshot::channel();
        self.send(Entry::Job(job, Some(done))).await?;
        written.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Queues `job` and returns: it is written with the next batch, retried
    /// if that fails, and logged if it is lost.
    pub async fn queue(&self, job: S::Job) -> Result<(), StoreError> {
        self.send(Entry::Job(job, None)).await
    }

    /// Once every job queued before this call is written, or has failed
    /// once (it is then retried in the background).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, flushed) = oneshot::channel();
        self.send(Entry::Flush(done)).await?;
        flushed.await.map_err(|_| StoreError::WriterStopped)
    }

    async fn send(&self, entry: Entry<S>) -> Result<(), StoreError> {
        self.queue
            .send(entry)
            .await
            .map_err(|_| StoreError::WriterStopped)
    }
}

async fn run<S: Sink>(sink: S, mut queue: mpsc::Receiver<Entry<S>>) {
    let sink = Arc::new(sink);
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let mut jobs = Vec::with_capacity(waiting.len());
        let mut answers = Vec::with_capacity(waiting.len());
        let mut flushes = Vec::new();
        for entry in waiting.drain(..) {
            match entry {
                Entry::Job(job, answer) => {
                    jobs.push(job);
                    answers.push(answer);
                }
                Entry::Flush(done) => flushes.push(done),
            }
        }
        commit(&sink, jobs, answers).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn commit<S: Sink>(sink: &Arc<S>, jobs: Vec<S::Job>, answers: Vec<Option<Answer<S>>>) {
    if jobs.len() > 1 {
        match sink.batch(&jobs).await {
            Ok(done) => {
                for (answer, done) in answers.into_iter().zip(done) {
                    if let Some(answer) = answer {
                        let _ = answer.send(Ok(done));
                    }
                }
                return;
            }
            // One bad job (an account deleted meanwhile) must not fail
            // the others: each is written alone and gets its own answer.
            Err(error) => {
                tracing::warn!(%error, jobs = jobs.len(), "batch failed; writing its jobs one by one")
            }
        }
    }
    for (job, answer) in jobs.into_iter().zip(answers) {
        match answer {
            Some(answer) => {
                let _ = answer.send(sink.one(&job).await);
            }
            None => {
                if let Err(error) = sink.one(&job).await {
                    retry_later(sink.clone(), job, error);
                }
            }
        }
    }
}

/// Nobody waits for a queued job's answer, so a failed write is retried
/// rather than reported: off the writer's loop, so a failing job does not
/// hold up every write queued after it.
fn retry_later<S: Sink>(sink: Arc<S>, job: S::Job, error: StoreError) {
    tracing::warn!(%error, "queued write failed; retrying it");
    tokio::spawn(async move {
        let mut last = error;
        for pause in QUEUED_RETRIES {
            tokio::time::sleep(pause).await;
            match sink.one(&job).await {
                Ok(_) => return,
                Err(error) => last = error,
            }
        }
        tracing::error!(error = %last, "queued write lost after {} retries", QUEUED_RETRIES.len());
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Keeps what it wrote; fails its next `failures` writes.
    #[derive(Clone, Default)]
    struct Memory {
        written: Arc<Mutex<Vec<u32>>>,
        failures: Arc<AtomicUsize>,
    }

    impl Memory {
        fn fail(&self) -> Result<(), StoreError> {
            let failing = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            match failing {
                Ok(_) => Err(StoreError::WriterStopped),
                Err(_) => Ok(()),
            }
        }

        fn written(&self) -> Vec<u32> {
            let mut written = self.written.lock().unwrap().clone();
            written.sort_unstable();
            written
        }
    }

    impl Sink for Memory {
        type Job = u32;
        type Done = ();

        async fn batch(&self, jobs: &[u32]) -> Result<Vec<()>, StoreError> {
            self.fail()?;
            self.written.lock().unwrap().extend(jobs);
            Ok(vec![(); jobs.len()])
        }

        async fn one(&self, job: &u32) -> Result<(), StoreError> {
            self.fail()?;
            self.written.lock().unwrap().push(*job);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_flush_returns_once_everything_queued_before_it_is_written() {
        let memory = Memory::default();
        let writer = GroupCommit::spawn(memory.clone());
        for job in 0..1_000 {
            writer.queue(job).await.unwrap();
        }
        writer.flush().await.unwrap();
        assert_eq!(memory.written(), (0..1_000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_queued_job_whose_write_fails_is_written_again() {
        let memory = Memory::default();
        let writer = GroupCommit::spawn(memory.clone());
        // Its first write fails; the writer goes on meanwhile, and the job
        // is written by its retry.
        memory.failures.store(1, Ordering::SeqCst);
        writer.queue(7).await.unwrap();
        writer.flush().await.unwrap();
        writer.write(8).await.unwrap();
        assert_eq!(memory.written(), vec![8]);
        for _ in 0..100 {
            if memory.written() == vec![7, 8] {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the failed job was not written again: {:?}",
            memory.written()
        );
    }

    #[tokio::test]
    async fn a_waiting_caller_is_told_its_write_failed_and_others_are_kept() {
        let memory = Memory::default();
        let writer = GroupCommit::spawn(memory.clone());
        memory.failures.store(1, Ordering::SeqCst);
        assert!(writer.write(1).await.is_err());
        writer.write(2).await.unwrap();
        assert_eq!(memory.written(), vec![2]);
    }
}

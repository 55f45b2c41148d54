//! Group commit: one task writes for many callers. Whatever jobs are
//! waiting go in one transaction, so thousands of small writes a second do
//! not each queue for SQLite's single write lock (and sleep in its busy
//! handler). A caller either waits until its own job is committed
//! ([`GroupCommit::write`]: the points ledger, compute tasks) or only until
//! it is queued ([`GroupCommit::queue`]: AI usage rows, so an answer does
//! not wait for the disk); [`GroupCommit::flush`] waits for everything
//! queued before it, so a read that follows a flush sees every queued job
//! that could be written. Queued jobs linger a moment for company: a
//! batch nobody waits on waits up to [`LINGER`] to fill, so a busy gateway
//! writes its usage rows a hundred to a transaction rather than a few.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use meritree_store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Jobs per transaction at most: bounds one commit's latency.
const MAX_BATCH: usize = 256;
/// Jobs waiting for the writer at most; more wait to be queued.
const QUEUE: usize = 4_096;
/// How long a batch of queued jobs, none of whose callers waits, waits for
/// more before it is written. Per-transaction work (re-reading pages another
/// connection changed, WAL frames, checkpoints) was most of SQLite's share of
/// a gateway request; a waiting caller or a flush ends the wait at once.
/// It widens what a crash can lose of queued jobs by as much.
const LINGER: Duration = Duration::from_millis(5);
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
        Self::spawn_lingering(sink, LINGER)
    }

    fn spawn_lingering(sink: S, linger: Duration) -> Self {
        let (queue, entries) = mpsc::channel(QUEUE);
        tokio::spawn(run(sink, entries, linger));
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

async fn run<S: Sink>(sink: S, mut queue: mpsc::Receiver<Entry<S>>, linger: Duration) {
    let sink = Arc::new(sink);
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        gather(&mut queue, &mut waiting, linger).await;
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

/// Gathers more entries while every one so far is a queued job nobody
/// waits on, for at most `linger` and up to [`MAX_BATCH`].
async fn gather<S: Sink>(
    queue: &mut mpsc::Receiver<Entry<S>>,
    waiting: &mut Vec<Entry<S>>,
    linger: Duration,
) {
    let deadline = tokio::time::Instant::now() + linger;
    let mut seen = 0;
    loop {
        let unattended = waiting[seen..]
            .iter()
            .all(|entry| matches!(entry, Entry::Job(_, None)));
        if !unattended || waiting.len() >= MAX_BATCH {
            return;
        }
        seen = waiting.len();
        let room = MAX_BATCH - waiting.len();
        match tokio::time::timeout_at(deadline, queue.recv_many(waiting, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
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
        /// How many jobs each transaction held.
        batches: Arc<Mutex<Vec<usize>>>,
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
            self.batches.lock().unwrap().push(jobs.len());
            self.written.lock().unwrap().extend(jobs);
            Ok(vec![(); jobs.len()])
        }

        async fn one(&self, job: &u32) -> Result<(), StoreError> {
            self.fail()?;
            self.batches.lock().unwrap().push(1);
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

    /// Long enough that nothing in these tests reaches it by itself.
    const PATIENT: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn queued_jobs_arriving_one_by_one_share_a_transaction() {
        let memory = Memory::default();
        let writer = GroupCommit::spawn_lingering(memory.clone(), PATIENT);
        for job in 0..10 {
            writer.queue(job).await.unwrap();
            // The writer takes each job as it comes, and waits for more.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        writer.flush().await.unwrap();
        assert_eq!(memory.written(), (0..10).collect::<Vec<_>>());
        assert_eq!(*memory.batches.lock().unwrap(), vec![10]);
    }

    #[tokio::test]
    async fn a_waiting_caller_or_a_flush_does_not_wait_for_company() {
        let memory = Memory::default();
        let writer = GroupCommit::spawn_lingering(memory.clone(), PATIENT);
        let started = std::time::Instant::now();
        writer.queue(1).await.unwrap();
        writer.write(2).await.unwrap();
        writer.queue(3).await.unwrap();
        writer.flush().await.unwrap();
        assert!(started.elapsed() < PATIENT);
        assert_eq!(memory.written(), vec![1, 2, 3]);
        assert_eq!(*memory.batches.lock().unwrap(), vec![2, 1]);
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

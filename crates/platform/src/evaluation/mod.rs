//! The evaluation pipeline: every submission is a durable job that workers
//! lease, run the next stages of, and release (docs/decisions/0011, 0019).
//!
//! - A lease runs stages one after another while it is young (all four
//!   when models answer quickly); their results and the move on commit
//!   together, guarded by the stage the run began at: a crash reruns at
//!   most what the lease had not written, and nothing is applied twice.
//! - Provider errors put the job back with exponential backoff; after
//!   `max_attempts` it is dead and an admin can requeue it.
//! - Scores are never paid here: a round's pool pays scored work
//!   ([`crate::competitions`]), once.

pub mod index;
mod stages;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meritree_core::live::{Audience, LiveEvent};
use meritree_core::submissions::{Stage, SubmissionId, SubmissionStatus, SubmissionView};
use meritree_store::evaluations::{self as store, Leased, StageRecord};
use meritree_store::submissions::SubmissionRecord;
use meritree_store::StoreError;
use tokio::sync::Notify;

use crate::clock;

pub use index::VectorIndex;

service!(
    /// The evaluation pipeline's workers and its in-process state.
    Evaluation,
    evaluation
);

/// Jobs a worker leases and runs at once: one transaction leases them and
/// one commits their results, instead of two per job. Small enough that a
/// batch of slow model calls ends well inside the lease.
const BATCH: u32 = 8;

/// A lease goes on to the next stage while it is younger than this; past
/// it, what ran is written first. Model calls that take seconds are thus
/// written stage by stage, and a crash repeats at most one of them.
const RUN_FOR: Duration = Duration::from_secs(1);

/// The longest wait between tries of a failing stage.
const MAX_BACKOFF_SECS: i64 = 300;

/// What a stage decided.
pub(crate) struct StageOutcome {
    pub record: StageRecord,
    pub result: OwnedResult,
    /// The stage to run next; `None` ends the evaluation.
    pub next: Option<Stage>,
}

/// [`store::StageResult`] with owned values.
#[derive(Default)]
pub(crate) struct OwnedResult {
    pub duplicate_of: Option<String>,
    pub similarity: Option<f64>,
    pub score: Option<i64>,
    pub breakdown: Option<String>,
    pub reason: Option<String>,
    pub flags: Option<String>,
    pub payout_percent: Option<i64>,
    pub final_status: Option<SubmissionStatus>,
    /// The work's embedding, stored with the result: `(model, vector)`.
    pub vector: Option<(String, Vec<u8>)>,
}

impl OwnedResult {
    /// Adds a later stage's result: its values win where it has them.
    fn absorb(&mut self, later: OwnedResult) {
        self.duplicate_of = later.duplicate_of.or(self.duplicate_of.take());
        self.similarity = later.similarity.or(self.similarity);
        self.score = later.score.or(self.score);
        self.breakdown = later.breakdown.or(self.breakdown.take());
        self.reason = later.reason.or(self.reason.take());
        self.flags = later.flags.or(self.flags.take());
        self.payout_percent = later.payout_percent.or(self.payout_percent);
        self.final_status = later.final_status.or(self.final_status);
        self.vector = later.vector.or(self.vector.take());
    }

    /// The work as the database will hold it once this is written.
    fn apply_to(&self, work: &mut SubmissionRecord) {
        if let Some(id) = &self.duplicate_of {
            work.duplicate_of = Some(id.clone());
        }
        work.similarity = self.similarity.or(work.similarity);
        work.score = self.score.or(work.score);
        if let Some(breakdown) = &self.breakdown {
            work.breakdown = Some(breakdown.clone());
        }
        if let Some(reason) = &self.reason {
            work.reason = Some(reason.clone());
        }
        if let Some(flags) = &self.flags {
            work.flags = flags.clone();
        }
        work.payout_percent = self.payout_percent.unwrap_or(work.payout_percent);
    }
}

/// What one lease of a job ran: the stages that finished, not yet written,
/// and the one that failed, if any.
pub(crate) struct Run {
    /// The stage the lease began at.
    pub from: Stage,
    /// Tries of the lease's first stage so far, this one included.
    attempts: i64,
    /// The work as the finished stages leave it.
    pub work: SubmissionRecord,
    /// The stages that finished, and their records.
    stages: Vec<Stage>,
    records: Vec<StageRecord>,
    result: OwnedResult,
    /// Where the finished stages lead; `None` ends the evaluation.
    next: Option<Stage>,
    failure: Option<(Stage, StageFailure)>,
}

impl Run {
    /// Whether a stage of this lease held the work for a moderator.
    pub fn flagged(&self) -> bool {
        self.records.iter().any(|r| r.outcome == "flagged")
    }
}

/// Why a stage did not finish.
pub(crate) enum StageFailure {
    /// Worth another try later (a provider error, an answer off schema).
    Retry {
        record: Box<StageRecord>,
        error: String,
    },
    /// No retry can help: the submission fails now.
    GiveUp {
        record: Box<StageRecord>,
        reason: String,
    },
    Store(StoreError),
}

impl From<StoreError> for StageFailure {
    fn from(err: StoreError) -> Self {
        StageFailure::Store(err)
    }
}

/// What [`Evaluation::run_batch`] did with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// A stage completed (or another worker had completed it).
    Stage { submission: String, stage: Stage },
    /// A stage failed and will be retried.
    Retrying { submission: String, stage: Stage },
    /// The evaluation gave up.
    Failed { submission: String },
}

/// The pipeline's shared state: the wake-up bell, the vector index, the
/// stages running now, the rounds whose leaderboard is about to be
/// announced and what was last announced of each.
#[derive(Clone, Default)]
pub struct PipelineState {
    pub(crate) bell: Arc<Notify>,
    pub(crate) index: VectorIndex,
    pub(crate) running: RunningStages,
    pub(crate) boards_due: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    pub(crate) announced: Arc<tokio::sync::Mutex<crate::competitions::Announced>>,
}

/// The stage each of this instance's leases is running now. A lease
/// writes its stages only when it ends, so until then the database still
/// names the stage it began at; a work's page reads the live one here.
#[derive(Clone, Default)]
pub(crate) struct RunningStages(Arc<std::sync::Mutex<std::collections::HashMap<String, Stage>>>);

impl RunningStages {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Stage>> {
        // A panic while holding it leaves a map that is still whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mark(&self, id: &str, stage: Stage) {
        self.lock().insert(id.to_owned(), stage);
    }

    /// The stage running now for `id`, when a lease here is running one.
    pub(crate) fn stage(&self, id: &str) -> Option<Stage> {
        self.lock().get(id).copied()
    }

    fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut running = self.lock();
        for id in ids {
            running.remove(id);
        }
    }
}

impl Evaluation<'_> {
    /// Rings the workers' bell: work arrived.
    pub fn wake(&self) {
        self.pipeline().bell.notify_waiters();
    }

    pub fn index(&self) -> &VectorIndex {
        &self.pipeline().index
    }

    /// Fills the index at start: the graphs saved when the server last
    /// stopped, then every stored embedding they lack (all of them when
    /// there is no usable save). A save naming work the database does not
    /// hold (the database was restored from an older copy) is dropped and
    /// the index rebuilt. Saves the result when it added anything, so the
    /// next start after a crash has less to add.
    pub async fn rebuild_index(&self) -> Result<usize, StoreError> {
        let dir = self.work_policy().index_dir.clone();
        let index = self.index().clone();
        if let Some(dir) = dir.clone() {
            let index = index.clone();
            let loaded = tokio::task::spawn_blocking(move || index.load(&dir))
                .await
                .expect("loading does not panic");
            tracing::info!(vectors = loaded, "saved near-duplicate index loaded");
        }
        let stored: HashSet<String> = store::vector_ids(self.db()).await?.into_iter().collect();
        let indexed = index.ids();
        if !indexed.is_subset(&stored) {
            tracing::warn!("the saved near-duplicate index names work the database does not hold; rebuilding it");
            index.clear();
        }
        let rows = if index.is_empty() {
            store::all_vectors(self.db()).await?
        } else {
            let missing: Vec<&str> = stored
                .iter()
                .filter(|id| !indexed.contains(*id))
                .map(String::as_str)
                .collect();
            store::vectors(self.db(), &missing).await?
        };
        let mut readable = Vec::with_capacity(rows.len());
        for (id, account, seq, model, bytes) in rows {
            match meritree_core::submissions::text::vector_from_bytes(&bytes) {
                Some(vector) => readable.push((id, account, seq, model, vector)),
                None => tracing::error!(submission = %id, "stored embedding unreadable; skipped"),
            }
        }
        let added = readable.len();
        let filling = index.clone();
        tokio::task::spawn_blocking(move || filling.add_many(readable))
            .await
            .expect("indexing does not panic");
        if added > 0 {
            if let Err(error) = self.save_index().await {
                tracing::warn!(%error, "near-duplicate index not saved");
            }
        }
        Ok(index.len())
    }

    /// Saves the index where the policy says (nothing without a place);
    /// how many vectors it holds.
    pub async fn save_index(&self) -> std::io::Result<usize> {
        let Some(dir) = self.work_policy().index_dir.clone() else {
            return Ok(0);
        };
        let index = self.index().clone();
        tokio::task::spawn_blocking(move || index.save(&dir))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Adds a stored embedding to this instance's index (another instance
    /// stored it).
    pub async fn index_stored(&self, id: &str) -> Result<(), StoreError> {
        if let Some((id, account, seq, model, bytes)) = store::vector(self.db(), id).await? {
            if let Some(vector) = meritree_core::submissions::text::vector_from_bytes(&bytes) {
                self.index().add(&id, &account, seq, &model, vector);
            }
        }
        Ok(())
    }

    /// Leases up to [`BATCH`] due jobs and runs each one's next stages,
    /// all jobs at once; their results commit together. Empty when no job
    /// was due.
    #[tracing::instrument(skip_all)]
    pub async fn run_batch(&self) -> Result<Vec<Ran>, StoreError> {
        let now = clock::unix_secs();
        let leased = store::lease_due(self.db(), now, self.work_policy().lease_secs, BATCH).await?;
        // A database error for one job must not strand the others (leased
        // until their lease runs out) nor lose their results: it is
        // returned once everything else is written.
        let mut failed = None;
        let mut runnable = Vec::with_capacity(leased.len());
        for job in leased {
            match job.submission.stage.as_deref().and_then(Stage::parse) {
                Some(stage) => runnable.push((job, stage)),
                None => {
                    // Ended (or unreadable): nothing to run; close the job.
                    tracing::error!(submission = %job.submission.id, stage = ?job.submission.stage, "job without a runnable stage");
                    if let Err(err) = store::close_job(self.db(), &job.submission.id, now).await {
                        failed = Some(err);
                    }
                }
            }
        }
        let leased_at = Instant::now();
        let mut runs = futures_util::future::join_all(
            runnable
                .into_iter()
                .map(|(job, from)| self.run_stages(job, from, leased_at)),
        )
        .await;
        // In submission order: two instances' batches lock rows in the
        // same order on PostgreSQL, so they cannot deadlock.
        runs.sort_by(|a, b| a.work.id.cmp(&b.work.id));

        let now = clock::unix_secs();
        let (applied, error) = self.complete(&runs, now).await;
        failed = error.or(failed);
        // Written (or to run again): the database says where each stands.
        self.pipeline()
            .running
            .forget(runs.iter().map(|run| run.work.id.as_str()));
        let mut ran = Vec::with_capacity(runs.len());
        for (run, applied) in runs.into_iter().zip(applied) {
            let id = run.work.id.clone();
            ran.extend(run.stages.iter().map(|stage| Ran::Stage {
                submission: id.clone(),
                stage: *stage,
            }));
            if !applied {
                // Another worker moved it on, or the write failed and the
                // lease will run out: what failed here is not ours to record.
                continue;
            }
            for (stage, record) in run.stages.iter().zip(&run.records) {
                tracing::info!(submission = %id, stage = stage.as_str(), outcome = %record.outcome, "stage done");
            }
            if run.result.vector.is_some() {
                // Stored now: other instances can read it into their index.
                self.hub().forward(crate::live::Bridged::Vector {
                    submission_id: id.clone(),
                });
            }
            match run.failure {
                Some((stage, failure)) => {
                    // The lease's first stage has had its tries; a later
                    // one just had its first.
                    let attempts = if stage == run.from { run.attempts } else { 1 };
                    match self.fail(&id, stage, attempts, failure, now).await {
                        Ok(one) => ran.push(one),
                        Err(err) => failed = Some(err),
                    }
                }
                None if run.next.is_none() => self.announce_final(&id).await,
                None => {}
            }
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(ran),
        }
    }

    /// Runs a leased job's stages one after another, from `from`, until
    /// one fails, the evaluation ends, or the lease has run [`RUN_FOR`].
    async fn run_stages(&self, job: Leased, from: Stage, leased_at: Instant) -> Run {
        let mut run = Run {
            from,
            attempts: job.attempts,
            work: job.submission,
            stages: Vec::new(),
            records: Vec::new(),
            result: OwnedResult::default(),
            next: Some(from),
            failure: None,
        };
        let mut attempts = job.attempts;
        while let Some(stage) = run.next {
            if !run.records.is_empty() && leased_at.elapsed() >= RUN_FOR {
                break;
            }
            self.announce_stage(&run.work, stage);
            match stages::run(self, stage, &run, attempts).await {
                Ok(done) => {
                    done.result.apply_to(&mut run.work);
                    run.result.absorb(done.result);
                    run.stages.push(stage);
                    run.records.push(done.record);
                    run.next = done.next;
                    attempts = 1;
                }
                Err(failure) => {
                    run.failure = Some((stage, failure));
                    break;
                }
            }
        }
        run
    }

    /// Commits finished runs together; when that fails, each alone, so one
    /// that cannot be written does not hold back the others. Whether each
    /// was applied (a run with nothing finished has nothing to apply and
    /// counts as applied), and the last error.
    async fn complete(&self, runs: &[Run], now: i64) -> (Vec<bool>, Option<StoreError>) {
        let completions: Vec<(usize, store::Completion<'_>)> = runs
            .iter()
            .enumerate()
            .filter(|(_, run)| !run.records.is_empty())
            .map(|(i, run)| {
                let r = &run.result;
                let completion = store::Completion {
                    id: &run.work.id,
                    from: run.from.as_str(),
                    next: run.next.map(Stage::as_str),
                    records: &run.records,
                    result: store::StageResult {
                        duplicate_of: r.duplicate_of.as_deref(),
                        similarity: r.similarity,
                        score: r.score,
                        breakdown: r.breakdown.as_deref(),
                        reason: r.reason.as_deref(),
                        flags: r.flags.as_deref(),
                        payout_percent: r.payout_percent,
                        final_status: r.final_status.map(SubmissionStatus::as_str),
                    },
                    vector: r.vector.as_ref().map(|(m, v)| (m.as_str(), v.as_slice())),
                };
                (i, completion)
            })
            .collect();
        let mut applied = vec![true; runs.len()];
        let all: Vec<store::Completion<'_>> = completions.iter().map(|(_, c)| c.clone()).collect();
        let error = match store::complete_stages(self.db(), &all, now).await {
            Ok(written) => {
                for ((i, _), written) in completions.iter().zip(written) {
                    applied[*i] = written;
                }
                return (applied, None);
            }
            Err(error) => error,
        };
        if let [(i, _)] = completions.as_slice() {
            applied[*i] = false;
            return (applied, Some(error));
        }
        tracing::warn!(%error, runs = completions.len(), "stage results failed together; writing them one by one");
        let mut last = None;
        for (i, completion) in &completions {
            match store::complete_stages(self.db(), std::slice::from_ref(completion), now).await {
                Ok(written) => applied[*i] = written.first().copied().unwrap_or(false),
                Err(error) => {
                    tracing::error!(submission = completion.id, %error, "a stage result could not be written; the stages run again once the lease ends");
                    applied[*i] = false;
                    last = Some(error);
                }
            }
        }
        (applied, last)
    }

    /// A stage that did not finish: tried again later with backoff, or
    /// dead-lettered once out of tries.
    async fn fail(
        &self,
        id: &str,
        stage: Stage,
        attempts: i64,
        failure: StageFailure,
        now: i64,
    ) -> Result<Ran, StoreError> {
        let id = id.to_owned();
        match failure {
            StageFailure::Retry { record, error } => {
                if attempts >= i64::from(self.work_policy().max_attempts) {
                    let reason = format!("evaluation stopped at {}: {error}", stage.label());
                    store::give_up(self.db(), &id, &record, &reason, now).await?;
                    tracing::warn!(submission = %id, stage = stage.as_str(), %error, "evaluation dead-lettered");
                    self.announce_final(&id).await;
                    return Ok(Ran::Failed { submission: id });
                }
                let backoff = (1_i64 << attempts.clamp(0, 16)).min(MAX_BACKOFF_SECS);
                store::retry_later(self.db(), &id, &record, &error, attempts, now + backoff)
                    .await?;
                tracing::warn!(submission = %id, stage = stage.as_str(), %error, backoff, "stage will be retried");
                Ok(Ran::Retrying {
                    submission: id,
                    stage,
                })
            }
            StageFailure::GiveUp { record, reason } => {
                store::give_up(self.db(), &id, &record, &reason, now).await?;
                tracing::warn!(submission = %id, stage = stage.as_str(), %reason, "evaluation failed");
                self.announce_final(&id).await;
                Ok(Ran::Failed { submission: id })
            }
            StageFailure::Store(err) => Err(err),
        }
    }

    /// Runs due jobs until none is left; for tests and the benchmark.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut ran = 0;
        loop {
            let batch = self.run_batch().await?;
            if batch.is_empty() {
                return Ok(ran);
            }
            ran += batch.len();
        }
    }

    fn announce_stage(&self, submission: &SubmissionRecord, stage: Stage) {
        self.pipeline().running.mark(&submission.id, stage);
        self.hub().publish(
            Audience::Everyone,
            LiveEvent::Submission {
                id: submission.id.clone().into(),
                round: submission.round,
                status: SubmissionStatus::Evaluating,
                stage: Some(stage),
                score: None,
            },
        );
    }

    /// Tells every page showing the work where it stands now.
    pub fn announce(&self, view: &SubmissionView) {
        self.publish_status(
            view.id.clone(),
            view.round,
            view.status,
            view.stage,
            view.score,
        );
    }

    fn publish_status(
        &self,
        id: SubmissionId,
        round: i64,
        status: SubmissionStatus,
        stage: Option<Stage>,
        score: Option<u32>,
    ) {
        self.hub().publish(
            Audience::Everyone,
            LiveEvent::Submission {
                id,
                round,
                status,
                stage,
                // Everyone hears this: only published work's score.
                score: score.filter(|_| status == SubmissionStatus::Scored),
            },
        );
        if status == SubmissionStatus::Scored {
            self.competitions().announce_leaderboard_soon(round);
        }
    }

    /// Where an evaluation ended, from the submission's row alone (the
    /// whole view would also read every stage's record).
    async fn announce_final(&self, id: &str) {
        if let Ok(Some(record)) = meritree_store::submissions::get(self.db(), id).await {
            let status = crate::submissions::status_of(&record);
            let score = crate::submissions::score_of(&record);
            if let Some(notice) = evaluation_notice(&record.title, status, score) {
                let notice = notice.linking(format!("/s/{}", record.id));
                self.notifications()
                    .notify(&record.account_id, notice)
                    .await;
            }
            self.publish_status(record.id.into(), record.round, status, None, score);
        }
    }
}

/// What the author is told when an evaluation ends in `status`.
fn evaluation_notice(
    title: &str,
    status: SubmissionStatus,
    score: Option<u32>,
) -> Option<crate::notifications::Notice> {
    use crate::notifications::Notice;
    use meritree_core::notifications::NotificationKind::EvaluationResult;
    let (headline, body) = match status {
        SubmissionStatus::Evaluating => return None,
        SubmissionStatus::Scored => (
            "Your work was scored",
            format!(
                "“{title}” scored {} out of 100 and takes part in its round.",
                score.unwrap_or(0)
            ),
        ),
        SubmissionStatus::InReview => (
            "Your work waits for a moderator",
            format!("“{title}” was flagged; a moderator will decide on it."),
        ),
        SubmissionStatus::Duplicate => (
            "Your work matched earlier work",
            format!("“{title}” is too close to work submitted before; it earns nothing."),
        ),
        SubmissionStatus::Rejected => (
            "Your work was not accepted",
            format!("“{title}” was rejected; its page says why."),
        ),
        SubmissionStatus::Failed => (
            "Your work could not be evaluated",
            format!("The evaluation of “{title}” gave up; its page says why."),
        ),
    };
    Some(Notice::new(EvaluationResult, headline, body))
}

/// A worker: runs jobs while there are any, then waits for the bell or a
/// second (retries come due, other instances queue work).
pub async fn run_worker(platform: crate::Platform) {
    loop {
        let bell = platform.pipeline().bell.clone();
        let rung = bell.notified();
        match platform.evaluation().run_batch().await {
            Ok(ran) if ran.is_empty() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), rung).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, "evaluation worker: the database failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

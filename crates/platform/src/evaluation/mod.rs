//! The evaluation pipeline: every submission is a durable job that workers
//! lease, run one stage of, and release (docs/decisions/0011).
//!
//! - A stage's result and the move to the next stage commit together,
//!   guarded by the stage they move from: a crash reruns at most the stage
//!   that was running, and nothing is applied twice.
//! - Provider errors put the job back with exponential backoff; after
//!   `max_attempts` it is dead and an admin can requeue it.
//! - Scores are never paid here: a round's pool pays scored work
//!   ([`crate::competitions`]), once.

pub mod index;
mod stages;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use meritree_core::live::{Audience, LiveEvent};
use meritree_core::submissions::{Stage, SubmissionId, SubmissionStatus, SubmissionView};
use meritree_store::evaluations::{self as store, Leased, StageRecord};
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
/// rounds whose leaderboard is about to be announced and what was last
/// announced of each.
#[derive(Clone, Default)]
pub struct PipelineState {
    pub(crate) bell: Arc<Notify>,
    pub(crate) index: VectorIndex,
    pub(crate) boards_due: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    pub(crate) announced: Arc<tokio::sync::Mutex<crate::competitions::Announced>>,
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

    /// Leases up to [`BATCH`] due jobs and runs each one's current stage,
    /// all at once; their results commit together. Empty when no job was
    /// due.
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
                Some(stage) => {
                    self.announce_stage(&job.submission, stage);
                    runnable.push((job, stage));
                }
                None => {
                    // Ended (or unreadable): nothing to run; close the job.
                    tracing::error!(submission = %job.submission.id, stage = ?job.submission.stage, "job without a runnable stage");
                    if let Err(err) = store::close_job(self.db(), &job.submission.id, now).await {
                        failed = Some(err);
                    }
                }
            }
        }
        let outcomes = futures_util::future::join_all(
            runnable
                .iter()
                .map(|(job, stage)| stages::run(self, *stage, &job.submission, job.attempts)),
        )
        .await;

        let now = clock::unix_secs();
        let mut ran = Vec::with_capacity(runnable.len());
        let mut finished = Vec::new();
        for ((job, stage), outcome) in runnable.into_iter().zip(outcomes) {
            let outcome = match outcome {
                Ok(done) => {
                    finished.push((job, stage, done));
                    continue;
                }
                Err(StageFailure::Store(err)) => Err(err),
                Err(failure) => self.fail(&job, stage, failure, now).await,
            };
            match outcome {
                Ok(one) => ran.push(one),
                Err(err) => failed = Some(err),
            }
        }
        // In submission order: two instances' batches lock rows in the
        // same order on PostgreSQL, so they cannot deadlock.
        finished.sort_by(|a, b| a.0.submission.id.cmp(&b.0.submission.id));
        let (applied, error) = self.complete(&finished, now).await;
        failed = error.or(failed);
        for ((job, stage, done), applied) in finished.into_iter().zip(applied) {
            let id = job.submission.id.clone();
            if applied {
                tracing::info!(submission = %id, stage = stage.as_str(), outcome = %done.record.outcome, "stage done");
                if let Some(next) = done.next {
                    self.announce_stage(&job.submission, next);
                } else {
                    self.announce_final(&id).await;
                }
            }
            ran.push(Ran::Stage {
                submission: id,
                stage,
            });
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(ran),
        }
    }

    /// Commits finished stages together; when that fails, each alone, so
    /// one that cannot be written does not hold back the others. Whether
    /// each was applied (one that failed was not), and the last error.
    async fn complete(
        &self,
        finished: &[(Leased, Stage, StageOutcome)],
        now: i64,
    ) -> (Vec<bool>, Option<StoreError>) {
        let completions: Vec<store::Completion<'_>> = finished
            .iter()
            .map(|(job, stage, done)| {
                let r = &done.result;
                store::Completion {
                    id: &job.submission.id,
                    stage: stage.as_str(),
                    next: done.next.map(Stage::as_str),
                    record: &done.record,
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
                }
            })
            .collect();
        if completions.is_empty() {
            return (Vec::new(), None);
        }
        let error = match store::complete_stages(self.db(), &completions, now).await {
            Ok(applied) => return (applied, None),
            Err(error) => error,
        };
        if completions.len() == 1 {
            return (vec![false], Some(error));
        }
        tracing::warn!(%error, stages = completions.len(), "stage results failed together; writing them one by one");
        let mut last = None;
        let mut applied = Vec::with_capacity(completions.len());
        for completion in &completions {
            match store::complete_stages(self.db(), std::slice::from_ref(completion), now).await {
                Ok(one) => applied.extend(one),
                Err(error) => {
                    tracing::error!(submission = completion.id, %error, "a stage result could not be written; the stage runs again once its lease ends");
                    applied.push(false);
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
        job: &Leased,
        stage: Stage,
        failure: StageFailure,
        now: i64,
    ) -> Result<Ran, StoreError> {
        let id = job.submission.id.clone();
        match failure {
            StageFailure::Retry { record, error } => {
                if job.attempts >= i64::from(self.work_policy().max_attempts) {
                    let reason = format!("evaluation stopped at {}: {error}", stage.label());
                    store::give_up(self.db(), &id, &record, &reason, now).await?;
                    tracing::warn!(submission = %id, stage = stage.as_str(), %error, "evaluation dead-lettered");
                    self.announce_final(&id).await;
                    return Ok(Ran::Failed { submission: id });
                }
                let backoff = (1_i64 << job.attempts.clamp(0, 16)).min(MAX_BACKOFF_SECS);
                store::retry_later(self.db(), &id, &record, &error, now + backoff).await?;
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

    fn announce_stage(
        &self,
        submission: &meritree_store::submissions::SubmissionRecord,
        stage: Stage,
    ) {
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
            self.publish_status(record.id.into(), record.round, status, None, score);
        }
    }
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

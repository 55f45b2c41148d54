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

use std::sync::Arc;
use std::time::Duration;

use meritree_core::live::{Audience, LiveEvent};
use meritree_core::submissions::{Stage, SubmissionStatus, SubmissionView};
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

/// What one [`Evaluation::run_next`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// No job was due.
    Idle,
    /// A stage completed (or another worker had completed it).
    Stage { submission: String, stage: Stage },
    /// A stage failed and will be retried.
    Retrying { submission: String, stage: Stage },
    /// The evaluation gave up.
    Failed { submission: String },
}

/// The pipeline's shared state: the wake-up bell and the vector index.
#[derive(Clone, Default)]
pub struct PipelineState {
    pub(crate) bell: Arc<Notify>,
    pub(crate) index: VectorIndex,
}

impl Evaluation<'_> {
    /// Rings the workers' bell: work arrived.
    pub fn wake(&self) {
        self.pipeline().bell.notify_waiters();
    }

    pub fn index(&self) -> &VectorIndex {
        &self.pipeline().index
    }

    /// Loads every stored embedding into the index (at start).
    pub async fn rebuild_index(&self) -> Result<usize, StoreError> {
        let mut rows = Vec::new();
        for (id, account, seq, model, bytes) in store::all_vectors(self.db()).await? {
            match meritree_core::submissions::text::vector_from_bytes(&bytes) {
                Some(vector) => rows.push((id, account, seq, model, vector)),
                None => tracing::error!(submission = %id, "stored embedding unreadable; skipped"),
            }
        }
        let index = self.index().clone();
        tokio::task::spawn_blocking(move || index.add_many(rows))
            .await
            .expect("indexing does not panic");
        Ok(self.index().len())
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

    /// Leases the next due job and runs its current stage.
    #[tracing::instrument(skip_all)]
    pub async fn run_next(&self) -> Result<Ran, StoreError> {
        let now = clock::unix_secs();
        let Some(Leased {
            submission,
            attempts,
        }) = store::lease_next(self.db(), now, self.work_policy().lease_secs).await?
        else {
            return Ok(Ran::Idle);
        };
        let id = submission.id.clone();
        let Some(stage) = submission.stage.as_deref().and_then(Stage::parse) else {
            // Ended (or unreadable): nothing to run; close the job.
            tracing::error!(submission = %id, stage = ?submission.stage, "job without a runnable stage");
            store::close_job(self.db(), &id, now).await?;
            return Ok(Ran::Idle);
        };
        self.announce_stage(&submission, stage);
        let outcome = stages::run(self, stage, &submission, attempts).await;
        let now = clock::unix_secs();
        match outcome {
            Ok(done) => {
                let r = &done.result;
                let applied = store::complete_stage(
                    self.db(),
                    &id,
                    stage.as_str(),
                    done.next.map(Stage::as_str),
                    &done.record,
                    &store::StageResult {
                        duplicate_of: r.duplicate_of.as_deref(),
                        similarity: r.similarity,
                        score: r.score,
                        breakdown: r.breakdown.as_deref(),
                        reason: r.reason.as_deref(),
                        flags: r.flags.as_deref(),
                        payout_percent: r.payout_percent,
                        final_status: r.final_status.map(SubmissionStatus::as_str),
                    },
                    now,
                )
                .await?;
                if applied {
                    tracing::info!(submission = %id, stage = stage.as_str(), outcome = %done.record.outcome, "stage done");
                    if let Some(next) = done.next {
                        self.announce_stage(&submission, next);
                    } else if let Ok(view) = self.submissions().get(&id.clone().into()).await {
                        self.announce(&view);
                    }
                }
                Ok(Ran::Stage {
                    submission: id,
                    stage,
                })
            }
            Err(StageFailure::Retry { record, error }) => {
                if attempts >= i64::from(self.work_policy().max_attempts) {
                    let reason = format!("evaluation stopped at {}: {error}", stage.label());
                    store::give_up(self.db(), &id, &record, &reason, now).await?;
                    tracing::warn!(submission = %id, stage = stage.as_str(), %error, "evaluation dead-lettered");
                    self.announce_final(&id).await;
                    return Ok(Ran::Failed { submission: id });
                }
                let backoff = (1_i64 << attempts.clamp(0, 16)).min(MAX_BACKOFF_SECS);
                store::retry_later(self.db(), &id, &record, &error, now + backoff).await?;
                tracing::warn!(submission = %id, stage = stage.as_str(), %error, backoff, "stage will be retried");
                Ok(Ran::Retrying {
                    submission: id,
                    stage,
                })
            }
            Err(StageFailure::GiveUp { record, reason }) => {
                store::give_up(self.db(), &id, &record, &reason, now).await?;
                tracing::warn!(submission = %id, stage = stage.as_str(), %reason, "evaluation failed");
                self.announce_final(&id).await;
                Ok(Ran::Failed { submission: id })
            }
            Err(StageFailure::Store(err)) => Err(err),
        }
    }

    /// Runs due jobs until none is left; for tests and the benchmark.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut ran = 0;
        while self.run_next().await? != Ran::Idle {
            ran += 1;
        }
        Ok(ran)
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
        self.hub().publish(
            Audience::Everyone,
            LiveEvent::Submission {
                id: view.id.clone(),
                round: view.round,
                status: view.status,
                stage: view.stage,
                // Everyone hears this: only published work's score.
                score: view
                    .score
                    .filter(|_| view.status == SubmissionStatus::Scored),
            },
        );
        if view.status == SubmissionStatus::Scored {
            let platform = self.0.clone();
            let round = view.round;
            tokio::spawn(async move { platform.competitions().announce_leaderboard(round).await });
        }
    }

    async fn announce_final(&self, id: &str) {
        if let Ok(view) = self.submissions().get(&id.to_owned().into()).await {
            self.announce(&view);
        }
    }
}

/// A worker: runs jobs while there are any, then waits for the bell or a
/// second (retries come due, other instances queue work).
pub async fn run_worker(platform: crate::Platform) {
    loop {
        let bell = platform.pipeline().bell.clone();
        let rung = bell.notified();
        match platform.evaluation().run_next().await {
            Ok(Ran::Idle) => {
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

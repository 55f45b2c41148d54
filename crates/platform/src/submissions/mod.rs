//! Submitted work: submitting into the open round, and every public view of
//! it (a work's page, a round's entries and leaderboard, a member's page,
//! search), plus the moderators' queue. Evaluation is
//! [`crate::evaluation`]'s; sharing a round's pool is
//! [`crate::competitions`]'s.

pub mod images;
pub mod markdown;
mod views;

use meritree_core::accounts::AccountId;
use meritree_core::audit::AuditAction;
use meritree_core::live::{Audience, LiveEvent};
use meritree_core::submissions::fraud::FraudPolicy;
use meritree_core::submissions::image::{
    self as image_rules, ImageError, ImageFormat, ImageId, ImageView,
};
use meritree_core::submissions::judge::Rubric;
use meritree_core::submissions::payout::PayoutRule;
use meritree_core::submissions::{
    text, Body, DeadEvaluation, NewSubmission, SearchResults, Stage, SubmissionId,
    SubmissionStatus, SubmissionView, Title, WorkError,
};
use meritree_core::ErrorCode;
use meritree_store::submissions::{self as store, Inserted};
use meritree_store::{accounts, StoreError};

use crate::access::RequestContext;
use crate::clock;
use crate::error::{store_error_code, PublicError};
use crate::principal::Principal;

pub use views::{entry_view, public_view, submission_view};
pub(crate) use views::{score_of, status_of};

service!(
    /// Submitted work and its public views.
    Submissions,
    submissions
);

/// How work is taken in, judged and paid, from the `[work]` configuration.
#[derive(Debug, Clone)]
pub struct WorkPolicy {
    /// Submissions one account may make per round.
    pub max_per_round: u32,
    /// The theme of a round no admin set one for.
    pub default_theme: String,
    /// Points shared out per round.
    pub pool: u64,
    pub rule: PayoutRule,
    /// Seconds after a round ends that its pool waits for unfinished
    /// evaluations; entries finishing later go to a later pool.
    pub payout_deadline_secs: i64,
    /// The gateway name the judge is asked through.
    pub judge_model: String,
    pub rubric: Rubric,
    /// Judge answers tried per submission before it fails.
    pub judge_attempts: u32,
    /// The gateway name embeddings come from. Vectors from different
    /// models are never compared.
    pub embedding_model: String,
    /// Cosine similarity at or above which work is a near-duplicate.
    pub duplicate_similarity: f32,
    /// Bits of two images' difference hashes at or below which the later
    /// picture is a near-duplicate; at most
    /// [`image::MAX_SEARCHABLE_DISTANCE`](meritree_core::submissions::image::MAX_SEARCHABLE_DISTANCE).
    pub image_duplicate_distance: u32,
    /// Where image files live.
    pub image_storage: images::ImageStorage,
    /// Where the near-duplicate index is saved when the server stops (and
    /// loaded from at start); `None` rebuilds it from the database.
    pub index_dir: Option<std::path::PathBuf>,
    /// Words (matched case-insensitively, as whole words) that send work
    /// to the moderators.
    pub block_list: Vec<String>,
    /// The gateway name of a provider's moderation classifier, asked about
    /// every text the block list lets through; without one, the judge's
    /// safety verdict is the only model check.
    pub moderation_model: Option<String>,
    pub fraud: FraudPolicy,
    /// Tries of one stage after provider errors before the job is dead.
    pub max_attempts: u32,
    /// Seconds a worker holds a job; a crashed worker's job is taken over
    /// after this. Longer than the gateway's deadline, so a slow model is
    /// never judged twice.
    pub lease_secs: i64,
}

impl Default for WorkPolicy {
    fn default() -> Self {
        Self {
            max_per_round: 3,
            default_theme: "Anything worth reading".into(),
            pool: 1_000,
            rule: PayoutRule::default(),
            payout_deadline_secs: 300,
            judge_model: "quality".into(),
            rubric: Rubric::default(),
            judge_attempts: 3,
            embedding_model: "local/all-minilm-l6-v2".into(),
            duplicate_similarity: 0.9,
            image_duplicate_distance: 3,
            image_storage: images::ImageStorage::Database,
            index_dir: None,
            block_list: Vec::new(),
            moderation_model: None,
            fraud: FraudPolicy::default(),
            max_attempts: 5,
            lease_secs: 180,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    #[error("{0}")]
    Invalid(WorkError),
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("{0}")]
    Image(ImageError),
    #[error("no image with this id was uploaded: upload it first")]
    UnknownImage,
    #[error("choose a public handle on your account page first: entries are shown under it")]
    HandleRequired,
    #[error("you have submitted {limit} works to this round, the most one member may")]
    LimitReached { limit: u32 },
    #[error("work cannot be evaluated on this platform: its AI gateway is off")]
    EvaluationUnavailable,
    #[error("no such submission")]
    NotFound,
    #[error("this work is not waiting for a moderator")]
    NotInReview,
    #[error("this evaluation is not in the dead letters")]
    NotDead,
    #[error("no such member")]
    NoSuchMember,
    #[error(transparent)]
    Access(crate::accounts::AuthError),
    #[error("the image store failed: {0}")]
    ImageStore(String),
    #[error("rounds: {0}")]
    Rounds(#[from] crate::rounds::RoundsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PublicError for SubmissionError {
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SubmissionError::Access(err) => err.retry_after(),
            _ => None,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            SubmissionError::Invalid(_) => ErrorCode::InvalidSubmission,
            SubmissionError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            SubmissionError::Image(ImageError::TooLarge) => ErrorCode::ImageTooLarge,
            SubmissionError::Image(_) => ErrorCode::InvalidImage,
            SubmissionError::UnknownImage => ErrorCode::InvalidSubmission,
            SubmissionError::HandleRequired => ErrorCode::HandleRequired,
            SubmissionError::LimitReached { .. } => ErrorCode::SubmissionLimitReached,
            SubmissionError::EvaluationUnavailable => ErrorCode::UpstreamUnavailable,
            SubmissionError::NotFound | SubmissionError::NoSuchMember => ErrorCode::NotFound,
            SubmissionError::NotInReview | SubmissionError::NotDead => ErrorCode::NotInReview,
            SubmissionError::Rounds(err) => err.code(),
            SubmissionError::Access(err) => err.code(),
            SubmissionError::ImageStore(_) => ErrorCode::Internal,
            SubmissionError::Store(err) => store_error_code(err),
        }
    }
}

/// A submission and whether this call made it (false: a retry with the
/// same idempotency key got the first one back).
#[derive(Debug, Clone)]
pub struct Submitted {
    pub submission: SubmissionView,
    pub created: bool,
}

/// Entries and leaderboard lines a page shows at most.
pub const PAGE: u32 = 200;

impl Submissions<'_> {
    /// Takes `work` from `principal` into the open round and queues its
    /// evaluation. Retrying with the same idempotency key returns the same
    /// submission.
    #[tracing::instrument(skip_all)]
    pub async fn submit(
        &self,
        principal: &Principal,
        request: &RequestContext,
        work: NewSubmission,
    ) -> Result<Submitted, SubmissionError> {
        let title = Title::parse(&work.title).map_err(SubmissionError::Invalid)?;
        let body = Body::parse(&work.body).map_err(SubmissionError::Invalid)?;
        let key = meritree_core::points::IdempotencyKey::parse(&work.idempotency_key)
            .map_err(SubmissionError::InvalidRequest)?;
        let image = match work.image.as_deref().filter(|i| !i.is_empty()) {
            Some(raw) => Some(ImageId::parse(raw).map_err(SubmissionError::InvalidRequest)?),
            None => None,
        };
        if self.gateway().is_none() {
            return Err(SubmissionError::EvaluationUnavailable);
        }
        if let Some(image) = &image {
            meritree_store::images::get(self.db(), image.as_str())
                .await?
                .ok_or(SubmissionError::UnknownImage)?;
        }
        let account = accounts::find_by_id(self.db(), &principal.account_id)
            .await?
            .ok_or(SubmissionError::NoSuchMember)?;
        if account.handle.is_none() {
            return Err(SubmissionError::HandleRequired);
        }
        let now = clock::unix_secs();
        let round = self.open_round(now).await?;
        let id = SubmissionId::from(uuid::Uuid::new_v4().to_string());
        let body_html = markdown::render(body.as_str());
        let fingerprint = text::fingerprint(title.as_str(), body.as_str());
        let client_ip = request.client_ip.map(|ip| ip.to_string());
        let inserted = store::insert(
            self.db(),
            store::NewSubmission {
                id: &id,
                account_id: &principal.account_id,
                round: round.number,
                idempotency_key: key.as_str(),
                title: title.as_str(),
                body: body.as_str(),
                body_html: &body_html,
                fingerprint: &fingerprint,
                client_ip: client_ip.as_deref(),
                image_id: image.as_ref().map(ImageId::as_str),
                stage: Stage::Moderation.as_str(),
                now,
                max_per_round: Some(self.work_policy().max_per_round),
            },
        )
        .await?;
        let (record, created) = match inserted {
            Inserted::Created(record) => (record, true),
            Inserted::Replayed(record) => (record, false),
            Inserted::LimitReached { limit } => {
                return Err(SubmissionError::LimitReached { limit })
            }
        };
        if created {
            tracing::info!(submission = %record.id, round = record.round, "work submitted");
            self.evaluation().wake();
            let entries = store::count_in_round(self.db(), round.number).await?;
            self.hub().publish(
                Audience::Everyone,
                LiveEvent::Round {
                    round: round.number,
                    entries: u32::try_from(entries).unwrap_or(u32::MAX),
                    ends_at: round.ends_at,
                    paid: false,
                },
            );
        }
        Ok(Submitted {
            submission: submission_view(record, Vec::new()),
            created,
        })
    }

    /// Takes an image for a later submission: checked, re-encoded without
    /// metadata and stored once per content. Uploading the same picture
    /// again returns the same id.
    #[tracing::instrument(skip_all)]
    pub async fn upload_image(
        &self,
        principal: &Principal,
        content_type: &str,
        upload: Vec<u8>,
    ) -> Result<ImageView, SubmissionError> {
        // The cheap checks first, so a refused upload costs no decoding
        // and no quota.
        image_rules::check_upload(content_type, &upload).map_err(SubmissionError::Image)?;
        self.limit(crate::access::Rule::ImageUpload, &principal.account_id)
            .await
            .map_err(SubmissionError::Access)?;
        let content_type = content_type.to_owned();
        let prepared = tokio::task::spawn_blocking(move || images::prepare(&content_type, &upload))
            .await
            .map_err(|_| SubmissionError::Image(ImageError::Undecodable))?
            .map_err(SubmissionError::Image)?;
        let in_database = match &self.work_policy().image_storage {
            images::ImageStorage::Files(dir) => {
                let path = images::file_path(dir, &prepared.id, prepared.format);
                images::write_file(&path, &prepared.file)
                    .await
                    .map_err(|e| SubmissionError::ImageStore(e.to_string()))?;
                false
            }
            images::ImageStorage::Database => true,
        };
        let stored = meritree_store::images::insert(
            self.db(),
            meritree_store::images::NewImage {
                id: prepared.id.as_str(),
                format: prepared.format.as_str(),
                width: i64::from(prepared.width),
                height: i64::from(prepared.height),
                bytes: prepared.file.len() as i64,
                hash: prepared.hash,
                bands: image_rules::bands(prepared.hash),
                data: in_database.then_some(prepared.file.as_slice()),
                uploaded_by: &principal.account_id,
                now: clock::unix_secs(),
            },
        )
        .await?;
        tracing::info!(image = %stored.id, bytes = stored.bytes, "image uploaded");
        Ok(image_view(&stored))
    }

    /// An image's file and format, for serving.
    pub async fn image_file(&self, id: &str) -> Result<(ImageFormat, Vec<u8>), SubmissionError> {
        let id = ImageId::parse(id).map_err(|_| SubmissionError::NotFound)?;
        let record = meritree_store::images::get(self.db(), id.as_str())
            .await?
            .ok_or(SubmissionError::NotFound)?;
        let format = ImageFormat::parse(&record.format).ok_or(SubmissionError::NotFound)?;
        let file = match &self.work_policy().image_storage {
            images::ImageStorage::Files(dir) => {
                match tokio::fs::read(images::file_path(dir, &id, format)).await {
                    Ok(file) => Some(file),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(SubmissionError::ImageStore(e.to_string())),
                }
            }
            images::ImageStorage::Database => {
                meritree_store::images::data(self.db(), id.as_str()).await?
            }
        };
        Ok((format, file.ok_or(SubmissionError::NotFound)?))
    }

    /// The open round, opening one if the settlement loop has not yet.
    async fn open_round(
        &self,
        now: i64,
    ) -> Result<meritree_store::rounds::RoundRecord, SubmissionError> {
        if let Some(round) = meritree_store::rounds::current(self.db()).await? {
            if round.ends_at > now {
                return Ok(round);
            }
        }
        self.rounds().tick(now).await?;
        meritree_store::rounds::current(self.db())
            .await?
            .ok_or(SubmissionError::Rounds(
                crate::rounds::RoundsError::Contention("no round is open".into()),
            ))
    }

    /// A work, each stage's record and its reward, whole (for the platform
    /// itself; pages and the API use [`Self::get_as`]). The stages' inputs
    /// (prompts) stay with the platform; their results are public.
    pub async fn get(&self, id: &SubmissionId) -> Result<SubmissionView, SubmissionError> {
        Ok(self.load(id).await?.0)
    }

    /// A work's page as `viewer` may see it: held or removed work shows
    /// its text and the moderator's reason only to its author and admins.
    pub async fn get_as(
        &self,
        id: &SubmissionId,
        viewer: Option<&Principal>,
    ) -> Result<SubmissionView, SubmissionError> {
        let (view, author) = self.load(id).await?;
        let entitled = viewer.is_some_and(|v| {
            v.account_id == author || v.role == meritree_core::accounts::Role::Admin
        });
        Ok(if entitled { view } else { public_view(view) })
    }

    /// A work whole, with its author; the stage it shows is the one
    /// running now when this instance's pipeline is running one (the
    /// database names the stage a lease began at until the lease ends).
    async fn load(
        &self,
        id: &SubmissionId,
    ) -> Result<(SubmissionView, AccountId), SubmissionError> {
        let record = store::get(self.db(), id)
            .await?
            .ok_or(SubmissionError::NotFound)?;
        let author = AccountId::from(record.account_id.clone());
        let stages = meritree_store::evaluations::stages(self.db(), id).await?;
        let mut view = submission_view(record, stages);
        if view.status == SubmissionStatus::Evaluating {
            if let Some(running) = self.pipeline().running.stage(id.as_str()) {
                view.stage = Some(running);
            }
        }
        Ok((view, author))
    }

    /// A member's public page.
    pub async fn profile(
        &self,
        handle: &str,
    ) -> Result<meritree_core::submissions::ProfileView, SubmissionError> {
        let handle = meritree_core::accounts::Handle::parse(handle)
            .map_err(|_| SubmissionError::NoSuchMember)?;
        let account = store::account_by_handle(self.db(), handle.as_str())
            .await?
            .ok_or(SubmissionError::NoSuchMember)?;
        let submissions = store::by_account(self.db(), &account, PAGE)
            .await?
            .into_iter()
            .map(entry_view)
            .collect();
        Ok(meritree_core::submissions::ProfileView {
            handle: handle.as_str().to_owned(),
            submissions,
            earned: store::earned(self.db(), &account).await?,
        })
    }

    /// Members who earned most from pools, all time.
    pub async fn top_earners(
        &self,
    ) -> Result<Vec<meritree_core::submissions::EarnerView>, SubmissionError> {
        Ok(store::top_earners(self.db(), 50)
            .await?
            .into_iter()
            .map(
                |(handle, earned, entries)| meritree_core::submissions::EarnerView {
                    handle,
                    earned,
                    entries,
                },
            )
            .collect())
    }

    /// Full-text search over scored work, `limit` hits from `offset`.
    pub async fn search(&self, query: &str, offset: u32) -> Result<SearchResults, SubmissionError> {
        const LIMIT: u32 = 20;
        if query.chars().count() > 200 {
            return Err(SubmissionError::InvalidRequest(
                "a search has at most 200 characters",
            ));
        }
        if offset > 10_000 {
            return Err(SubmissionError::InvalidRequest("offset is at most 10000"));
        }
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(12)
            .map(str::to_lowercase)
            .collect();
        let mut hits = store::search(self.db(), &words, LIMIT + 1, offset).await?;
        let more = hits.len() > LIMIT as usize;
        hits.truncate(LIMIT as usize);
        Ok(SearchResults {
            query: query.to_owned(),
            hits: hits.into_iter().map(views::search_hit).collect(),
            next_offset: more.then_some(offset + LIMIT),
        })
    }

    /// Work held for a moderator, oldest first.
    pub async fn review_queue(&self) -> Result<Vec<SubmissionView>, SubmissionError> {
        Ok(store::in_review(self.db(), PAGE)
            .await?
            .into_iter()
            .map(|r| submission_view(r, Vec::new()))
            .collect())
    }

    /// A moderator's decision on held work: approved work takes part in
    /// its round's pool (or a later one); rejected work earns nothing and
    /// its author sees `reason`.
    #[tracing::instrument(skip_all)]
    pub async fn moderate(
        &self,
        admin: &AccountId,
        id: &SubmissionId,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<SubmissionView, SubmissionError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.chars().count() > 300) {
            return Err(SubmissionError::InvalidRequest(
                "a reason has at most 300 characters",
            ));
        }
        if !approve && reason.is_none() {
            return Err(SubmissionError::InvalidRequest(
                "say why the work is rejected",
            ));
        }
        let status = if approve {
            SubmissionStatus::Scored
        } else {
            SubmissionStatus::Rejected
        };
        let decided =
            store::decide_review(self.db(), id, status.as_str(), reason, clock::unix_secs())
                .await?;
        if !decided {
            store::get(self.db(), id)
                .await?
                .ok_or(SubmissionError::NotFound)?;
            return Err(SubmissionError::NotInReview);
        }
        tracing::info!(submission = %id, status = %status.as_str(), "moderated");
        self.audit()
            .record(
                admin.as_str(),
                AuditAction::SubmissionModerated,
                id.as_str(),
                Some(serde_json::json!({ "status": SubmissionStatus::InReview.as_str() })),
                Some(serde_json::json!({ "status": status.as_str(), "reason": reason })),
            )
            .await?;
        let view = self.get(id).await?;
        self.evaluation().announce(&view);
        Ok(view)
    }

    /// Evaluations that ran out of retries.
    pub async fn dead_letters(&self) -> Result<Vec<DeadEvaluation>, SubmissionError> {
        Ok(meritree_store::evaluations::dead_letters(self.db(), PAGE)
            .await?
            .into_iter()
            .map(|(r, last_error)| DeadEvaluation {
                submission: submission_view(r, Vec::new()),
                last_error,
            })
            .collect())
    }

    /// Puts a dead evaluation back in the queue where it stopped.
    pub async fn retry_evaluation(
        &self,
        admin: &AccountId,
        id: &SubmissionId,
    ) -> Result<(), SubmissionError> {
        if !meritree_store::evaluations::requeue(self.db(), id, clock::unix_secs()).await? {
            store::get(self.db(), id)
                .await?
                .ok_or(SubmissionError::NotFound)?;
            return Err(SubmissionError::NotDead);
        }
        self.audit()
            .record(
                admin.as_str(),
                AuditAction::EvaluationRetried,
                id.as_str(),
                Some(serde_json::json!({ "evaluation": "dead" })),
                Some(serde_json::json!({ "evaluation": "queued" })),
            )
            .await?;
        self.evaluation().wake();
        Ok(())
    }
}

fn image_view(record: &meritree_store::images::ImageRecord) -> ImageView {
    let id = ImageId::parse(&record.id).expect("stored ids are SHA-256 hex");
    ImageView {
        url: id.url(),
        id,
        format: ImageFormat::parse(&record.format).unwrap_or(ImageFormat::Png),
        width: u32::try_from(record.width).unwrap_or(0),
        height: u32::try_from(record.height).unwrap_or(0),
        bytes: u64::try_from(record.bytes).unwrap_or(0),
    }
}

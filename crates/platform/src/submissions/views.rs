//! Stored rows to the views pages and the API show. A row this build
//! cannot read (an unknown status or stage) is shown as failed rather than
//! guessed at, and logged.

use meritree_core::submissions::fraud::FraudFlag;
use meritree_core::submissions::{
    CriterionScore, EntryView, SearchHit, Stage, StageView, SubmissionId, SubmissionStatus,
    SubmissionView,
};
use meritree_store::evaluations::StageRecord;
use meritree_store::submissions::{Hit, SubmissionRecord};

pub(crate) fn status_of(record: &SubmissionRecord) -> SubmissionStatus {
    SubmissionStatus::parse(&record.status).unwrap_or_else(|| {
        tracing::error!(submission = %record.id, status = %record.status, "unknown stored status");
        SubmissionStatus::Failed
    })
}

pub(crate) fn score_of(record: &SubmissionRecord) -> Option<u32> {
    record.score.and_then(|s| u32::try_from(s).ok())
}

pub fn submission_view(record: SubmissionRecord, stages: Vec<StageRecord>) -> SubmissionView {
    let status = status_of(&record);
    let breakdown: Vec<CriterionScore> = record
        .breakdown
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let flags: Vec<FraudFlag> = serde_json::from_str(&record.flags).unwrap_or_default();
    SubmissionView {
        stage: (status == SubmissionStatus::Evaluating)
            .then(|| record.stage.as_deref().and_then(Stage::parse))
            .flatten(),
        score: score_of(&record),
        id: SubmissionId::from(record.id),
        round: record.round,
        author: record.handle,
        title: record.title,
        body_html: record.body_html,
        status,
        breakdown,
        reason: record.reason,
        duplicate_of: record.duplicate_of.map(SubmissionId::from),
        flags,
        payout_percent: u32::try_from(record.payout_percent).unwrap_or(0),
        reward: record.reward,
        paid_in_round: record.paid_round,
        stages: stages.into_iter().filter_map(stage_view).collect(),
        created_at: record.created_at,
        image: record
            .image_id
            .and_then(|id| meritree_core::submissions::image::ImageId::parse(&id).ok()),
    }
}

fn stage_view(record: StageRecord) -> Option<StageView> {
    Some(StageView {
        stage: Stage::parse(&record.stage)?,
        outcome: record.outcome,
        provider: record.provider,
        model: record.model,
        duration_ms: record.duration_ms,
        summary: record.summary,
        finished_at: (record.started_at_ms + record.duration_ms) / 1000,
    })
}

/// Only scored work is shown to the public as written. Work still being
/// evaluated has not passed moderation yet; held, removed, copied and
/// failed work is not published: only its author and admins see it.
pub fn is_withheld(status: SubmissionStatus) -> bool {
    status != SubmissionStatus::Scored
}

fn withheld_title(status: SubmissionStatus) -> String {
    match status {
        SubmissionStatus::Evaluating => "Being evaluated",
        SubmissionStatus::InReview => "Withheld while a moderator reviews it",
        SubmissionStatus::Rejected => "Removed by a moderator",
        SubmissionStatus::Duplicate => "A copy of earlier work",
        SubmissionStatus::Failed | SubmissionStatus::Scored => "Not published",
    }
    .into()
}

/// `view` as the public sees it: unpublished work without its text, its
/// image, its scores, its flags or what any stage said of it.
pub fn public_view(mut view: SubmissionView) -> SubmissionView {
    if is_withheld(view.status) {
        view.title = withheld_title(view.status);
        view.body_html = String::new();
        view.reason = None;
        view.score = None;
        view.breakdown = Vec::new();
        view.flags = Vec::new();
        view.image = None;
        for stage in &mut view.stages {
            stage.summary = String::new();
        }
    }
    view
}

pub fn entry_view(record: SubmissionRecord) -> EntryView {
    let status = status_of(&record);
    EntryView {
        status,
        score: score_of(&record).filter(|_| !is_withheld(status)),
        id: SubmissionId::from(record.id),
        round: record.round,
        author: record.handle,
        title: if is_withheld(status) {
            withheld_title(status)
        } else {
            record.title
        },
        reward: record.reward,
        created_at: record.created_at,
    }
}

pub(super) fn search_hit((id, round, author, title, snippet, score): Hit) -> SearchHit {
    SearchHit {
        id: SubmissionId::from(id),
        round,
        author,
        title,
        snippet,
        score: score.and_then(|s| u32::try_from(s).ok()),
    }
}

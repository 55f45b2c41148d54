//! Submitted work and its evaluation: what a submission must be, the stages
//! it passes through, how a judge's answer is read, how fraud flags change a
//! payout, and how a round's pool is shared. The server applies these rules
//! and the browser checks input with the same ones as it is typed.

pub mod fraud;
pub mod image;
pub mod judge;
pub mod leaderboard;
pub mod payout;
pub mod text;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::accounts::id_type;

id_type!(
    /// A submission's id.
    SubmissionId
);

/// A submission's title: 3 to 120 characters once trimmed, one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

/// A submission's body: Markdown, 1 to 20,000 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Body(String);

/// Why a title or body was refused; the message is shown to the author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkError {
    TitleTooShort,
    TitleTooLong,
    TitleMultiline,
    BodyEmpty,
    BodyTooLong,
    ControlCharacter,
}

impl fmt::Display for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkError::TitleTooShort => "a title has at least 3 characters",
            WorkError::TitleTooLong => "a title has at most 120 characters",
            WorkError::TitleMultiline => "a title is one line",
            WorkError::BodyEmpty => "write something in the body",
            WorkError::BodyTooLong => "a body has at most 20,000 characters",
            WorkError::ControlCharacter => "the text holds a control character",
        })
    }
}

impl std::error::Error for WorkError {}

/// Control characters other than line breaks and tabs, and the bidi
/// overrides, have no place in prose and can hide text from a reader (or
/// show a judge something else than a reader sees).
fn has_hidden_control(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

impl Title {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 120;

    pub fn parse(raw: &str) -> Result<Self, WorkError> {
        let title = raw.trim();
        if title.contains(['\n', '\r']) {
            return Err(WorkError::TitleMultiline);
        }
        if has_hidden_control(title) || title.contains('\t') {
            return Err(WorkError::ControlCharacter);
        }
        let chars = title.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(WorkError::TitleTooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(WorkError::TitleTooLong);
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Body {
    pub const MAX_CHARS: usize = 20_000;

    pub fn parse(raw: &str) -> Result<Self, WorkError> {
        let body = raw.trim();
        if body.is_empty() {
            return Err(WorkError::BodyEmpty);
        }
        if body.chars().count() > Self::MAX_CHARS {
            return Err(WorkError::BodyTooLong);
        }
        if has_hidden_control(body) {
            return Err(WorkError::ControlCharacter);
        }
        Ok(Self(body.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = WorkError;
            fn try_from(raw: String) -> Result<Self, WorkError> {
                Self::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    )*};
}
string_newtype_conversions!(Title, Body);

/// What a member sends to submit work.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSubmission {
    pub title: String,
    pub body: String,
    /// The client's key for this submission: a retry with the same key
    /// returns the first submission instead of making a second.
    pub idempotency_key: String,
    /// The id of an image uploaded before (`POST /api/v1/images`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// The evaluation stages, in the order they run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The block list, and a provider's moderation endpoint when configured.
    Moderation,
    /// Exact copies by fingerprint, near-duplicates by embedding.
    Originality,
    /// The LLM judge's rubric score (and its safety verdict).
    Quality,
    /// Bursts, shared-address clusters and self-duplication.
    Fraud,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Moderation,
        Stage::Originality,
        Stage::Quality,
        Stage::Fraud,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Moderation => "moderation",
            Stage::Originality => "originality",
            Stage::Quality => "quality",
            Stage::Fraud => "fraud",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|stage| stage.as_str() == s)
    }

    /// The stage after this one; `None` after the last.
    pub fn next(self) -> Option<Self> {
        let at = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(at + 1).copied()
    }

    pub const fn label(self) -> &'static str {
        match self {
            Stage::Moderation => "Moderation",
            Stage::Originality => "Originality",
            Stage::Quality => "Quality",
            Stage::Fraud => "Fraud checks",
        }
    }
}

/// Where a submission stands. Only `Scored` work takes part in a round's
/// payout.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Waiting for or passing through the stages.
    Evaluating,
    /// Flagged (moderation, the judge's safety verdict or fraud): waits for
    /// an admin to approve or reject it.
    InReview,
    /// Evaluated and eligible for its round's pool.
    Scored,
    /// An exact copy or near-duplicate of earlier work: earns nothing.
    Duplicate,
    /// Rejected by an admin, with a reason the author sees.
    Rejected,
    /// The evaluation gave up (the judge never answered in the schema).
    Failed,
}

impl SubmissionStatus {
    pub const ALL: [SubmissionStatus; 6] = [
        SubmissionStatus::Evaluating,
        SubmissionStatus::InReview,
        SubmissionStatus::Scored,
        SubmissionStatus::Duplicate,
        SubmissionStatus::Rejected,
        SubmissionStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Evaluating => "evaluating",
            SubmissionStatus::InReview => "in_review",
            SubmissionStatus::Scored => "scored",
            SubmissionStatus::Duplicate => "duplicate",
            SubmissionStatus::Rejected => "rejected",
            SubmissionStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub const fn label(self) -> &'static str {
        match self {
            SubmissionStatus::Evaluating => "Being evaluated",
            SubmissionStatus::InReview => "Held for review",
            SubmissionStatus::Scored => "Scored",
            SubmissionStatus::Duplicate => "Duplicate",
            SubmissionStatus::Rejected => "Rejected",
            SubmissionStatus::Failed => "Evaluation failed",
        }
    }

    /// Whether the evaluation has reached its end (an admin's decision
    /// aside, nothing about the submission changes any more).
    pub const fn is_final(self) -> bool {
        !matches!(
            self,
            SubmissionStatus::Evaluating | SubmissionStatus::InReview
        )
    }
}

/// One criterion's score in a judge's verdict.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionScore {
    pub criterion: String,
    pub score: u32,
    /// The rubric's scale: `score` is out of this.
    pub out_of: u32,
    pub weight: u32,
}

/// A stage as the author and the public see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageView {
    pub stage: Stage,
    /// `ok`, `flagged`, `error` (retried) or `failed`.
    pub outcome: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub duration_ms: i64,
    /// What the stage found, in a line.
    pub summary: String,
    pub finished_at: i64,
}

/// An evaluation that ran out of retries, held for an admin to retry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadEvaluation {
    pub submission: SubmissionView,
    pub last_error: Option<String>,
}

/// A submission as its page and the API show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionView {
    pub id: SubmissionId,
    pub round: i64,
    pub author: Option<String>,
    pub title: String,
    /// The body rendered to sanitised HTML on the server.
    pub body_html: String,
    pub status: SubmissionStatus,
    /// The stage running or next to run while `Evaluating`.
    pub stage: Option<Stage>,
    /// 0 to 100, once the judge has scored it.
    pub score: Option<u32>,
    pub breakdown: Vec<CriterionScore>,
    /// The judge's one-line reason, or why the work was held or rejected.
    pub reason: Option<String>,
    pub duplicate_of: Option<SubmissionId>,
    /// Fraud flags, each explained.
    pub flags: Vec<fraud::FraudFlag>,
    /// Percent of its share the work is paid after fraud flags.
    pub payout_percent: u32,
    /// Points paid from a round's pool, once paid.
    pub reward: Option<i64>,
    /// The round whose pool paid it.
    pub paid_in_round: Option<i64>,
    pub stages: Vec<StageView>,
    pub created_at: i64,
    /// The image it carries, served at [`image::ImageId::url`].
    #[serde(default)]
    pub image: Option<image::ImageId>,
}

/// One line of a round's entries or leaderboard.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: SubmissionId,
    pub round: i64,
    pub author: Option<String>,
    pub title: String,
    pub status: SubmissionStatus,
    pub score: Option<u32>,
    pub reward: Option<i64>,
    pub created_at: i64,
}

/// A round's competition: its theme, pool and standing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompetitionView {
    pub round: i64,
    pub theme: String,
    pub pool: u64,
    pub rule: payout::PayoutRule,
    pub starts_at: i64,
    pub ends_at: i64,
    /// When the pool was paid; `None` while the round runs or waits for
    /// its last evaluations.
    pub paid_at: Option<i64>,
    pub entries: Vec<EntryView>,
}

/// A member's public page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    pub handle: String,
    pub submissions: Vec<EntryView>,
    /// Points earned from pools, all time.
    pub earned: i64,
}

/// One line of the all-time leaderboard.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarnerView {
    pub handle: String,
    pub earned: i64,
    pub entries: i64,
}

/// A search hit: a published work with the matched words marked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: SubmissionId,
    pub round: i64,
    pub author: Option<String>,
    pub title: String,
    /// Plain text around the matches; each match sits between U+0002 and
    /// U+0003 (characters a submission can never hold), which the page
    /// renders as `<mark>`, never as raw HTML.
    pub snippet: String,
    pub score: Option<u32>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    pub query: String,
    pub hits: Vec<SearchHit>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_bodies_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  A poem ").unwrap().as_str(), "A poem");
        assert_eq!(Title::parse("ab"), Err(WorkError::TitleTooShort));
        assert_eq!(Title::parse(&"x".repeat(121)), Err(WorkError::TitleTooLong));
        assert_eq!(Title::parse("two\nlines"), Err(WorkError::TitleMultiline));
        assert_eq!(Title::parse("bell\u{7}"), Err(WorkError::ControlCharacter));
        assert_eq!(Body::parse(" \n "), Err(WorkError::BodyEmpty));
        assert_eq!(
            Body::parse(&"é".repeat(20_001)),
            Err(WorkError::BodyTooLong)
        );
        assert!(Body::parse(&"é".repeat(20_000)).is_ok());
        assert_eq!(Body::parse("nul\u{0}"), Err(WorkError::ControlCharacter));
        assert_eq!(
            Body::parse("looks \u{202e}reversed"),
            Err(WorkError::ControlCharacter)
        );
        assert!(Body::parse("tabs\tand\nlines").is_ok());
    }

    #[test]
    fn stages_run_in_order_and_round_trip() {
        assert_eq!(Stage::Moderation.next(), Some(Stage::Originality));
        assert_eq!(Stage::Fraud.next(), None);
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        for status in SubmissionStatus::ALL {
            assert_eq!(SubmissionStatus::parse(status.as_str()), Some(status));
        }
    }
}

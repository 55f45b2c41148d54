//! Notifications: what the platform tells a member about their own
//! account — an evaluation's result, a round's result, points, a claim, a
//! task, a security event — kept in their notification centre and pushed
//! live; each kind can be turned off.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a notification is about; members turn kinds off one by one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A submitted work was scored, or refused.
    EvaluationResult,
    /// A round paid its pool to the member's work.
    RoundResult,
    /// Points reached the account otherwise (an admin's adjustment).
    PointsCredited,
    /// A claim of tokens was confirmed on chain.
    ClaimConfirmed,
    /// A compute task ended (completed, failed or cancelled).
    TaskCompleted,
    /// A new sign-in, a new API key.
    Security,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 6] = [
        NotificationKind::EvaluationResult,
        NotificationKind::RoundResult,
        NotificationKind::PointsCredited,
        NotificationKind::ClaimConfirmed,
        NotificationKind::TaskCompleted,
        NotificationKind::Security,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationKind::EvaluationResult => "evaluation_result",
            NotificationKind::RoundResult => "round_result",
            NotificationKind::PointsCredited => "points_credited",
            NotificationKind::ClaimConfirmed => "claim_confirmed",
            NotificationKind::TaskCompleted => "task_completed",
            NotificationKind::Security => "security",
        }
    }

    /// How the preferences name it.
    pub const fn label(self) -> &'static str {
        match self {
            NotificationKind::EvaluationResult => "Evaluation results",
            NotificationKind::RoundResult => "Round results",
            NotificationKind::PointsCredited => "Points credited",
            NotificationKind::ClaimConfirmed => "Claims confirmed",
            NotificationKind::TaskCompleted => "Compute tasks ended",
            NotificationKind::Security => "Security: new sign-ins and API keys",
        }
    }
}

impl FromStr for NotificationKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        NotificationKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or(UnknownKind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownKind;

impl std::fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no notification kind of that name")
    }
}

impl std::error::Error for UnknownKind {}

/// The most a centre lists at once, newest first.
pub const PAGE_SIZE: u32 = 50;

/// One notification, as its member sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: i64,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    /// A page of this site it is about (`/s/{id}`, `/tasks/{id}`, …).
    pub link: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub read: bool,
}

/// The centre: how many are unread, and the newest.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationCentre {
    pub unread: u32,
    pub notifications: Vec<NotificationView>,
}

/// Which kinds a member is told about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationPreferences {
    /// The kinds turned off; every other kind is on.
    pub muted: Vec<NotificationKind>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name_and_on_the_wire() {
        for kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!("nope".parse::<NotificationKind>(), Err(UnknownKind));
    }
}

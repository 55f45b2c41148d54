//! Live updates: the events the server pushes over `/api/v1/ws`, one
//! definition for the server that sends them and the browser that reads
//! them. Each frame is an [`Envelope`]: a sequence number (per instance,
//! for resuming after a reconnect) and the event.

use serde::{Deserialize, Serialize};

use crate::compute::{NetworkStats, NodeId, NodeStatus, TaskId, TaskStatus};
use crate::submissions::leaderboard::BoardChange;
use crate::submissions::{Stage, SubmissionId, SubmissionStatus};

/// Who an event is for. Public events go to every socket; an account's
/// own events only to that account's sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", content = "account", rename_all = "snake_case")]
pub enum Audience {
    Everyone,
    Account(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A round's standing changed: an entry arrived, or it opened or paid.
    Round {
        round: i64,
        entries: u32,
        ends_at: i64,
        paid: bool,
    },
    /// A round's leaderboard changed (an entry was scored, removed or
    /// paid): what changed since this instance's last announcement, and
    /// the digest of the board it leads to (see
    /// [`leaderboard`](crate::submissions::leaderboard)).
    Leaderboard {
        round: i64,
        change: BoardChange,
        digest: String,
    },
    /// A submission moved: a stage began or ended, or it reached a status.
    Submission {
        id: SubmissionId,
        round: i64,
        status: SubmissionStatus,
        /// The stage now running, while evaluating.
        stage: Option<Stage>,
        score: Option<u32>,
    },
    /// Events were missed and are no longer kept: reload what is shown.
    Resync,
    /// A task moved or made progress (to its submitter).
    TaskUpdate {
        id: TaskId,
        status: TaskStatus,
        /// 0 to 100.
        progress: u8,
        node_id: Option<NodeId>,
        /// When it should be done (unix seconds), while it runs.
        estimated_completion: Option<i64>,
    },
    /// A compute node came, went or changed.
    NodeStatus {
        id: NodeId,
        status: NodeStatus,
        /// Thousandths.
        reputation: u32,
        /// Tasks it runs now.
        running: u32,
        tasks_completed: u64,
    },
    /// The network's figures, sent every few seconds while they change.
    NetworkStats(NetworkStats),
    /// Points reached the account's ledger.
    PointsCredited {
        amount: i64,
        balance: i64,
        reference: Option<String>,
    },
    /// A notification reached the account's centre.
    Notification {
        notification: crate::notifications::NotificationView,
    },
    /// The page runs another release of the client than the server
    /// serves (sent first, to a socket opened with `?release=`): the page
    /// is too old for the server's API and must reload.
    Outdated {
        /// The release the server serves.
        release: String,
    },
}

/// Whether `text` names a client release: the bundle's content hash, 16
/// lowercase hexadecimal digits, as the build writes it.
pub fn is_release(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One frame on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Increases by one per event this instance sent; a client reconnects
    /// with `?since=<last seq>` to receive what it missed, when the server
    /// still holds it.
    pub seq: u64,
    pub event: LiveEvent,
}

/// Close codes the server uses, beside the standard ones.
pub mod close_code {
    /// The client read too slowly and its queue filled: reconnect.
    pub const TOO_SLOW: u16 = 4008;
    /// The credential expired or was revoked: sign in again.
    pub const UNAUTHENTICATED: u16 = 4001;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_a_stable_shape() {
        let frame = Envelope {
            seq: 7,
            event: LiveEvent::Submission {
                id: "s1".into(),
                round: 3,
                status: SubmissionStatus::Evaluating,
                stage: Some(Stage::Quality),
                score: None,
            },
        };
        let json = serde_json::to_value(&frame).unwrap();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["event"]["type"], "submission");
        assert_eq!(json["event"]["stage"], "quality");
        assert_eq!(serde_json::from_value::<Envelope>(json).unwrap(), frame);
    }
}

//! The frames a node and the platform exchange on the node's socket
//! (`GET /api/v1/nodes/{id}/connect`), JSON text frames tagged by `type`.
//! Unknown frames and fields are refused, so neither side guesses.

use serde::{Deserialize, Serialize};

use super::{NodeId, TaskId, TaskInput, TaskOutput};

/// Characters one streamed piece of an answer may hold.
pub const MAX_DELTA_CHARS: usize = 16_384;
/// Characters a failure's reason may hold (longer ones are cut).
pub const MAX_REASON_CHARS: usize = 500;
/// Bytes one frame may hold: a result of 256 embeddings of 4,096
/// dimensions fits.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// From the platform to a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToNode {
    /// The connection is accepted: heartbeat at least this often; a task's
    /// lease lasts `lease_secs` from its last heartbeat.
    Welcome {
        node_id: NodeId,
        heartbeat_secs: u64,
        lease_secs: u64,
    },
    /// Run this task under this lease.
    Task {
        id: TaskId,
        lease: u64,
        input: TaskInput,
    },
    /// Stop running it: cancelled by its submitter or no longer yours.
    Abandon { id: TaskId, lease: u64 },
    /// A result or failure was taken.
    Accepted { id: TaskId, lease: u64 },
    /// A frame was refused; `code` is one of the API's error codes.
    Refused {
        id: Option<TaskId>,
        code: String,
        message: String,
    },
}

/// From a node to the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FromNode {
    /// Still here, running this many tasks.
    Heartbeat { running: u32 },
    /// Began running the task.
    Started { id: TaskId, lease: u64 },
    /// The next piece of a chat answer, as it is generated.
    Delta {
        id: TaskId,
        lease: u64,
        text: String,
    },
    /// The task's result.
    Completed {
        id: TaskId,
        lease: u64,
        output: TaskOutput,
    },
    /// The task could not be run here.
    Failed {
        id: TaskId,
        lease: u64,
        reason: String,
    },
    /// Handing the task back unrun (the node is draining).
    Release { id: TaskId, lease: u64 },
    /// Take no new tasks: the node is finishing what it holds.
    Draining,
}

impl FromNode {
    /// Bounds a frame's free text: a delta over the limit is refused, a
    /// long reason cut.
    pub fn checked(self) -> Result<Self, &'static str> {
        match self {
            FromNode::Delta { text, .. } if text.chars().count() > MAX_DELTA_CHARS => {
                Err("a delta holds at most 16,384 characters")
            }
            FromNode::Failed { id, lease, reason } => Ok(FromNode::Failed {
                id,
                lease,
                reason: reason.chars().take(MAX_REASON_CHARS).collect(),
            }),
            frame => Ok(frame),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_a_stable_shape() {
        let frame = FromNode::Delta {
            id: "t1".into(),
            lease: 2,
            text: "Hel".into(),
        };
        let json = serde_json::to_value(&frame).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "delta", "id": "t1", "lease": 2, "text": "Hel"})
        );
        let back: FromNode = serde_json::from_value(json).unwrap();
        assert_eq!(back, frame);
        let heartbeat: FromNode =
            serde_json::from_str(r#"{"type":"heartbeat","running":1}"#).unwrap();
        assert_eq!(heartbeat, FromNode::Heartbeat { running: 1 });
    }

    #[test]
    fn unknown_frames_and_fields_are_refused() {
        assert!(serde_json::from_str::<FromNode>(r#"{"type":"steal","id":"t"}"#).is_err());
        assert!(
            serde_json::from_str::<FromNode>(r#"{"type":"heartbeat","running":1,"x":0}"#).is_err()
        );
        assert!(serde_json::from_str::<FromNode>(r#"{"type":"heartbeat","running":-1}"#).is_err());
    }

    #[test]
    fn free_text_is_bounded() {
        let long = FromNode::Delta {
            id: "t".into(),
            lease: 1,
            text: "x".repeat(MAX_DELTA_CHARS + 1),
        };
        assert!(long.checked().is_err());
        let failed = FromNode::Failed {
            id: "t".into(),
            lease: 1,
            reason: "y".repeat(2_000),
        }
        .checked()
        .unwrap();
        let FromNode::Failed { reason, .. } = failed else {
            unreachable!()
        };
        assert_eq!(reason.len(), MAX_REASON_CHARS);
    }
}

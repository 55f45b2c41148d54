//! The compute network: AI tasks that community nodes run for the
//! platform, the nodes themselves, and the figures the network dashboard
//! shows. One definition for the server, the `meritree node` worker and
//! the browser.

pub mod protocol;
pub mod review;
pub mod state;
pub mod verification;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::accounts::id_type;
pub use state::{TaskState, TaskStatus, Transition, TransitionError};
pub use verification::Verdict;

id_type!(
    /// A task's id.
    TaskId
);

id_type!(
    /// A compute node's id.
    NodeId
);

/// Messages a chat task may hold.
pub const MAX_MESSAGES: usize = 64;
/// Characters of all a task's texts together (messages or inputs).
pub const MAX_INPUT_CHARS: usize = 64_000;
/// Texts one embeddings task may hold.
pub const MAX_EMBED_INPUTS: usize = 256;
/// Tokens a chat task may ask for.
pub const MAX_TASK_TOKENS: u32 = 8_192;
/// Characters of a chat answer a node may return.
pub const MAX_OUTPUT_CHARS: usize = 200_000;
/// Dimensions of one returned embedding.
pub const MAX_DIMENSIONS: usize = 4_096;
/// Models one node may serve.
pub const MAX_NODE_MODELS: usize = 32;
/// Tasks one node may run at once.
pub const MAX_CAPACITY: u32 = 256;
/// Nodes one operator may register.
pub const MAX_NODES_PER_OPERATOR: usize = 32;

/// Why a task, a result or a node's registration was refused; the message
/// is shown to whoever sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    ModelName,
    NoMessages,
    TooManyMessages,
    NoInputs,
    TooManyInputs,
    InputTooLong,
    MaxTokens,
    Temperature,
    OutputTooLong,
    OutputShape(&'static str),
    NodeName,
    NoModels,
    TooManyModels,
    Capacity,
    IdempotencyKey,
    TooManyNodes,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::ModelName => {
                f.write_str("a model name is 1 to 128 visible ASCII characters")
            }
            RuleError::NoMessages => f.write_str("a chat task needs at least one message"),
            RuleError::TooManyMessages => {
                write!(f, "a chat task holds at most {MAX_MESSAGES} messages")
            }
            RuleError::NoInputs => f.write_str("an embeddings task needs at least one text"),
            RuleError::TooManyInputs => {
                write!(
                    f,
                    "an embeddings task holds at most {MAX_EMBED_INPUTS} texts"
                )
            }
            RuleError::InputTooLong => {
                write!(
                    f,
                    "a task's texts hold at most {MAX_INPUT_CHARS} characters in all"
                )
            }
            RuleError::MaxTokens => write!(f, "max_tokens is 1 to {MAX_TASK_TOKENS}"),
            RuleError::Temperature => f.write_str("temperature is between 0 and 2"),
            RuleError::OutputTooLong => {
                write!(f, "an answer holds at most {MAX_OUTPUT_CHARS} characters")
            }
            RuleError::OutputShape(why) => f.write_str(why),
            RuleError::NodeName => f.write_str(
                "a node's name is 1 to 64 characters: letters, digits, '-', '_' and '.'",
            ),
            RuleError::NoModels => f.write_str("a node serves at least one model"),
            RuleError::TooManyModels => {
                write!(f, "a node serves at most {MAX_NODE_MODELS} models")
            }
            RuleError::Capacity => write!(f, "a node's capacity is 1 to {MAX_CAPACITY} tasks"),
            RuleError::IdempotencyKey => {
                f.write_str("an idempotency key is 1 to 128 visible ASCII characters")
            }
            RuleError::TooManyNodes => write!(
                f,
                "an operator runs at most {MAX_NODES_PER_OPERATOR} nodes: register an existing name again to update it"
            ),
        }
    }
}

impl std::error::Error for RuleError {}

fn check_model(model: &str) -> Result<(), RuleError> {
    let visible = model.bytes().all(|b| b.is_ascii_graphic());
    if model.is_empty() || model.len() > 128 || !visible {
        return Err(RuleError::ModelName);
    }
    Ok(())
}

/// Who wrote a chat message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

/// What a task asks a node to do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskInput {
    /// A chat completion.
    Chat {
        model: String,
        messages: Vec<ChatMessage>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f32>,
    },
    /// Embeddings of a batch of texts.
    Embeddings { model: String, inputs: Vec<String> },
}

impl TaskInput {
    pub fn kind(&self) -> TaskKind {
        match self {
            TaskInput::Chat { .. } => TaskKind::Chat,
            TaskInput::Embeddings { .. } => TaskKind::Embeddings,
        }
    }

    pub fn model(&self) -> &str {
        match self {
            TaskInput::Chat { model, .. } | TaskInput::Embeddings { model, .. } => model,
        }
    }

    /// Characters of its texts, for limits and the token estimate.
    pub fn chars(&self) -> usize {
        match self {
            TaskInput::Chat { messages, .. } => {
                messages.iter().map(|m| m.content.chars().count()).sum()
            }
            TaskInput::Embeddings { inputs, .. } => inputs.iter().map(|i| i.chars().count()).sum(),
        }
    }

    pub fn validate(&self) -> Result<(), RuleError> {
        check_model(self.model())?;
        match self {
            TaskInput::Chat {
                messages,
                max_tokens,
                temperature,
                ..
            } => {
                if messages.is_empty() {
                    return Err(RuleError::NoMessages);
                }
                if messages.len() > MAX_MESSAGES {
                    return Err(RuleError::TooManyMessages);
                }
                if max_tokens.is_some_and(|m| m == 0 || m > MAX_TASK_TOKENS) {
                    return Err(RuleError::MaxTokens);
                }
                if temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                    return Err(RuleError::Temperature);
                }
            }
            TaskInput::Embeddings { inputs, .. } => {
                if inputs.is_empty() {
                    return Err(RuleError::NoInputs);
                }
                if inputs.len() > MAX_EMBED_INPUTS {
                    return Err(RuleError::TooManyInputs);
                }
            }
        }
        if self.chars() > MAX_INPUT_CHARS {
            return Err(RuleError::InputTooLong);
        }
        Ok(())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Chat,
    Embeddings,
}

impl TaskKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::Chat => "chat",
            TaskKind::Embeddings => "embeddings",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [TaskKind::Chat, TaskKind::Embeddings]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// What a node returns.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskOutput {
    Chat {
        text: String,
        input_tokens: u64,
        output_tokens: u64,
    },
    Embeddings {
        vectors: Vec<Vec<f32>>,
        input_tokens: u64,
    },
}

impl TaskOutput {
    /// Checks the output answers `input`: the same kind, bounded, and for
    /// embeddings one finite vector per text, all of one dimension.
    pub fn validate_for(&self, input: &TaskInput) -> Result<(), RuleError> {
        match (self, input) {
            (TaskOutput::Chat { text, .. }, TaskInput::Chat { .. }) => {
                if text.chars().count() > MAX_OUTPUT_CHARS {
                    return Err(RuleError::OutputTooLong);
                }
                Ok(())
            }
            (TaskOutput::Embeddings { vectors, .. }, TaskInput::Embeddings { inputs, .. }) => {
                if vectors.len() != inputs.len() {
                    return Err(RuleError::OutputShape("one vector per input text"));
                }
                let dims = vectors.first().map_or(0, Vec::len);
                if dims == 0 || dims > MAX_DIMENSIONS {
                    return Err(RuleError::OutputShape("vectors have 1 to 4,096 dimensions"));
                }
                if vectors
                    .iter()
                    .any(|v| v.len() != dims || v.iter().any(|x| !x.is_finite()))
                {
                    return Err(RuleError::OutputShape(
                        "vectors share one dimension and hold finite numbers",
                    ));
                }
                Ok(())
            }
            _ => Err(RuleError::OutputShape(
                "the output is not of the task's kind",
            )),
        }
    }

    /// The output with its token counts held to what its texts can hold: a
    /// token is at least a character, so a node cannot inflate what it is
    /// paid (or what a caller is billed) by claiming more tokens than the
    /// input and answer have characters.
    pub fn bounded_for(self, input: &TaskInput) -> TaskOutput {
        let ceiling = |chars: usize| u64::try_from(chars).unwrap_or(u64::MAX).saturating_add(16);
        match self {
            TaskOutput::Chat {
                text,
                input_tokens,
                output_tokens,
            } => TaskOutput::Chat {
                input_tokens: input_tokens.min(ceiling(input.chars())),
                output_tokens: output_tokens.min(ceiling(text.chars().count())),
                text,
            },
            TaskOutput::Embeddings {
                vectors,
                input_tokens,
            } => TaskOutput::Embeddings {
                input_tokens: input_tokens.min(ceiling(input.chars())),
                vectors,
            },
        }
    }

    /// Tokens the task used, for rewards and billing.
    pub fn tokens(&self) -> u64 {
        match self {
            TaskOutput::Chat {
                input_tokens,
                output_tokens,
                ..
            } => input_tokens.saturating_add(*output_tokens),
            TaskOutput::Embeddings { input_tokens, .. } => *input_tokens,
        }
    }
}

fn check_key(key: &str) -> Result<(), RuleError> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RuleError::IdempotencyKey);
    }
    Ok(())
}

/// `POST /api/v1/tasks/submit`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub input: TaskInput,
    /// A retry with the same key returns the first task.
    pub idempotency_key: String,
}

impl NewTask {
    pub fn validate(&self) -> Result<(), RuleError> {
        check_key(&self.idempotency_key)?;
        self.input.validate()
    }
}

/// A task as its submitter (and the node running it) sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: TaskId,
    pub kind: TaskKind,
    pub model: String,
    pub status: TaskStatus,
    /// The node running it, or that completed or last failed it.
    pub node_id: Option<NodeId>,
    /// Assignments so far.
    pub lease: u64,
    pub failures: u32,
    pub max_attempts: u32,
    /// 0 to 100: how far the running node says it is.
    pub progress: u8,
    pub output: Option<TaskOutput>,
    pub error: Option<String>,
    /// Points the node's operator earned for it.
    pub reward: Option<i64>,
    /// When its result was checked against another node's, what that found.
    pub verdict: Option<Verdict>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

/// A node's registration: `POST /api/v1/nodes/register`. Registering the
/// same name again updates the node.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRegistration {
    pub name: String,
    /// The model names it serves, as tasks name them.
    pub models: Vec<String>,
    /// Tasks it runs at once.
    pub capacity: u32,
}

impl NodeRegistration {
    pub fn validate(&self) -> Result<(), RuleError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(RuleError::NodeName);
        }
        if self.models.is_empty() {
            return Err(RuleError::NoModels);
        }
        if self.models.len() > MAX_NODE_MODELS {
            return Err(RuleError::TooManyModels);
        }
        self.models.iter().try_for_each(|m| check_model(m))?;
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(RuleError::Capacity);
        }
        Ok(())
    }
}

/// Whether a node takes tasks now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Connected and heartbeating.
    Online,
    /// Not connected.
    Offline,
    /// Connected but finishing its tasks and taking no new ones.
    Maintenance,
}

impl NodeStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Online => "online",
            NodeStatus::Offline => "offline",
            NodeStatus::Maintenance => "maintenance",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            NodeStatus::Online,
            NodeStatus::Offline,
            NodeStatus::Maintenance,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// Reputation is kept in thousandths: 1,000 is a node nobody has found at
/// fault.
pub const FULL_REPUTATION: u32 = 1_000;

/// A node as anyone sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: NodeId,
    pub name: String,
    pub operator: Option<String>,
    pub models: Vec<String>,
    pub capacity: u32,
    pub status: NodeStatus,
    /// Thousandths; see [`FULL_REPUTATION`].
    pub reputation: u32,
    pub tasks_completed: u64,
    pub tasks_failed: u64,
    /// Points earned by its operator through it.
    pub earned: i64,
    /// Results checked against another node's, and how many disagreed.
    pub checks: u64,
    pub mismatches: u64,
    /// Disagreed often enough for an admin to review it for slashing.
    pub flagged: bool,
    /// Tasks it holds now.
    pub running: u32,
    pub last_seen: Option<i64>,
    pub registered_at: i64,
}

/// `GET /api/v1/network/stats` and the `network_stats` event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub active_nodes: u64,
    pub pending_tasks: u64,
    pub running_tasks: u64,
    /// Tasks completed in the last hour.
    pub completed_last_hour: u64,
    /// Tasks completed per minute over the last hour, oldest first (60
    /// values, the last one the minute now running).
    pub throughput: Vec<u64>,
}

/// `GET /api/v1/nodes/stats`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesStats {
    pub online: u64,
    pub maintenance: u64,
    pub offline: u64,
    /// The online nodes, most reputable first (at most 100).
    pub nodes: Vec<NodeView>,
}

/// `GET /api/v1/network/health`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkHealth {
    /// `ok` when nodes are online to take tasks, `no_nodes` otherwise.
    pub status: String,
    pub active_nodes: u64,
    pub pending_tasks: u64,
    /// Nodes connected to the instance that answered.
    pub connected_here: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(messages: usize, chars: usize) -> TaskInput {
        TaskInput::Chat {
            model: "llama-3".into(),
            messages: (0..messages)
                .map(|_| ChatMessage {
                    role: ChatRole::User,
                    content: "x".repeat(chars),
                })
                .collect(),
            max_tokens: None,
            temperature: None,
        }
    }

    #[test]
    fn task_inputs_are_bounded() {
        assert_eq!(chat(1, 10).validate(), Ok(()));
        assert_eq!(chat(0, 10).validate(), Err(RuleError::NoMessages));
        assert_eq!(chat(65, 1).validate(), Err(RuleError::TooManyMessages));
        assert_eq!(chat(2, 32_001).validate(), Err(RuleError::InputTooLong));
        let bad_model = TaskInput::Embeddings {
            model: "has space".into(),
            inputs: vec!["a".into()],
        };
        assert_eq!(bad_model.validate(), Err(RuleError::ModelName));
        let none = TaskInput::Embeddings {
            model: "m".into(),
            inputs: vec![],
        };
        assert_eq!(none.validate(), Err(RuleError::NoInputs));
        let mut hot = chat(1, 1);
        if let TaskInput::Chat { temperature, .. } = &mut hot {
            *temperature = Some(f32::NAN);
        }
        assert_eq!(hot.validate(), Err(RuleError::Temperature));
    }

    #[test]
    fn inputs_read_the_wire_shape_and_refuse_unknown_fields() {
        let raw = r#"{"kind":"chat","model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let input: TaskInput = serde_json::from_str(raw).unwrap();
        assert_eq!(input.kind(), TaskKind::Chat);
        let extra = r#"{"kind":"embeddings","model":"m","inputs":["a"],"x":1}"#;
        assert!(serde_json::from_str::<TaskInput>(extra).is_err());
    }

    #[test]
    fn outputs_must_answer_their_task() {
        let embed = TaskInput::Embeddings {
            model: "m".into(),
            inputs: vec!["a".into(), "b".into()],
        };
        let ok = TaskOutput::Embeddings {
            vectors: vec![vec![0.1, 0.2], vec![0.3, 0.4]],
            input_tokens: 2,
        };
        assert_eq!(ok.validate_for(&embed), Ok(()));
        for bad in [
            vec![vec![0.1, 0.2]],
            vec![vec![0.1, 0.2], vec![0.3]],
            vec![vec![0.1, f32::INFINITY], vec![0.3, 0.4]],
            vec![vec![], vec![]],
        ] {
            let out = TaskOutput::Embeddings {
                vectors: bad,
                input_tokens: 2,
            };
            assert!(out.validate_for(&embed).is_err());
        }
        let text = TaskOutput::Chat {
            text: "hi".into(),
            input_tokens: 1,
            output_tokens: 1,
        };
        assert!(text.validate_for(&embed).is_err());
        assert_eq!(text.validate_for(&chat(1, 1)), Ok(()));
    }

    #[test]
    fn a_node_cannot_claim_more_tokens_than_the_texts_hold() {
        let input = chat(1, 100);
        let claimed = TaskOutput::Chat {
            text: "short".into(),
            input_tokens: 9_000_000_000_000_000_000,
            output_tokens: u64::MAX,
        };
        assert_eq!(
            claimed.bounded_for(&input),
            TaskOutput::Chat {
                text: "short".into(),
                input_tokens: 116,
                output_tokens: 21,
            }
        );
        let honest = TaskOutput::Chat {
            text: "a fair answer".into(),
            input_tokens: 30,
            output_tokens: 4,
        };
        assert_eq!(honest.clone().bounded_for(&input), honest);
    }

    #[test]
    fn registrations_are_checked() {
        let good = NodeRegistration {
            name: "gpu-box.1".into(),
            models: vec!["llama-3".into()],
            capacity: 4,
        };
        assert_eq!(good.validate(), Ok(()));
        let named = |name: &str| NodeRegistration {
            name: name.into(),
            ..good.clone()
        };
        assert_eq!(named("").validate(), Err(RuleError::NodeName));
        assert_eq!(named("a b").validate(), Err(RuleError::NodeName));
        assert_eq!(named(&"n".repeat(65)).validate(), Err(RuleError::NodeName));
        let idle = NodeRegistration {
            capacity: 0,
            ..good.clone()
        };
        assert_eq!(idle.validate(), Err(RuleError::Capacity));
        let modelless = NodeRegistration {
            models: vec![],
            ..good
        };
        assert_eq!(modelless.validate(), Err(RuleError::NoModels));
    }
}

//! The provider-neutral request, response and stream shapes every adapter
//! translates to and from.

use serde::{Deserialize, Serialize};

use crate::error::ProviderError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The upstream's own model name; the router substitutes each
    /// candidate's model before calling its provider.
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub stream: bool,
    /// Sequences that end the answer (not included in it); at most four.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// For providers that sample reproducibly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The answer's form. A provider that cannot guarantee it refuses the
    /// request (`ProviderError::Unsupported`) and the router tries the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

/// The answer's required form, as OpenAI's `response_format` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following `json_schema.schema`.
    JsonSchema {
        json_schema: JsonSchemaFormat,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    pub schema: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl ResponseFormat {
    /// Whether it asks for more than free text.
    pub fn constrains(&self) -> bool {
        !matches!(self, ResponseFormat::Text)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Tokens in `chars` characters of text, where no upstream counted them: a
/// quarter of the characters, rounded up. That is Google's rule of thumb for
/// its tokenizer and near enough for the others' on prose; it is only used
/// so that uncounted text is still paid for, never to replace a count.
pub fn estimate_tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
    ContentFilter,
    ToolCalls,
    /// Whatever else an upstream reports, kept verbatim for logs.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The model that answered, as the upstream names it.
    pub model: String,
    pub text: String,
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    TextDelta {
        text: String,
    },
    /// Totals for the whole response so far; a later one supersedes an
    /// earlier one rather than adding to it.
    Usage {
        usage: Usage,
    },
    Done {
        finish_reason: Option<FinishReason>,
    },
    /// Terminal: the router emits it when a stream fails after output has
    /// already reached the caller, where failing over is no longer possible.
    Error {
        error: ProviderError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// As for `ChatRequest::model`: replaced by each candidate's model.
    pub model: String,
    pub inputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationRequest {
    /// As for `ChatRequest::model`: replaced by each candidate's model.
    pub model: String,
    pub input: String,
}

/// A moderation classifier's verdict on one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moderation {
    pub model: String,
    pub flagged: bool,
    /// The policy categories the text was flagged for, sorted.
    pub categories: Vec<String>,
    /// Each category's score from 0 to 1, as the classifier reported it.
    pub scores: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    pub model: String,
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

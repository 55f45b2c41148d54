//! OpenAI's request and response JSON, as the official SDKs send and read
//! it, and the translation to and from the gateway's own types. Fields we
//! read are validated; fields asking for what no provider here does (tools,
//! log-probabilities, audio, …) are refused with a 400 rather than dropped;
//! other fields (`user`, `metadata`, …) are ignored.

use meritree_ai::{ChatRequest, ChatResponse, FinishReason, Message, ResponseFormat, Role, Usage};
use meritree_core::ai::validate_max_tokens;
use meritree_core::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Inputs one embeddings request may carry.
pub const MAX_EMBEDDING_INPUTS: usize = 2_048;

#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Meritree's extension: answer an identical earlier request of this
    /// account from the cache, and keep this answer for that many seconds.
    #[serde(default)]
    pub cache_ttl_secs: Option<u32>,
    /// A string or up to four strings.
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// `{"type": "text" | "json_object"}` or `{"type": "json_schema", "json_schema": {…}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<ResponseFormat>,
    /// Every other field, to refuse the ones that cannot be honoured.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Fields no provider behind this gateway honours: refused, not dropped.
const UNSUPPORTED_FIELDS: [&str; 12] = [
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
];

#[derive(utoipa::ToSchema, Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    pub content: Content,
}

/// A string, or an array of parts of which only text is supported.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(untagged)]
#[schema(as = MessageContent)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

impl ChatCompletionRequest {
    /// The gateway's request, or a 400 naming the offending field.
    pub fn to_chat(&self) -> Result<ChatRequest, ApiError> {
        if self.model.trim().is_empty() {
            return Err(invalid("`model` is required"));
        }
        if self.messages.is_empty() {
            return Err(invalid("`messages` must hold at least one message"));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(invalid("only `n: 1` is supported"));
        }
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(invalid("`temperature` must be between 0 and 2"));
            }
        }
        if let Some(field) = UNSUPPORTED_FIELDS
            .iter()
            .find(|f| self.other.get(**f).is_some_and(|v| !v.is_null()))
        {
            return Err(invalid(format!(
                "`{field}` is not supported by this gateway"
            )));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(list)) => list.clone(),
        };
        if stop.len() > 4 || stop.iter().any(|s| s.is_empty() || s.chars().count() > 64) {
            return Err(invalid(
                "`stop`: up to 4 non-empty sequences of at most 64 characters",
            ));
        }
        if let Some(ResponseFormat::JsonSchema { json_schema }) = &self.response_format {
            if !json_schema.schema.is_object() {
                return Err(invalid(
                    "`response_format.json_schema.schema` must be a JSON object",
                ));
            }
        }
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        validate_max_tokens(max_tokens).map_err(|e| invalid(format!("`max_tokens`: {e}")))?;
        let messages = self
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                m.to_message()
                    .map_err(|e| invalid(format!("messages[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChatRequest {
            model: self.model.clone(),
            messages,
            max_tokens,
            temperature: self.temperature,
            stream: self.stream,
            stop,
            seed: self.seed,
            response_format: self.response_format.clone(),
        })
    }
}

impl WireMessage {
    fn to_message(&self) -> Result<Message, String> {
        let role = match self.role.as_str() {
            // `developer` is the newer name OpenAI gives system messages.
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => return Err(format!("role {other:?} is not supported")),
        };
        let text = match &self.content {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => {
                let mut text = String::new();
                for part in parts {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(t)) => text.push_str(t),
                        (kind, _) => return Err(format!("content part {kind:?} is not supported")),
                    }
                }
                text
            }
        };
        Ok(Message::new(role, text))
    }
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct WireUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl From<Usage> for WireUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.input_tokens + u.output_tokens,
        }
    }
}

/// What Meritree adds to each answer: who answered and what it cost.
#[derive(utoipa::ToSchema, Debug, Serialize)]
#[schema(as = GatewayBilling)]
pub struct Billing {
    pub provider: String,
    /// Billionths of a US dollar.
    pub cost_nanos: u64,
    pub cached: bool,
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: WireUsage,
    pub meritree: Billing,
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<&'static str>,
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: String,
}

pub fn finish_reason(reason: &Option<FinishReason>) -> Option<&'static str> {
    reason.as_ref().map(|r| match r {
        FinishReason::Stop | FinishReason::Other(_) => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::ToolCalls => "tool_calls",
    })
}

impl ChatCompletion {
    pub fn new(
        id: String,
        created: i64,
        model: String,
        response: ChatResponse,
        billing: Billing,
    ) -> Self {
        Self {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: response.text,
                },
                finish_reason: finish_reason(&response.finish_reason).or(Some("stop")),
            }],
            usage: response.usage.into(),
            meritree: billing,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

/// How vectors are sent back: the official Python SDK asks for base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Float,
    Base64,
}

impl EmbeddingsRequest {
    pub fn validate(self) -> Result<(String, Vec<String>, Encoding), ApiError> {
        if self.model.trim().is_empty() {
            return Err(invalid("`model` is required"));
        }
        if self.dimensions.is_some() {
            return Err(invalid("`dimensions` is not supported"));
        }
        let encoding = match self.encoding_format.as_deref() {
            None | Some("float") => Encoding::Float,
            Some("base64") => Encoding::Base64,
            Some(other) => {
                return Err(invalid(format!(
                    "`encoding_format` {other:?} is not supported"
                )))
            }
        };
        let inputs = match self.input {
            EmbeddingInput::One(text) => vec![text],
            EmbeddingInput::Many(texts) => texts,
        };
        if inputs.is_empty() || inputs.len() > MAX_EMBEDDING_INPUTS {
            return Err(invalid(format!(
                "`input` must hold 1 to {MAX_EMBEDDING_INPUTS} strings"
            )));
        }
        if inputs.iter().any(|t| t.is_empty()) {
            return Err(invalid("`input` strings must not be empty"));
        }
        Ok((self.model, inputs, encoding))
    }
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<EmbeddingItem>,
    pub model: String,
    pub usage: EmbeddingUsage,
    pub meritree: Billing,
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct EmbeddingItem {
    pub object: &'static str,
    pub index: usize,
    #[schema(value_type = EmbeddingVector)]
    pub embedding: serde_json::Value,
}

/// How an embedding is sent, for the document: numbers, or base64 of
/// little-endian f32s when `encoding_format` is `base64`.
#[allow(dead_code)] // a schema only: answers are built as JSON values
#[derive(utoipa::ToSchema, Serialize)]
#[serde(untagged)]
enum EmbeddingVector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}

#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub owned_by: String,
}

//! Anthropic's Messages API, with its named SSE events.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{decode, malformed, ChatStream, Decoder, ErrorBody, Http, HttpConfig, Provider};
use crate::error::ProviderError;
use crate::sse::SseEvent;
use crate::types::{ChatRequest, ChatResponse, FinishReason, Role, StreamEvent, Usage};

pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
const VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this applies when the caller set none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// `base_url` without the version: `https://api.anthropic.com`.
#[derive(Debug, Clone)]
pub struct Anthropic {
    http: Http,
}

impl Anthropic {
    pub fn new(config: HttpConfig) -> Self {
        Self {
            http: Http::new(config),
        }
    }

    fn post(&self, body: &WireRequest<'_>) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .client
            .post(self.http.url("/v1/messages"))
            .header("anthropic-version", VERSION)
            .json(body);
        if let Some(key) = &self.http.config.api_key {
            request = request.header("x-api-key", key);
        }
        request
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    stream: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
}

/// What Anthropic's Messages API cannot honour: a seed, and a guaranteed
/// JSON form (it has no `response_format`).
fn unsupported(req: &ChatRequest) -> Option<ProviderError> {
    if req.seed.is_some() {
        return Some(ProviderError::Unsupported("seed".into()));
    }
    if req.response_format.as_ref().is_some_and(|f| f.constrains()) {
        return Some(ProviderError::Unsupported("response_format".into()));
    }
    None
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl<'a> WireRequest<'a> {
    fn new(req: &'a ChatRequest, stream: bool) -> Self {
        // System prompts are a top-level field here, not a message role.
        let system: Vec<&str> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let messages = req
            .messages
            .iter()
            .filter_map(|m| {
                let role = match m.role {
                    Role::System => return None,
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                Some(WireMessage {
                    role,
                    content: &m.content,
                })
            })
            .collect();
        Self {
            model: &req.model,
            max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages,
            temperature: req.temperature,
            stream,
            stop_sequences: &req.stop,
        }
    }
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    // Cached prompt tokens are billed input, reported apart from `input_tokens`.
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    fn input(&self) -> u64 {
        self.input_tokens
            + self.cache_creation_input_tokens.unwrap_or(0)
            + self.cache_read_input_tokens.unwrap_or(0)
    }
}

#[derive(Deserialize)]
struct WireResponse {
    model: String,
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum WireBlock {
    #[serde(rename = "text")]
    Text { text: String },
    // Thinking and tool-use blocks carry no answer text.
    #[serde(other)]
    Other,
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// `overloaded_error` normally comes as HTTP 529; the type is checked too, so
/// an overload still reads as one if something on the way changes the
/// status. The rest maps by status, which keeps `Retry-After` on a 429.
fn refine(_status: u16, body: &ErrorBody) -> Option<ProviderError> {
    (body.kind.as_deref() == Some("overloaded_error")).then_some(ProviderError::Overloaded)
}

/// Errors inside a stream have no status; their type is all there is.
fn error_kind(kind: &str, message: Option<&str>) -> Option<ProviderError> {
    Some(match kind {
        "overloaded_error" => ProviderError::Overloaded,
        "rate_limit_error" => ProviderError::RateLimited { retry_after: None },
        "api_error" => ProviderError::Server(500),
        "authentication_error" | "permission_error" => ProviderError::Unauthorized,
        "not_found_error" => ProviderError::NotFound,
        "invalid_request_error" | "request_too_large" => {
            ProviderError::BadRequest(message.unwrap_or(kind).to_owned())
        }
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockDelta {
        delta: WireDelta,
    },
    MessageDelta {
        delta: WireMessageDelta,
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: ErrorBody,
    },
    // content_block_start/stop, ping, and any type added later.
    #[serde(other)]
    Ignored,
}

#[derive(Deserialize)]
struct WireStartMessage {
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireMessageDelta {
    stop_reason: Option<String>,
}

/// `message_start` carries the input count, `message_delta` the cumulative
/// output count (and, in newer API versions, input again); usage is emitted
/// once, from `message_delta`, with both.
#[derive(Default)]
struct StreamDecoder {
    input_tokens: u64,
    finish: Option<FinishReason>,
}

impl Decoder for StreamDecoder {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        // The `event:` name repeats the payload's `type`; the payload is
        // parsed instead so one source of truth decides.
        let wire: WireEvent =
            serde_json::from_str(&event.data).map_err(|e| malformed("stream event", e))?;
        Ok(match wire {
            WireEvent::MessageStart { message } => {
                self.input_tokens = message.usage.input();
                vec![]
            }
            WireEvent::ContentBlockDelta {
                delta: WireDelta::TextDelta { text },
            } if !text.is_empty() => vec![StreamEvent::TextDelta { text }],
            WireEvent::ContentBlockDelta { .. } => vec![],
            WireEvent::MessageDelta { delta, usage } => {
                self.finish = delta.stop_reason.as_deref().map(finish_reason);
                let input = usage.input();
                if input > 0 {
                    self.input_tokens = input;
                }
                vec![StreamEvent::Usage {
                    usage: Usage {
                        input_tokens: self.input_tokens,
                        output_tokens: usage.output_tokens,
                    },
                }]
            }
            WireEvent::MessageStop => vec![StreamEvent::Done {
                finish_reason: self.finish.take(),
            }],
            WireEvent::Error { error } => {
                return Err(error_kind(
                    error.kind.as_deref().unwrap_or_default(),
                    error.message.as_deref(),
                )
                .unwrap_or(ProviderError::Server(500)))
            }
            WireEvent::Ignored => vec![],
        })
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.http.config.name
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            if let Some(refused) = unsupported(req) {
                return Err(refused);
            }
            let request = self.post(&WireRequest::new(req, false));
            let body = self.http.send_json(request, refine).await?;
            let wire: WireResponse =
                serde_json::from_slice(&body).map_err(|e| malformed("message", e))?;
            let text = wire
                .content
                .into_iter()
                .filter_map(|b| match b {
                    WireBlock::Text { text } => Some(text),
                    WireBlock::Other => None,
                })
                .collect();
            Ok(ChatResponse {
                model: wire.model,
                text,
                finish_reason: wire.stop_reason.as_deref().map(finish_reason),
                usage: Usage {
                    input_tokens: wire.usage.input(),
                    output_tokens: wire.usage.output_tokens,
                },
            })
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            if let Some(refused) = unsupported(req) {
                return Err(refused);
            }
            let request = self.post(&WireRequest::new(req, true));
            let events = self.http.open_sse(request, refine).await?;
            Ok(decode(events, StreamDecoder::default()))
        })
    }
}

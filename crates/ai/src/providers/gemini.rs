//! Google's Gemini API (`generativelanguage.googleapis.com`, API-key auth).

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{decode, malformed, ChatStream, Decoder, ErrorBody, Http, HttpConfig, Provider};
use crate::error::ProviderError;
use crate::sse::SseEvent;
use crate::types::{
    estimate_tokens, ChatRequest, ChatResponse, Embeddings, FinishReason, ResponseFormat, Role,
    StreamEvent, Usage,
};

pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// `base_url` without the version: `https://generativelanguage.googleapis.com`.
#[derive(Debug, Clone)]
pub struct Gemini {
    http: Http,
}

impl Gemini {
    pub fn new(config: HttpConfig) -> Self {
        Self {
            http: Http::new(config),
        }
    }

    fn post(&self, model: &str, method: &str, body: &impl Serialize) -> reqwest::RequestBuilder {
        // The key goes in a header, not `?key=`, so it stays out of URLs
        // that proxies and tracing spans log.
        let url = self.http.url(&format!("/v1beta/models/{model}:{method}"));
        let mut request = self.http.client.post(url).json(body);
        if let Some(key) = &self.http.config.api_key {
            request = request.header("x-goog-api-key", key);
        }
        request
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    contents: Vec<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireContent<'a>>,
    generation_config: WireGenerationConfig<'a>,
}

#[derive(Serialize)]
struct WireContent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
struct WirePart<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireGenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    /// `application/json` for either JSON form.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    /// The schema of `json_schema`, as JSON Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a serde_json::Value>,
}

impl<'a> WireRequest<'a> {
    fn new(req: &'a ChatRequest) -> Self {
        let system: Vec<WirePart<'a>> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| WirePart { text: &m.content })
            .collect();
        let contents = req
            .messages
            .iter()
            .filter_map(|m| {
                let role = match m.role {
                    Role::System => return None,
                    Role::User => "user",
                    Role::Assistant => "model",
                };
                Some(WireContent {
                    role: Some(role),
                    parts: vec![WirePart { text: &m.content }],
                })
            })
            .collect();
        Self {
            contents,
            system_instruction: (!system.is_empty()).then_some(WireContent {
                role: None,
                parts: system,
            }),
            generation_config: WireGenerationConfig {
                max_output_tokens: req.max_tokens,
                temperature: req.temperature,
                stop_sequences: &req.stop,
                seed: req.seed,
                response_mime_type: req
                    .response_format
                    .as_ref()
                    .filter(|f| f.constrains())
                    .map(|_| "application/json"),
                response_json_schema: match &req.response_format {
                    Some(ResponseFormat::JsonSchema { json_schema }) => Some(&json_schema.schema),
                    _ => None,
                },
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    usage_metadata: Option<WireUsage>,
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    content: Option<WireCandidateContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireCandidateContent {
    #[serde(default)]
    parts: Vec<WireCandidatePart>,
}

#[derive(Deserialize)]
struct WireCandidatePart {
    text: Option<String>,
    // Thought summaries are flagged parts; they are not the answer.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    /// Thinking models bill their reasoning as output.
    #[serde(default)]
    thoughts_token_count: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_token_count,
            output_tokens: u.candidates_token_count + u.thoughts_token_count,
        }
    }
}

impl WireResponse {
    /// The first candidate's text and finish reason.
    fn first(&mut self) -> (String, Option<FinishReason>) {
        let Some(candidate) = self.candidates.first_mut() else {
            return (String::new(), None);
        };
        let text = candidate
            .content
            .take()
            .map(|c| {
                c.parts
                    .into_iter()
                    .filter(|p| !p.thought)
                    .filter_map(|p| p.text)
                    .collect()
            })
            .unwrap_or_default();
        (text, candidate.finish_reason.as_deref().map(finish_reason))
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_owned()),
    }
}

/// `batchEmbedContents`: one request per input, each naming its model.
#[derive(Serialize)]
struct WireEmbedRequest<'a> {
    requests: Vec<WireEmbedContent<'a>>,
}

#[derive(Serialize)]
struct WireEmbedContent<'a> {
    model: String,
    content: WireContent<'a>,
}

#[derive(Deserialize)]
struct WireEmbeddings {
    #[serde(default)]
    embeddings: Vec<WireEmbedding>,
}

#[derive(Deserialize)]
struct WireEmbedding {
    values: Vec<f32>,
}

/// Gemini's embedding answers carry no token count: they are estimated, so
/// the request is still accounted for (and counted against budgets).
fn estimated_tokens(inputs: &[String]) -> u64 {
    inputs
        .iter()
        .map(|input| estimate_tokens(input.chars().count() as u64))
        .sum()
}

/// Gemini answers a wrong API key with 400 INVALID_ARGUMENT, reason
/// `API_KEY_INVALID`: a credentials problem, not a caller's bad request.
/// Its overload signal is 503 UNAVAILABLE ("The model is overloaded").
fn refine(status: u16, body: &ErrorBody) -> Option<ProviderError> {
    if status == 503 && body.status.as_deref() == Some("UNAVAILABLE") {
        return Some(ProviderError::Overloaded);
    }
    let key_invalid = body.details.as_ref().is_some_and(|details| {
        details
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d.get("reason").and_then(|r| r.as_str()) == Some("API_KEY_INVALID"))
    });
    (status == 400 && key_invalid).then_some(ProviderError::Unauthorized)
}

/// Every chunk is a whole `GenerateContentResponse`; there is no terminal
/// event, so the chunk with a finish reason marks the end and usage comes
/// from the last `usageMetadata` seen (each is a running total).
#[derive(Default)]
struct StreamDecoder;

impl Decoder for StreamDecoder {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut wire: WireResponse =
            serde_json::from_str(&event.data).map_err(|e| malformed("stream chunk", e))?;
        let (text, finish) = wire.first();
        let mut out = Vec::new();
        if !text.is_empty() {
            out.push(StreamEvent::TextDelta { text });
        }
        if let Some(usage) = wire.usage_metadata {
            out.push(StreamEvent::Usage {
                usage: usage.into(),
            });
        }
        if let Some(finish_reason) = finish {
            out.push(StreamEvent::Done {
                finish_reason: Some(finish_reason),
            });
        }
        Ok(out)
    }
}

impl Provider for Gemini {
    fn name(&self) -> &str {
        &self.http.config.name
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let request = self.post(&req.model, "generateContent", &WireRequest::new(req));
            let body = self.http.send_json(request, refine).await?;
            let mut wire: WireResponse =
                serde_json::from_slice(&body).map_err(|e| malformed("generateContent", e))?;
            let (text, finish_reason) = wire.first();
            Ok(ChatResponse {
                model: wire
                    .model_version
                    .take()
                    .unwrap_or_else(|| req.model.clone()),
                text,
                finish_reason,
                usage: wire.usage_metadata.map(Usage::from).unwrap_or_default(),
            })
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let request = self.post(
                &req.model,
                "streamGenerateContent?alt=sse",
                &WireRequest::new(req),
            );
            let events = self.http.open_sse(request, refine).await?;
            Ok(decode(events, StreamDecoder))
        })
    }

    fn embed<'a>(
        &'a self,
        inputs: &'a [String],
        model: &'a str,
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>> {
        Box::pin(async move {
            let body = WireEmbedRequest {
                requests: inputs
                    .iter()
                    .map(|input| WireEmbedContent {
                        model: format!("models/{model}"),
                        content: WireContent {
                            role: None,
                            parts: vec![WirePart { text: input }],
                        },
                    })
                    .collect(),
            };
            let request = self.post(model, "batchEmbedContents", &body);
            let body = self.http.send_json(request, refine).await?;
            let wire: WireEmbeddings =
                serde_json::from_slice(&body).map_err(|e| malformed("batchEmbedContents", e))?;
            // Answers come in request order, one per input.
            if wire.embeddings.len() != inputs.len() {
                return Err(ProviderError::Malformed(format!(
                    "{} embeddings for {} inputs",
                    wire.embeddings.len(),
                    inputs.len()
                )));
            }
            Ok(Embeddings {
                model: model.to_owned(),
                vectors: wire.embeddings.into_iter().map(|e| e.values).collect(),
                input_tokens: estimated_tokens(inputs),
            })
        })
    }
}

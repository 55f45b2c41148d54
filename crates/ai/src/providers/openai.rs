//! OpenAI's chat completions, embeddings and moderations. The same wire format is spoken
//! by DeepSeek, llama.cpp, vLLM, Ollama and most hosted gateways, so one
//! adapter serves them all by base URL.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{
    decode, gather, malformed, Answer, ChatStream, Decoder, ErrorBody, Http, HttpConfig, Provider,
};
use crate::error::ProviderError;
use crate::sse::SseEvent;
use crate::types::{
    ChatRequest, ChatResponse, Embeddings, FinishReason, Message, Moderation, ResponseFormat,
    StreamEvent, Usage,
};

/// `base_url` includes the API version, as the official SDKs take it:
/// `https://api.openai.com/v1`, `https://api.deepseek.com/v1`,
/// `http://localhost:11434/v1`.
#[derive(Debug, Clone)]
pub struct OpenAi {
    http: Http,
}

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEEPSEEK_BASE_URL: &str = "https://api.deepseek.com/v1";

impl OpenAi {
    pub fn new(config: HttpConfig) -> Self {
        Self {
            http: Http::new(config),
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.client.post(self.http.url(path));
        // Local servers commonly run without a key.
        match &self.http.config.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    // `max_tokens` rather than `max_completion_tokens`: the compatible
    // servers only know the former, and OpenAI still accepts it for chat models.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> WireRequest<'a> {
    fn new(req: &'a ChatRequest, stream: bool) -> Self {
        Self {
            model: &req.model,
            messages: &req.messages,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            stream,
            // Without it a stream carries no token counts at all.
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            stop: &req.stop,
            seed: req.seed,
            response_format: req.response_format.as_ref(),
        }
    }
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        }
    }
}

#[derive(Deserialize)]
struct WireResponse {
    model: String,
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    // Null when the model answered only with tool calls or refused.
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: WireDelta,
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct WireDelta {
    content: Option<String>,
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn refine(_status: u16, _body: &ErrorBody) -> Option<ProviderError> {
    None
}

/// Chunks carry text and the finish reason; the usage-only chunk
/// (`choices: []`) comes after the finish reason, and `[DONE]` ends it all.
#[derive(Default)]
struct StreamDecoder {
    finish: Option<FinishReason>,
}

impl Decoder for StreamDecoder {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        if event.data == "[DONE]" {
            return Ok(vec![StreamEvent::Done {
                finish_reason: self.finish.take(),
            }]);
        }
        let chunk: WireChunk =
            serde_json::from_str(&event.data).map_err(|e| malformed("stream chunk", e))?;
        let mut out = Vec::new();
        // Only the first choice: the gateway never asks for `n > 1`.
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::TextDelta { text });
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage {
                usage: usage.into(),
            });
        }
        Ok(out)
    }
}

#[derive(Serialize)]
struct WireEmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct WireEmbeddings {
    model: String,
    data: Vec<WireEmbedding>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireEmbedding {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Serialize)]
struct WireModerationRequest<'a> {
    model: &'a str,
    input: &'a str,
}

#[derive(Deserialize)]
struct WireModeration {
    #[serde(default)]
    model: String,
    results: Vec<WireModerationResult>,
}

/// Categories a model does not cover come as `null` (OpenAI's legacy text
/// models leave out `illicit`, for one).
#[derive(Deserialize)]
struct WireModerationResult {
    flagged: bool,
    categories: BTreeMap<String, Option<bool>>,
    category_scores: BTreeMap<String, Option<f64>>,
}

/// One text's verdict from a `/moderations` answer, checked: one result,
/// scores between 0 and 1.
fn moderation(body: &[u8]) -> Result<Moderation, ProviderError> {
    let wire: WireModeration =
        serde_json::from_slice(body).map_err(|e| malformed("moderation", e))?;
    let [result] = <[WireModerationResult; 1]>::try_from(wire.results).map_err(|results| {
        ProviderError::Malformed(format!("{} moderation results for 1 input", results.len()))
    })?;
    let scores: BTreeMap<String, f64> = result
        .category_scores
        .into_iter()
        .filter_map(|(name, score)| Some((name, score?)))
        .collect();
    if let Some((name, score)) = scores.iter().find(|(_, s)| !(0.0..=1.0).contains(*s)) {
        return Err(ProviderError::Malformed(format!(
            "moderation score {score} for {name:?} is not between 0 and 1"
        )));
    }
    Ok(Moderation {
        model: wire.model,
        flagged: result.flagged,
        categories: result
            .categories
            .into_iter()
            .filter_map(|(name, hit)| (hit == Some(true)).then_some(name))
            .collect(),
        scores,
    })
}

/// A whole (non-streamed) chat completion.
fn completion(body: &[u8]) -> Result<ChatResponse, ProviderError> {
    let wire: WireResponse =
        serde_json::from_slice(body).map_err(|e| malformed("chat completion", e))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::Malformed("chat completion without choices".into()))?;
    Ok(ChatResponse {
        model: wire.model,
        text: choice.message.content.unwrap_or_default(),
        finish_reason: choice.finish_reason.as_deref().map(finish_reason),
        usage: wire.usage.map(Usage::from).unwrap_or_default(),
    })
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.http.config.name
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            // Streamed and gathered: a hung upstream costs the first-byte
            // timeout. A server that ignores `stream` answers whole.
            let request = self
                .post("/chat/completions")
                .json(&WireRequest::new(req, true));
            match self.http.open_answer(request, refine).await? {
                Answer::Events(events) => {
                    gather(decode(events, StreamDecoder::default()), &req.model).await
                }
                Answer::Whole(body) => completion(&body),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let request = self
                .post("/chat/completions")
                .json(&WireRequest::new(req, true));
            let events = self.http.open_sse(request, refine).await?;
            Ok(decode(events, StreamDecoder::default()))
        })
    }

    fn embed<'a>(
        &'a self,
        inputs: &'a [String],
        model: &'a str,
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>> {
        Box::pin(async move {
            let request = self.post("/embeddings").json(&WireEmbeddingRequest {
                model,
                input: inputs,
                encoding_format: "float",
            });
            let body = self.http.send_json(request, refine).await?;
            let mut wire: WireEmbeddings =
                serde_json::from_slice(&body).map_err(|e| malformed("embeddings", e))?;
            // The API documents `index` rather than promising order.
            wire.data.sort_by_key(|d| d.index);
            if wire.data.len() != inputs.len()
                || wire.data.iter().enumerate().any(|(i, d)| d.index != i)
            {
                return Err(ProviderError::Malformed(format!(
                    "{} embeddings for {} inputs",
                    wire.data.len(),
                    inputs.len()
                )));
            }
            Ok(Embeddings {
                model: wire.model,
                vectors: wire.data.into_iter().map(|d| d.embedding).collect(),
                input_tokens: wire.usage.map_or(0, |u| u.prompt_tokens),
            })
        })
    }

    fn moderate<'a>(
        &'a self,
        input: &'a str,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Moderation, ProviderError>> {
        Box::pin(async move {
            let request = self
                .post("/moderations")
                .json(&WireModerationRequest { model, input });
            moderation(&self.http.send_json(request, refine).await?)
        })
    }
}

//! The provider trait and what the HTTP adapters share: timeouts, status
//! mapping, and turning a response body into decoded stream events.

pub mod anthropic;
pub mod gemini;
pub mod local;
pub mod openai;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::ProviderError;
use crate::sse::{SseEvent, SseParser};
use crate::types::{ChatRequest, ChatResponse, Embeddings, Moderation, StreamEvent};

pub type ChatStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

/// One upstream. Object-safe (futures are boxed) so the router can hold a
/// heterogeneous `Arc<dyn Provider>` list.
pub trait Provider: Send + Sync {
    /// The configured name, unique within a router; what breakers and logs
    /// are keyed by.
    fn name(&self) -> &str;

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;

    /// Resolves once the upstream has accepted the request; the stream then
    /// ends with `Done` or with one `Err`, never silently.
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>>;

    fn embed<'a>(
        &'a self,
        _inputs: &'a [String],
        _model: &'a str,
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("embeddings".into())) })
    }

    fn moderate<'a>(
        &'a self,
        _input: &'a str,
        _model: &'a str,
    ) -> BoxFuture<'a, Result<Moderation, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("moderation".into())) })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the headers and the first body chunk have arrived. Adapters
    /// whose upstreams stream ask for a stream even for a whole answer and
    /// gather it, so a hung upstream costs this and not `total`.
    pub first_byte: Duration,
    /// The whole exchange, body included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            first_byte: Duration::from_secs(20),
            total: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub name: String,
    /// Scheme, host and any path prefix, without a trailing slash; each
    /// adapter documents what it appends.
    pub base_url: String,
    pub api_key: Option<String>,
    pub timeouts: Timeouts,
}

impl HttpConfig {
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key: None,
            timeouts: Timeouts::default(),
        }
    }

    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

/// The HTTP plumbing under every adapter.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub client: reqwest::Client,
    pub config: HttpConfig,
}

/// The `{"error": {...}}` envelope, which OpenAI, Anthropic and Gemini
/// happen to share in outline.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    /// OpenAI's and Anthropic's machine-readable kind.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Gemini's (a google.rpc.Code name).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

pub(crate) fn parse_error_body(body: &[u8]) -> ErrorBody {
    #[derive(Deserialize)]
    struct Envelope {
        error: ErrorBody,
    }
    serde_json::from_slice::<Envelope>(body)
        .map(|e| e.error)
        .unwrap_or_default()
}

impl Http {
    pub fn new(config: HttpConfig) -> Self {
        let client = reqwest::Client::builder()
            // See `ProviderError::Redirected`.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // As `Client::new` does: only a TLS backend that cannot start fails.
            .expect("the HTTP client starts");
        Self { client, config }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url, path)
    }

    /// Sends a non-streaming request and returns its body, or the mapped
    /// error for a non-2xx status. `refine` lets an adapter override the
    /// generic status mapping from its error body.
    pub async fn send_json(
        &self,
        request: reqwest::RequestBuilder,
        refine: fn(u16, &ErrorBody) -> Option<ProviderError>,
    ) -> Result<Vec<u8>, ProviderError> {
        let deadline = Instant::now() + self.config.timeouts.total;
        let exchange = async {
            let response = request.send().await.map_err(transport)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(transport)?;
            Ok::<_, ProviderError>((status, headers, body))
        };
        let (status, headers, body) = tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(status_error(status, &headers, &body, refine))
        }
    }

    /// Opens a streaming request and returns its body as SSE events. Errors
    /// are mapped as in `send_json`; the first chunk must arrive within
    /// `first_byte` so a stalled upstream fails before the router commits.
    pub async fn open_sse(
        &self,
        request: reqwest::RequestBuilder,
        refine: fn(u16, &ErrorBody) -> Option<ProviderError>,
    ) -> Result<BoxStream<'static, Result<SseEvent, ProviderError>>, ProviderError> {
        match self.open_answer(request, refine).await? {
            Answer::Events(events) => Ok(events),
            // Asked for a stream, it sent something else: as if it had
            // stopped before its first event.
            Answer::Whole(_) => Err(ProviderError::StreamBroken),
        }
    }

    /// Sends a request that asks for a stream and returns the events, or
    /// the whole body when the upstream answered without streaming (a
    /// server that ignores `stream`). Either way the headers must come
    /// within `first_byte`, so a hung upstream costs that and not `total`;
    /// a non-streaming server must answer within it.
    pub async fn open_answer(
        &self,
        request: reqwest::RequestBuilder,
        refine: fn(u16, &ErrorBody) -> Option<ProviderError>,
    ) -> Result<Answer, ProviderError> {
        let timeouts = self.config.timeouts;
        let start = Instant::now();
        let total = start + timeouts.total;
        let first = total.min(start + timeouts.first_byte);
        let request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        let mut response = tokio::time::timeout_at(first, request.send())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let headers = response.headers().clone();
            let body = tokio::time::timeout_at(total, response.bytes())
                .await
                .map_err(|_| ProviderError::Timeout)?
                .map_err(transport)?;
            return Err(status_error(status, &headers, &body, refine));
        }
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streamed {
            let body = tokio::time::timeout_at(total, response.bytes())
                .await
                .map_err(|_| ProviderError::Timeout)?
                .map_err(transport)?;
            return Ok(Answer::Whole(body.to_vec()));
        }
        let first_chunk = tokio::time::timeout_at(first, response.chunk())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|_| ProviderError::StreamBroken)?;

        struct State {
            response: reqwest::Response,
            parser: SseParser,
            ready: VecDeque<SseEvent>,
            eof: bool,
            total: Instant,
        }
        let mut state = State {
            response,
            parser: SseParser::new(),
            ready: VecDeque::new(),
            eof: first_chunk.is_none(),
            total,
        };
        if let Some(chunk) = first_chunk {
            state.ready.extend(state.parser.push(&chunk));
        }
        let events = stream::unfold(Some(state), |state| async move {
            let mut s = state?;
            loop {
                if let Some(event) = s.ready.pop_front() {
                    return Some((Ok(event), Some(s)));
                }
                if s.eof {
                    // Whatever half-event is left is dropped, as the spec
                    // says; the decoder notices the missing terminal event.
                    return None;
                }
                match tokio::time::timeout_at(s.total, s.response.chunk()).await {
                    Err(_) => return Some((Err(ProviderError::Timeout), None)),
                    // A connection lost mid-body is a broken stream, not a
                    // transport failure of the request: output was flowing.
                    Ok(Err(_)) => return Some((Err(ProviderError::StreamBroken), None)),
                    Ok(Ok(None)) => s.eof = true,
                    Ok(Ok(Some(chunk))) => {
                        let events = s.parser.push(&chunk);
                        s.ready.extend(events);
                    }
                }
            }
        });
        Ok(Answer::Events(events.boxed()))
    }
}

/// What an upstream sent for a request that asked for a stream.
pub(crate) enum Answer {
    /// Server-sent events, the first chunk already in.
    Events(BoxStream<'static, Result<SseEvent, ProviderError>>),
    /// A whole body: the upstream answered without streaming.
    Whole(Vec<u8>),
}

/// A streamed answer gathered into a complete one, for a caller that asked
/// for the whole answer but should only wait a first-byte timeout on a
/// hung upstream. `model` is the upstream model asked for (stream events
/// do not name it).
pub(crate) async fn gather(
    mut stream: ChatStream,
    model: &str,
) -> Result<ChatResponse, ProviderError> {
    let mut text = String::new();
    let mut usage = crate::types::Usage::default();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta { text: piece } => text.push_str(&piece),
            StreamEvent::Usage { usage: totals } => usage = totals,
            StreamEvent::Done { finish_reason } => {
                return Ok(ChatResponse {
                    model: model.to_owned(),
                    text,
                    finish_reason,
                    usage,
                })
            }
            StreamEvent::Error { error } => return Err(error),
        }
    }
    Err(ProviderError::StreamBroken)
}

fn transport(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else {
        ProviderError::Transport(e.to_string())
    }
}

pub(crate) fn status_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    refine: fn(u16, &ErrorBody) -> Option<ProviderError>,
) -> ProviderError {
    if (300..400).contains(&status) {
        return ProviderError::Redirected { status };
    }
    let error = parse_error_body(body);
    if let Some(e) = refine(status, &error) {
        return e;
    }
    let message = || {
        error
            .message
            .clone()
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    match status {
        401 | 403 => ProviderError::Unauthorized,
        404 => ProviderError::NotFound,
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now()),
        },
        529 => ProviderError::Overloaded,
        500..=599 => ProviderError::Server(status),
        // 408 and 409 are the upstream's own conditions, not a bad request.
        408 => ProviderError::Timeout,
        409 => ProviderError::Server(status),
        _ => ProviderError::BadRequest(message()),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3); also
/// read from push services (the platform's `push`).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Feeds SSE events through an adapter's decoder and guarantees the stream's
/// contract: it ends after `Done` or after one `Err`, and an upstream that
/// closes without its terminal event yields `StreamBroken`.
pub(crate) trait Decoder: Send + 'static {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError>;

    /// The body ended. Most formats have a terminal event, so reaching here
    /// without `Done` means the upstream stopped mid-way.
    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        Err(ProviderError::StreamBroken)
    }
}

pub(crate) fn decode<D: Decoder>(
    events: BoxStream<'static, Result<SseEvent, ProviderError>>,
    decoder: D,
) -> ChatStream {
    struct State<D> {
        events: BoxStream<'static, Result<SseEvent, ProviderError>>,
        decoder: D,
        ready: VecDeque<StreamEvent>,
        done: bool,
    }
    let state = State {
        events,
        decoder,
        ready: VecDeque::new(),
        done: false,
    };
    stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        loop {
            if let Some(event) = s.ready.pop_front() {
                if matches!(event, StreamEvent::Done { .. }) {
                    s.done = true;
                    s.ready.clear();
                }
                return Some((Ok(event), Some(s)));
            }
            if s.done {
                return None;
            }
            let decoded = match s.events.next().await {
                Some(Ok(event)) => s.decoder.event(event),
                Some(Err(e)) => Err(e),
                None => s.decoder.end(),
            };
            match decoded {
                Ok(events) if events.is_empty() => {}
                Ok(events) => s.ready.extend(events),
                Err(e) => return Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

pub(crate) fn malformed(what: &str, e: serde_json::Error) -> ProviderError {
    ProviderError::Malformed(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(12)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:27:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}

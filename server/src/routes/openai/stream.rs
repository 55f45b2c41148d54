//! A routed chat stream as OpenAI's server-sent events.

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use meritree_ai::StreamEvent;
use meritree_core::ErrorCode;
use meritree_platform::ai::ChatStreamAnswer;
use serde::Serialize;

use super::wire::{finish_reason, ChatChunk, ChunkChoice, Delta, WireUsage};

struct State {
    answer: ChatStreamAnswer,
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    usage: Option<WireUsage>,
    sent_role: bool,
}

impl State {
    fn chunk(&self, delta: Delta, finish: Option<&'static str>) -> String {
        data(&ChatChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
            }],
            usage: None,
        })
    }
}

fn data(value: &impl Serialize) -> String {
    format!(
        "data: {}\n\n",
        serde_json::to_string(value).unwrap_or_default()
    )
}

/// Text as it comes, a last chunk with the finish reason, usage when asked
/// for, then `[DONE]`. A failure after output has started ends the stream
/// with an `error` object (what the SDKs raise) and no `[DONE]`.
pub fn completion_events(answer: ChatStreamAnswer, created: i64, include_usage: bool) -> Response {
    let state = State {
        id: format!("chatcmpl-{}", answer.request_id),
        model: format!("{}/{}", answer.provider, answer.model),
        answer,
        created,
        include_usage,
        usage: None,
        sent_role: false,
    };
    let events = stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        loop {
            let Some(event) = s.answer.stream.next().await else {
                return Some((error_event("the stream ended early"), None));
            };
            match event {
                Ok(StreamEvent::TextDelta { text }) => {
                    let role = (!s.sent_role).then_some("assistant");
                    s.sent_role = true;
                    let chunk = s.chunk(
                        Delta {
                            role,
                            content: Some(text),
                        },
                        None,
                    );
                    return Some((chunk, Some(s)));
                }
                Ok(StreamEvent::Usage { usage }) => s.usage = Some(usage.into()),
                Ok(StreamEvent::Done {
                    finish_reason: reason,
                }) => {
                    let mut out =
                        s.chunk(Delta::default(), finish_reason(&reason).or(Some("stop")));
                    if s.include_usage {
                        out.push_str(&data(&ChatChunk {
                            id: &s.id,
                            object: "chat.completion.chunk",
                            created: s.created,
                            model: &s.model,
                            choices: Vec::new(),
                            usage: Some(s.usage.take().unwrap_or(WireUsage {
                                prompt_tokens: 0,
                                completion_tokens: 0,
                                total_tokens: 0,
                            })),
                        }));
                    }
                    out.push_str("data: [DONE]\n\n");
                    return Some((out, None));
                }
                Ok(StreamEvent::Error { error }) | Err(error) => {
                    return Some((error_event(&error.to_string()), None));
                }
            }
        }
    })
    .map(Ok::<_, std::convert::Infallible>);
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_default()
}

fn error_event(message: &str) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        error: Detail<'a>,
    }
    #[derive(Serialize)]
    struct Detail<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        code: ErrorCode,
    }
    data(&Envelope {
        error: Detail {
            message,
            kind: "upstream_error",
            code: ErrorCode::UpstreamUnavailable,
        },
    })
}

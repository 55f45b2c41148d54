//! A routed chat stream as OpenAI's server-sent events.

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::Response;
use futures_util::stream::StreamExt;
use meritree_core::ErrorCode;
use meritree_platform::ai::{AnswerEvent, ChatStreamAnswer};
use serde::Serialize;

use super::wire::{finish_reason, ChatChunk, ChunkChoice, Delta};

struct Encoder {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    sent_role: bool,
}

impl Encoder {
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
    let mut encoder = Encoder {
        id: format!("chatcmpl-{}", answer.request_id),
        model: format!("{}/{}", answer.provider, answer.model),
        created,
        include_usage,
        sent_role: false,
    };
    let events = answer
        .events()
        .map(move |event| Ok::<_, std::convert::Infallible>(encoder.encode(event)));
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_default()
}

impl Encoder {
    fn encode(&mut self, event: AnswerEvent) -> String {
        match event {
            AnswerEvent::Text(text) => {
                let role = (!self.sent_role).then_some("assistant");
                self.sent_role = true;
                self.chunk(
                    Delta {
                        role,
                        content: Some(text),
                    },
                    None,
                )
            }
            AnswerEvent::Finished {
                finish_reason: reason,
                usage,
                ..
            } => {
                let mut out = self.chunk(Delta::default(), finish_reason(&reason).or(Some("stop")));
                if self.include_usage {
                    out.push_str(&data(&ChatChunk {
                        id: &self.id,
                        object: "chat.completion.chunk",
                        created: self.created,
                        model: &self.model,
                        choices: Vec::new(),
                        usage: Some(usage.into()),
                    }));
                }
                out.push_str("data: [DONE]\n\n");
                out
            }
            AnswerEvent::Failed { code, message } => error_event(code, &message),
        }
    }
}

fn error_event(code: ErrorCode, message: &str) -> String {
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
            code,
        },
    })
}

//! A streamed answer as the events every door encodes: text as it comes,
//! then how it ended. The rules — empty deltas are skipped, the latest
//! usage wins, the cost is priced once, a failure after output ends the
//! answer with a stable code — are here once; the OpenAI-compatible SSE
//! encoder and the playground's line encoder only change the wire format.

use futures_util::stream::{self, Stream, StreamExt};
use meritree_ai::{FinishReason, ProviderError, StreamEvent, Usage};
use meritree_core::ErrorCode;

use super::requests::ChatStreamAnswer;

#[derive(Debug, Clone, PartialEq)]
pub enum AnswerEvent {
    Text(String),
    /// The answer is complete.
    Finished {
        finish_reason: Option<FinishReason>,
        usage: Usage,
        cost_nanos: u64,
    },
    /// The answer broke after it started: too late to fail over.
    Failed {
        code: ErrorCode,
        message: String,
    },
}

impl AnswerEvent {
    fn failed(error: ProviderError) -> Self {
        let code = match error {
            ProviderError::BadRequest(_) => ErrorCode::UpstreamRejected,
            _ => ErrorCode::UpstreamUnavailable,
        };
        // A rejection says what was wrong with the request; anything else
        // names providers and their addresses, which stay in the log.
        let message = match crate::error::fault_message(code) {
            Some(generic) => {
                tracing::warn!(%error, "answer broke after it started");
                generic.to_owned()
            }
            None => error.to_string(),
        };
        AnswerEvent::Failed { code, message }
    }
}

impl ChatStreamAnswer {
    /// The answer's events; the last one is `Finished` or `Failed`.
    /// Dropping the stream early drops the upstream, which records what was
    /// generated (see `Metered`).
    pub fn events(self) -> impl Stream<Item = AnswerEvent> + Send {
        let price = self.price;
        stream::unfold(
            Some((self.stream, Usage::default())),
            move |state| async move {
                let (mut upstream, mut usage) = state?;
                loop {
                    let last = match upstream.next().await {
                        Some(Ok(StreamEvent::TextDelta { text })) => {
                            if text.is_empty() {
                                continue;
                            }
                            return Some((AnswerEvent::Text(text), Some((upstream, usage))));
                        }
                        Some(Ok(StreamEvent::Usage { usage: latest })) => {
                            usage = latest;
                            continue;
                        }
                        Some(Ok(StreamEvent::Done { finish_reason })) => AnswerEvent::Finished {
                            finish_reason,
                            usage,
                            cost_nanos: price.cost_nanos(usage),
                        },
                        Some(Ok(StreamEvent::Error { error })) | Some(Err(error)) => {
                            AnswerEvent::failed(error)
                        }
                        None => AnswerEvent::failed(ProviderError::StreamBroken),
                    };
                    return Some((last, None));
                }
            },
        )
    }
}

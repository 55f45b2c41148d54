use std::sync::Arc;
use std::time::Duration;

use meritree_ai::providers::anthropic::Anthropic;
use meritree_ai::{FinishReason, HttpConfig, Provider, ProviderError, Usage};

use crate::fake::{
    check_error, check_redirect_not_followed, check_stream_failures, collect, config, request,
    serve, Reply,
};

const MESSAGE: &str = include_str!("../fixtures/anthropic/message.json");
const STREAM: &str = include_str!("../fixtures/anthropic/message_stream.txt");
const OVERLOADED: &str = include_str!("../fixtures/anthropic/stream_overloaded.txt");

fn make(config: HttpConfig) -> Arc<dyn Provider> {
    Arc::new(Anthropic::new(config))
}

#[tokio::test]
async fn chat() {
    let fake = serve(|| Reply::json(200, MESSAGE)).await;
    let response = make(config(&fake, ""))
        .chat(&request("claude-sonnet-4-20250514"))
        .await
        .unwrap();
    assert_eq!(response.text, "Hi! My name is Claude.");
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 2095,
            output_tokens: 503
        }
    );
    let sent = fake.last();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], "test-key");
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        sent.body,
        serde_json::json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 64,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": "How are you?"},
            ],
            "temperature": 0.5,
            "stream": false,
        })
    );
}

#[tokio::test]
async fn chat_stream() {
    let fake = serve(|| Reply::sse(STREAM)).await;
    let stream = make(config(&fake, ""))
        .chat_stream(&request("m"))
        .await
        .unwrap();
    let got = collect(stream).await;
    assert_eq!(got.text, "Hello! How can I help you today?");
    assert_eq!(
        got.usage,
        Some(Usage {
            input_tokens: 25,
            output_tokens: 15
        }),
        "input from message_start, output from message_delta"
    );
    assert!(got.done && got.error.is_none());
    assert_eq!(fake.last().body["stream"], true);
}

#[tokio::test]
async fn an_error_event_mid_stream_is_typed() {
    let fake = serve(|| Reply::sse(OVERLOADED)).await;
    let stream = make(config(&fake, ""))
        .chat_stream(&request("m"))
        .await
        .unwrap();
    let got = collect(stream).await;
    assert_eq!(got.error, Some(ProviderError::Overloaded));
}

#[tokio::test]
async fn errors() {
    let cases: [(fn() -> Reply, ProviderError); 7] = [
        (
            || Reply::json(401, include_str!("../fixtures/anthropic/error_401.json")),
            ProviderError::Unauthorized,
        ),
        (
            || Reply::json(404, include_str!("../fixtures/anthropic/error_404.json")),
            ProviderError::NotFound,
        ),
        (
            || {
                Reply::json(429, include_str!("../fixtures/anthropic/error_429.json"))
                    .header("retry-after", "17")
            },
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(17)),
            },
        ),
        (
            || Reply::json(500, include_str!("../fixtures/anthropic/error_500.json")),
            ProviderError::Server(500),
        ),
        (
            || Reply::json(529, include_str!("../fixtures/anthropic/error_529.json")),
            ProviderError::Overloaded,
        ),
        // The type decides even when a proxy rewrote the status.
        (
            || Reply::json(503, include_str!("../fixtures/anthropic/error_529.json")),
            ProviderError::Overloaded,
        ),
        (
            || Reply::json(400, include_str!("../fixtures/anthropic/error_400.json")),
            ProviderError::BadRequest("max_tokens: Field required".into()),
        ),
    ];
    for (reply, expected) in cases {
        check_error(make, "", reply, expected).await;
    }
}

#[tokio::test]
async fn malformed_body() {
    let fake = serve(|| Reply::json(200, r#"{"type": "message", "content": 7}"#)).await;
    let err = make(config(&fake, ""))
        .chat(&request("m"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn stream_failures() {
    check_stream_failures(
        make,
        "",
        || Reply::sse(&STREAM[..STREAM.find("event: message_delta").unwrap()]),
        || Reply::sse(STREAM).late(Duration::from_secs(2)),
    )
    .await;
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    check_redirect_not_followed(make, "").await;
}

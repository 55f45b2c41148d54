use std::sync::Arc;
use std::time::Duration;

use meritree_ai::providers::openai::OpenAi;
use meritree_ai::{FinishReason, HttpConfig, Provider, ProviderError, Usage};

use crate::fake::{
    check_error, check_redirect_not_followed, check_stream_failures, collect, config, request,
    serve, Reply,
};

const CHAT: &str = include_str!("../fixtures/openai/chat.json");
const STREAM: &str = include_str!("../fixtures/openai/chat_stream.txt");
const EMBEDDINGS: &str = include_str!("../fixtures/openai/embeddings.json");
const MODERATION: &str = include_str!("../fixtures/openai/moderation.json");

fn make(config: HttpConfig) -> Arc<dyn Provider> {
    Arc::new(OpenAi::new(config))
}

#[tokio::test]
async fn chat() {
    let fake = serve(|| Reply::json(200, CHAT)).await;
    let response = make(config(&fake, "/v1"))
        .chat(&request("gpt-4.1"))
        .await
        .unwrap();
    assert_eq!(response.text, "Hello! How can I assist you today?");
    assert_eq!(response.model, "gpt-4.1-2025-04-14");
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 19,
            output_tokens: 10
        }
    );
    let sent = fake.last();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer test-key");
    assert_eq!(
        sent.body,
        serde_json::json!({
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": "How are you?"},
            ],
            "max_tokens": 64,
            "temperature": 0.5,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

/// A whole answer is asked for as a stream and gathered, so a hung
/// upstream costs the first-byte timeout, not the total one.
#[tokio::test]
async fn a_whole_answer_is_gathered_from_a_stream_and_a_hung_upstream_costs_the_first_byte() {
    let fake = serve(|| Reply::sse(STREAM)).await;
    let response = make(config(&fake, "/v1"))
        .chat(&request("gpt-4.1-mini"))
        .await
        .unwrap();
    assert_eq!(response.text, "Hello! How can I help you today?");
    assert_eq!(response.model, "gpt-4.1-mini");
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 19,
            output_tokens: 9
        }
    );
    assert_eq!(fake.last().headers["accept"], "text/event-stream");

    // First byte 300 ms, total 5 s: the call gives up at the first.
    let hung = serve(|| Reply::sse(STREAM).late(Duration::from_secs(4))).await;
    let started = std::time::Instant::now();
    let got = make(config(&hung, "/v1")).chat(&request("m")).await.err();
    assert_eq!(got, Some(ProviderError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn chat_stream() {
    let fake = serve(|| Reply::sse(STREAM)).await;
    let stream = make(config(&fake, "/v1"))
        .chat_stream(&request("gpt-4.1-mini"))
        .await
        .unwrap();
    let got = collect(stream).await;
    assert_eq!(got.text, "Hello! How can I help you today?");
    assert_eq!(
        got.usage,
        Some(Usage {
            input_tokens: 19,
            output_tokens: 9
        })
    );
    assert!(got.done && got.error.is_none());
    let sent = fake.last();
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert_eq!(sent.headers["accept"], "text/event-stream");
}

#[tokio::test]
async fn embeddings_come_back_in_input_order() {
    let fake = serve(|| Reply::json(200, EMBEDDINGS)).await;
    let inputs = vec!["a".to_owned(), "b".to_owned()];
    let got = make(config(&fake, "/v1"))
        .embed(&inputs, "text-embedding-3-small")
        .await
        .unwrap();
    assert_eq!(got.vectors.len(), 2);
    assert_eq!(got.vectors[1], [0.25, -0.5, 0.125]);
    assert_eq!(got.input_tokens, 8);
    let sent = fake.last();
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.body["input"], serde_json::json!(["a", "b"]));
}

#[tokio::test]
async fn a_moderation_names_the_categories_it_flagged() {
    let fake = serve(|| Reply::json(200, MODERATION)).await;
    let got = make(config(&fake, "/v1"))
        .moderate("I will hurt them.", "omni-moderation-latest")
        .await
        .unwrap();
    assert!(got.flagged);
    assert_eq!(got.model, "omni-moderation-latest");
    assert_eq!(got.categories, ["violence"]);
    assert!((got.scores["violence"] - 0.86).abs() < 0.01);
    let sent = fake.last();
    assert_eq!(sent.path, "/v1/moderations");
    assert_eq!(
        sent.body,
        serde_json::json!({ "model": "omni-moderation-latest", "input": "I will hurt them." })
    );

    // Categories a model does not cover come as null.
    let legacy = r#"{"model": "text-moderation-007", "results": [{"flagged": false,
        "categories": {"hate": false, "illicit": null},
        "category_scores": {"hate": 0.01, "illicit": null}}]}"#;
    let fake = serve(move || Reply::json(200, legacy)).await;
    let got = make(config(&fake, "/v1")).moderate("x", "m").await.unwrap();
    assert!(!got.flagged && got.categories.is_empty());
    assert_eq!(got.scores.keys().collect::<Vec<_>>(), ["hate"]);

    // Anything but one result with scores from 0 to 1 is refused.
    for body in [
        r#"{"model": "m", "results": []}"#,
        r#"{"model": "m", "results": [{"flagged": false, "categories": {}, "category_scores": {"hate": 1.5}}]}"#,
        r#"{"model": "m", "results": [{"flagged": "no", "categories": {}, "category_scores": {}}]}"#,
    ] {
        let fake = serve(move || Reply::json(200, body)).await;
        let refused = make(config(&fake, "/v1")).moderate("x", "m").await;
        assert!(
            matches!(refused, Err(ProviderError::Malformed(_))),
            "{body}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_keyless_compatible_server_gets_no_authorization() {
    let fake = serve(|| Reply::json(200, CHAT)).await;
    let provider = OpenAi::new(HttpConfig::new("local", format!("{}/v1/", fake.base_url)));
    provider.chat(&request("llama")).await.unwrap();
    let sent = fake.last();
    assert_eq!(
        sent.path, "/v1/chat/completions",
        "trailing slash tolerated"
    );
    assert!(!sent.headers.contains_key("authorization"));
}

#[tokio::test]
async fn errors() {
    let cases: [(fn() -> Reply, ProviderError); 7] = [
        (
            || Reply::json(401, include_str!("../fixtures/openai/error_401.json")),
            ProviderError::Unauthorized,
        ),
        (
            || Reply::json(404, include_str!("../fixtures/openai/error_404.json")),
            ProviderError::NotFound,
        ),
        (
            || {
                Reply::json(429, include_str!("../fixtures/openai/error_429.json"))
                    .header("retry-after", "2")
            },
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
            },
        ),
        (
            || Reply::json(500, include_str!("../fixtures/openai/error_500.json")),
            ProviderError::Server(500),
        ),
        (|| Reply::json(529, "overloaded"), ProviderError::Overloaded),
        (
            || Reply::json(400, include_str!("../fixtures/openai/error_400.json")),
            ProviderError::BadRequest(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.".into(),
            ),
        ),
        (
            || Reply::json(502, "<html>Bad Gateway</html>"),
            ProviderError::Server(502),
        ),
    ];
    for (reply, expected) in cases {
        check_error(make, "/v1", reply, expected).await;
    }
}

#[tokio::test]
async fn malformed_bodies() {
    let fake = serve(|| Reply::json(200, r#"{"id": "x", "choices": "#)).await;
    let err = make(config(&fake, "/v1"))
        .chat(&request("m"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");

    let fake = serve(|| Reply::sse("data: {not json}\n\n")).await;
    let stream = make(config(&fake, "/v1"))
        .chat_stream(&request("m"))
        .await
        .unwrap();
    let err = collect(stream).await.error;
    assert!(matches!(err, Some(ProviderError::Malformed(_))), "{err:?}");
}

#[tokio::test]
async fn stream_failures() {
    check_stream_failures(
        make,
        "/v1",
        // Cut inside the finish-reason chunk: text came, [DONE] never did.
        || Reply::sse(&STREAM[..STREAM.find(r#""finish_reason":"stop""#).unwrap()]),
        || Reply::sse(STREAM).late(Duration::from_secs(2)),
    )
    .await;
}

#[test]
fn the_stream_fixture_ends_with_done() {
    assert!(STREAM.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    check_redirect_not_followed(make, "/v1").await;
}

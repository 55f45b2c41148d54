use std::sync::Arc;
use std::time::Duration;

use meritree_ai::providers::gemini::Gemini;
use meritree_ai::{FinishReason, HttpConfig, Provider, ProviderError, Usage};

use crate::fake::{
    check_error, check_redirect_not_followed, check_stream_failures, collect, config, request,
    serve, Reply,
};

const GENERATE: &str = include_str!("../fixtures/gemini/generate.json");
const STREAM: &str = include_str!("../fixtures/gemini/stream.txt");
const EMBED: &str = include_str!("../fixtures/gemini/embed.json");

fn make(config: HttpConfig) -> Arc<dyn Provider> {
    Arc::new(Gemini::new(config))
}

#[tokio::test]
async fn chat() {
    let fake = serve(|| Reply::json(200, GENERATE)).await;
    let response = make(config(&fake, ""))
        .chat(&request("gemini-2.5-flash"))
        .await
        .unwrap();
    assert_eq!(response.text, "Hello! How can I help you today?\n");
    assert_eq!(response.model, "gemini-2.5-flash");
    assert_eq!(response.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 4,
            output_tokens: 9 + 25
        },
        "thinking tokens are billed output"
    );
    let sent = fake.last();
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.headers["x-goog-api-key"], "test-key");
    assert_eq!(
        sent.body,
        serde_json::json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hello"}]},
                {"role": "model", "parts": [{"text": "Hi."}]},
                {"role": "user", "parts": [{"text": "How are you?"}]},
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5},
        })
    );
}

#[tokio::test]
async fn embeddings_in_one_batch() {
    let fake = serve(|| Reply::json(200, EMBED)).await;
    let inputs = vec!["The cat sat.".to_owned(), "Hello".to_owned()];
    let got = make(config(&fake, ""))
        .embed(&inputs, "gemini-embedding-001")
        .await
        .unwrap();
    assert_eq!(
        got.vectors,
        [[0.0132, -0.0271, 0.0049], [-0.0087, 0.0312, 0.0201]]
    );
    assert_eq!(
        got.input_tokens,
        3 + 2,
        "estimated: a quarter of the characters"
    );
    let sent = fake.last();
    assert_eq!(
        sent.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(sent.headers["x-goog-api-key"], "test-key");
    assert_eq!(
        sent.body,
        serde_json::json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "The cat sat."}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "Hello"}]}},
        ]})
    );

    let short = serve(|| Reply::json(200, r#"{"embeddings": [{"values": [1.0]}]}"#)).await;
    let err = make(config(&short, ""))
        .embed(&inputs, "gemini-embedding-001")
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn chat_stream() {
    let fake = serve(|| Reply::sse(STREAM)).await;
    let stream = make(config(&fake, ""))
        .chat_stream(&request("gemini-2.0-flash"))
        .await
        .unwrap();
    let got = collect(stream).await;
    assert_eq!(got.text, "Hello! How can I help you today?\n");
    assert_eq!(
        got.usage,
        Some(Usage {
            input_tokens: 4,
            output_tokens: 9
        })
    );
    assert!(got.done && got.error.is_none());
    assert_eq!(
        fake.last().path,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn errors() {
    let cases: [(fn() -> Reply, ProviderError); 7] = [
        (
            || Reply::json(400, include_str!("../fixtures/gemini/error_400_key.json")),
            ProviderError::Unauthorized,
        ),
        (
            || Reply::json(404, include_str!("../fixtures/gemini/error_404.json")),
            ProviderError::NotFound,
        ),
        (
            || {
                Reply::json(429, include_str!("../fixtures/gemini/error_429.json"))
                    .header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")
            },
            // A date already past: come back now.
            ProviderError::RateLimited {
                retry_after: Some(Duration::ZERO),
            },
        ),
        (
            || Reply::json(500, include_str!("../fixtures/gemini/error_500.json")),
            ProviderError::Server(500),
        ),
        (
            || Reply::json(503, include_str!("../fixtures/gemini/error_503.json")),
            ProviderError::Overloaded,
        ),
        (|| Reply::json(529, ""), ProviderError::Overloaded),
        (
            || Reply::json(400, include_str!("../fixtures/gemini/error_400.json")),
            ProviderError::BadRequest(
                "* GenerateContentRequest.contents: contents is not specified\n".into(),
            ),
        ),
    ];
    for (reply, expected) in cases {
        check_error(make, "", reply, expected).await;
    }
}

#[tokio::test]
async fn malformed_body() {
    let fake = serve(|| Reply::json(200, "[]")).await;
    let err = make(config(&fake, ""))
        .chat(&request("m"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn stream_failures() {
    // Gemini has no terminal event: a stream that ends before the chunk
    // with a finish reason is broken.
    check_stream_failures(
        make,
        "",
        || Reply::sse(&STREAM[..STREAM.find("\r\n\r\n").unwrap() + 4]),
        || Reply::sse(STREAM).late(Duration::from_secs(2)),
    )
    .await;
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    check_redirect_not_followed(make, "").await;
}

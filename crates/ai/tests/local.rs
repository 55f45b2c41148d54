//! The embedded provider on the real model files that `scripts/setup`
//! extracts. Without them these tests fail (they never skip): run
//! scripts/setup first.

use std::path::PathBuf;
use std::sync::OnceLock;

use futures_util::StreamExt;
use meritree_ai::providers::local::{
    self, LoadError, CHAT_MODEL, CONTEXT_LENGTH, EMBEDDING_DIMENSIONS, EMBEDDING_MODEL,
};
use meritree_ai::{
    ChatRequest, FinishReason, LocalProvider, Message, Provider, ProviderError, Role, StreamEvent,
};

/// `MERITREE_AI__LOCAL__MODELS_DIR` (scripts/lib.sh exports it), else the
/// same default: the cache directory.
fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MERITREE_AI__LOCAL__MODELS_DIR").filter(|d| !d.is_empty())
    {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    cache.join("meritree").join("models")
}

fn provider() -> &'static LocalProvider {
    static PROVIDER: OnceLock<LocalProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let dir = models_dir();
        if let Err(e) = LocalProvider::check(&dir) {
            panic!("{e}");
        }
        LocalProvider::new(dir)
    })
}

fn chat(content: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: CHAT_MODEL.into(),
        messages: vec![Message::new(Role::User, content)],
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        stream: false,
        ..Default::default()
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn similar_sentences_embed_closer_than_unrelated_ones() {
    let inputs: Vec<String> = [
        "A man is playing a guitar.",
        "Someone is strumming a guitar.",
        "The central bank raised interest rates again.",
    ]
    .map(String::from)
    .to_vec();
    let out = provider().embed(&inputs, EMBEDDING_MODEL).await.unwrap();
    assert_eq!(out.model, EMBEDDING_MODEL);
    assert_eq!(out.vectors.len(), 3);
    for v in &out.vectors {
        assert_eq!(v.len(), EMBEDDING_DIMENSIONS);
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let similar = cosine(&out.vectors[0], &out.vectors[1]);
    let unrelated = cosine(&out.vectors[0], &out.vectors[2]);
    assert!(
        similar > unrelated + 0.3,
        "similar {similar}, unrelated {unrelated}"
    );
    // [CLS] and [SEP] around each input's word pieces.
    assert!(out.input_tokens >= 3 * 6, "{}", out.input_tokens);

    // Padding in a batch changes nothing: the same input alone gives the
    // same vector as in a batch with longer ones.
    let alone = provider()
        .embed(&inputs[..1], EMBEDDING_MODEL)
        .await
        .unwrap();
    let same = cosine(&alone.vectors[0], &out.vectors[0]);
    assert!(same > 0.9999, "{same}");
}

#[tokio::test]
async fn chat_answers_with_text_and_usage() {
    let response = provider()
        .chat(&chat("What is the capital of France?", 8))
        .await
        .unwrap();
    assert_eq!(response.model, CHAT_MODEL);
    assert!(!response.text.trim().is_empty(), "{response:?}");
    assert!(response.usage.input_tokens > 10, "{response:?}");
    assert!(
        (1..=8).contains(&response.usage.output_tokens),
        "{response:?}"
    );
    assert!(response.finish_reason.is_some());
}

#[tokio::test]
async fn stream_matches_the_plain_answer_at_temperature_zero() {
    let request = chat("Write one sentence about the sea.", 16);
    let plain = provider().chat(&request).await.unwrap();

    let mut events = provider().chat_stream(&request).await.unwrap();
    let mut deltas = Vec::new();
    let mut rest = Vec::new();
    while let Some(event) = events.next().await {
        match event.unwrap() {
            StreamEvent::TextDelta { text } if rest.is_empty() => deltas.push(text),
            other => rest.push(other),
        }
    }
    assert!(deltas.len() >= 3, "{deltas:?}");
    assert_eq!(deltas.concat(), plain.text);
    assert_eq!(rest.len(), 2, "{rest:?}");
    match &rest[0] {
        StreamEvent::Usage { usage } => assert_eq!(*usage, plain.usage),
        other => panic!("expected usage, got {other:?}"),
    }
    match &rest[1] {
        StreamEvent::Done { finish_reason } => {
            assert_eq!(*finish_reason, plain.finish_reason);
            if plain.usage.output_tokens == 16 {
                assert_eq!(*finish_reason, Some(FinishReason::Length));
            }
        }
        other => panic!("expected done, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_models_are_refused() {
    let mut request = chat("Hello", 4);
    request.model = "gpt-4o".into();
    let e = provider().chat(&request).await.unwrap_err();
    assert_eq!(e, ProviderError::NotFound);
    assert!(!e.is_retryable());
    let e = provider().chat_stream(&request).await.err().unwrap();
    assert_eq!(e, ProviderError::NotFound);

    let inputs = vec!["hello".to_owned()];
    let e = provider().embed(&inputs, CHAT_MODEL).await.unwrap_err();
    assert_eq!(e, ProviderError::NotFound);
    let mut request = chat("Hello", 4);
    request.model = EMBEDDING_MODEL.into();
    assert_eq!(
        provider().chat(&request).await.unwrap_err(),
        ProviderError::NotFound
    );
}

#[tokio::test]
async fn prompts_beyond_the_context_are_refused() {
    let long = "lorem ipsum dolor sit amet ".repeat(CONTEXT_LENGTH / 2);
    let e = provider().chat(&chat(&long, 4)).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::BadRequest(m) if m.contains("context")),
        "{e:?}"
    );
    assert!(!e.is_retryable());

    // Megabytes are refused before tokenising.
    let huge = "a ".repeat(2_000_000);
    let e = provider().chat(&chat(&huge, 4)).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::BadRequest(m) if m.contains("context")),
        "{e:?}"
    );
}

#[tokio::test]
async fn missing_files_name_the_directory_and_the_fix() {
    let dir = std::env::temp_dir().join("meritree-no-models-here");
    let e = LocalProvider::check(&dir).unwrap_err();
    assert!(matches!(e, LoadError::Missing { ref files, .. } if files.len() == 4));
    let message = e.to_string();
    assert!(message.contains(&dir.display().to_string()), "{message}");
    assert!(message.contains("scripts/setup"), "{message}");

    let missing = LocalProvider::new(&dir);
    let e = missing.chat(&chat("Hello", 4)).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unsupported(m) if m.contains("scripts/setup")),
        "{e:?}"
    );
    assert!(!e.is_retryable());
}

#[test]
fn names_agree_with_the_gateway_catalogue() {
    assert_eq!(local::CHAT_MODEL, meritree_ai::gateway::LOCAL_CHAT_MODEL);
    assert_eq!(
        local::EMBEDDING_MODEL,
        meritree_ai::gateway::LOCAL_EMBEDDING_MODEL
    );
    assert_eq!(local::NAME, meritree_ai::gateway::LOCAL);
}

/// The default near-duplicate threshold (`[work] duplicate_similarity`,
/// 0.9) on all-MiniLM-L6-v2: a lightly reworded copy of a work is above
/// it; a different work on the same theme is well below.
#[tokio::test]
async fn a_reworded_copy_is_above_the_duplicate_threshold_and_other_work_below() {
    let inputs: Vec<String> = [
        "Harbour at dusk\n\nCranes lift rusted containers while the gulls argue over the tide, and the last ferry sounds its horn.",
        "Dusk at the harbour\n\nRusted containers are lifted by cranes while gulls argue over the tide and the final ferry sounds its horn.",
        "Morning market\n\nStallholders stack oranges into careful pyramids while the bakery next door fills the square with the smell of bread.",
    ]
    .map(String::from)
    .to_vec();
    let out = provider().embed(&inputs, EMBEDDING_MODEL).await.unwrap();
    let reworded = cosine(&out.vectors[0], &out.vectors[1]);
    let other = cosine(&out.vectors[0], &out.vectors[2]);
    println!("reworded {reworded:.3}, other {other:.3}");
    assert!(reworded >= 0.9, "a reworded copy scored {reworded}");
    assert!(other < 0.6, "different work scored {other}");
}

/// A judge's answer form: scores within the scale, a flag and a reason.
fn judge_form() -> meritree_ai::ResponseFormat {
    meritree_ai::ResponseFormat::JsonSchema {
        json_schema: meritree_ai::JsonSchemaFormat {
            name: "verdict".into(),
            strict: Some(true),
            schema: serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["scores", "safe", "reason"],
                "properties": {
                    "scores": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["clarity", "originality"],
                        "properties": {
                            "clarity": {"type": "integer", "minimum": 0, "maximum": 10},
                            "originality": {"type": "integer", "minimum": 0, "maximum": 10},
                        },
                    },
                    "safe": {"type": "boolean"},
                    "reason": {"type": "string", "minLength": 1, "maxLength": 120},
                },
            }),
        },
    }
}

#[tokio::test]
async fn a_required_json_schema_is_always_met_greedy_or_sampled() {
    let work = "Score this poem: 'The tide forgets the shore each night / \
                and learns it back by morning light.'";
    for (temperature, seed) in [(0.0, 1), (0.9, 7), (1.3, 42)] {
        let mut request = chat(work, 200);
        request.temperature = Some(temperature);
        request.seed = Some(seed);
        request.response_format = Some(judge_form());
        let answer = provider().chat(&request).await.unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&answer.text).unwrap_or_else(|e| panic!("{e}: {}", answer.text));
        let scores = value["scores"].as_object().expect("scores");
        assert_eq!(scores.len(), 2, "{value}");
        for criterion in ["clarity", "originality"] {
            let score = scores[criterion].as_i64().expect("an integer");
            assert!((0..=10).contains(&score), "{value}");
        }
        assert!(value["safe"].is_boolean(), "{value}");
        let reason = value["reason"].as_str().expect("a reason");
        assert!((1..=120).contains(&reason.chars().count()), "{value}");
        assert_eq!(value.as_object().unwrap().len(), 3, "{value}");
        // The document ends the answer.
        assert_eq!(answer.finish_reason, Some(FinishReason::Stop), "{value}");
    }
}

#[tokio::test]
async fn any_json_object_when_asked_for_one_and_unenforceable_schemas_are_declined() {
    let mut request = chat("Describe a cat as JSON.", 120);
    request.response_format = Some(meritree_ai::ResponseFormat::JsonObject);
    let answer = provider().chat(&request).await.unwrap();
    if answer.finish_reason == Some(FinishReason::Stop) {
        let value: serde_json::Value =
            serde_json::from_str(&answer.text).unwrap_or_else(|e| panic!("{e}: {}", answer.text));
        assert!(value.is_object());
    } else {
        // Cut by max_tokens: still a prefix of one object, with no space.
        assert!(answer.text.starts_with('{'), "{}", answer.text);
    }

    request.response_format = Some(meritree_ai::ResponseFormat::JsonSchema {
        json_schema: meritree_ai::JsonSchemaFormat {
            name: "x".into(),
            strict: None,
            schema: serde_json::json!({
                "type": "object",
                "properties": {"id": {"type": "string", "pattern": "^[a-z]+$"}},
            }),
        },
    });
    match provider().chat(&request).await {
        Err(ProviderError::Unsupported(why)) => assert!(why.contains("pattern"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

//! A judge upstream for tests: OpenAI's wire format on port 0, answering
//! chat with a set reply (the judge's JSON, or text off the schema) and
//! embeddings with a bag-of-words vector (the same words in any order give
//! the same vector), and moderation by a trigger word. It can hold its
//! answers, as a slow model would.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use meritree_ai::config::{Capability, ModelSettings, ProviderKind, ProviderSettings};
use serde_json::{json, Value};
use server::configuration::Settings;

/// What the fake judge answers: JSON scores, or text off the schema.
#[derive(Clone)]
pub struct Judge {
    pub reply: Arc<Mutex<String>>,
    /// Chat calls received (held ones included).
    pub calls: Arc<AtomicU32>,
    /// While set, chat answers wait.
    pub hold: Arc<AtomicBool>,
    /// The last chat request's body, as the upstream received it.
    pub last_request: Arc<Mutex<Value>>,
    /// While set, embedding requests whose text holds this word fail (500).
    pub fail_embeddings_with: Arc<Mutex<Option<String>>>,
}

pub fn scores(relevance: u32, craft: u32, insight: u32) -> String {
    json!({"scores": {"relevance": relevance, "craft": craft, "insight": insight},
           "safe": true, "reason": "Clear, on theme and well made."})
    .to_string()
}

async fn chat(State(judge): State<Judge>, Json(body): Json<Value>) -> Json<Value> {
    judge.calls.fetch_add(1, Ordering::SeqCst);
    *judge.last_request.lock().unwrap() = body.clone();
    while judge.hold.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = judge.reply.lock().unwrap().clone();
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240}
    }))
}

/// A bag-of-words embedding: the same words in another order give the
/// same vector; different words, a different one.
async fn embeddings(
    State(judge): State<Judge>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let inputs: Vec<String> = match &body["input"] {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => vec![other.as_str().unwrap_or_default().to_owned()],
    };
    let failing = judge.fail_embeddings_with.lock().unwrap().clone();
    if let Some(word) = failing {
        if inputs.iter().any(|t| t.to_lowercase().contains(&word)) {
            return Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut v = vec![0.0_f32; 64];
            for word in text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                let h = word
                    .to_lowercase()
                    .bytes()
                    .fold(7_u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                v[(h % 64) as usize] += 1.0;
            }
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Ok(Json(
        json!({"object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
    ))
}

/// OpenAI's moderation answer: text with the word "threaten" in it is
/// flagged for `harassment/threatening`, anything else passes.
async fn moderations(Json(body): Json<Value>) -> Json<Value> {
    let input = body["input"].as_str().unwrap_or_default().to_lowercase();
    let threat = input.contains("threaten");
    Json(json!({
        "id": "modr-1", "model": body["model"],
        "results": [{
            "flagged": threat,
            "categories": {"harassment": false, "harassment/threatening": threat, "violence": false},
            "category_scores": {"harassment": 0.2, "harassment/threatening": if threat { 0.91 } else { 0.01 }, "violence": 0.03},
        }]
    }))
}

pub async fn start_judge(reply: String) -> (String, Judge) {
    let judge = Judge {
        reply: Arc::new(Mutex::new(reply)),
        calls: Arc::new(AtomicU32::new(0)),
        hold: Arc::new(AtomicBool::new(false)),
        last_request: Arc::new(Mutex::new(Value::Null)),
        fail_embeddings_with: Arc::new(Mutex::new(None)),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/moderations", post(moderations))
        .with_state(judge.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, judge)
}

pub fn judged_by(settings: &mut Settings, url: &str) {
    settings.ai.local.enabled = false;
    settings.ai.retry.base_delay_ms = 1;
    settings.ai.retry.max_delay_ms = 2;
    let model = |name: &str, capability| ModelSettings {
        name: name.into(),
        input_price: 1_000_000,
        output_price: 2_000_000,
        context: 8192,
        capabilities: vec![capability],
    };
    settings.ai.providers = vec![ProviderSettings {
        name: "judge".into(),
        kind: ProviderKind::Openai,
        base_url: url.into(),
        api_key_env: String::new(),
        first_byte_timeout_secs: 5,
        total_timeout_secs: 10,
        models: vec![
            model("judge-1", Capability::Chat),
            model("bow-64", Capability::Embeddings),
            model("mod-1", Capability::Moderation),
        ],
    }];
    settings.work.judge_model = "judge/judge-1".into();
    settings.work.embedding_model = "judge/bow-64".into();
    settings.work.block_list = vec!["forbiddenword".into()];
    settings.work.pool = 1_000;
    settings.work.max_attempts = 2;
    settings.work.judge_attempts = 2;
}

//! A model server for compute nodes to run tasks on: OpenAI's wire format
//! on port 0. Chat streams a set answer word by word as server-sent
//! events (each word after `word_delay`); embeddings are a vector per text
//! from its length. Counts the chat calls it receives.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::stream;
use serde_json::{json, Value};

/// What every chat answer says.
pub const ANSWER: &str = "Four score and seven years ago";

#[derive(Clone, Default)]
pub struct FakeBackend {
    pub chat_calls: Arc<AtomicU32>,
    /// Milliseconds between streamed words.
    pub word_delay_ms: Arc<AtomicU64>,
}

async fn chat(State(backend): State<FakeBackend>, Json(body): Json<Value>) -> Response {
    backend.chat_calls.fetch_add(1, Ordering::SeqCst);
    let delay = Duration::from_millis(backend.word_delay_ms.load(Ordering::SeqCst));
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    if body["stream"].as_bool() != Some(true) {
        return Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}
        }))
        .into_response();
    }
    let words: Vec<String> = ANSWER
        .split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect();
    let mut chunks: Vec<Value> = words
        .into_iter()
        .map(|w| {
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model,
                   "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": null}]})
        })
        .collect();
    chunks.push(
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}}),
    );
    let events = stream::unfold(
        (chunks.into_iter(), false),
        move |(mut rest, done)| async move {
            if done {
                return None;
            }
            match rest.next() {
                Some(chunk) => {
                    tokio::time::sleep(delay).await;
                    Some((
                        Ok::<_, std::convert::Infallible>(Event::default().data(chunk.to_string())),
                        (rest, false),
                    ))
                }
                None => Some((Ok(Event::default().data("[DONE]")), (rest, true))),
            }
        },
    );
    Sse::new(events).into_response()
}

async fn embeddings(Json(body): Json<Value>) -> Json<Value> {
    let inputs: Vec<String> = body["input"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": [t.len() as f32, 1.0, 0.5]}))
        .collect();
    Json(
        json!({"object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}}),
    )
}

/// Starts it; answers its base URL (with `/v1`).
pub async fn start_backend() -> (String, FakeBackend) {
    let backend = FakeBackend::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .with_state(backend.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, backend)
}

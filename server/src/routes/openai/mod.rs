//! OpenAI's API under `/v1`, so the official SDKs work against Meritree
//! unchanged: point `base_url` at `https://<host>/v1` and use a Meritree API
//! key (or a session) as the key. Errors keep Meritree's envelope, which
//! carries the `message` and `code` the SDKs read.

mod chat_completions;
mod embeddings;
mod models;
mod stream;
mod wire;

use axum::routing::{get, post};
use axum::Router;
use meritree_core::ErrorCode;

use super::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat/completions", post(chat_completions::create))
        .route("/embeddings", post(embeddings::create))
        .route("/models", get(models::list))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no API route at this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
}

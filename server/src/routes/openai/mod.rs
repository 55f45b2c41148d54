//! OpenAI's API under `/v1`, so the official SDKs work against Meritree
//! unchanged: point `base_url` at `https://<host>/v1` and use a Meritree API
//! key (or a session) as the key. Errors keep Meritree's envelope, which
//! carries the `message` and `code` the SDKs read.

mod chat_completions;
mod embeddings;
mod models;
mod stream;
mod wire;

use axum::Router;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::tagged;
use super::AppState;
use crate::error::json_fallbacks;

/// The routes, and the OpenAPI description of each (paths relative to `/v1`).
pub fn router() -> (Router<AppState>, OpenApi) {
    let routes = OpenApiRouter::new()
        .routes(routes!(chat_completions::create))
        .routes(routes!(embeddings::create))
        .routes(routes!(models::list));
    let (router, document) = tagged("openai", routes).split_for_parts();
    (json_fallbacks(router), document)
}

//! The compute network as callers see it: the AI gateway's upstreams.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::status::AiProviderReport;
use meritree_platform::Platform;

use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/network/providers", get(providers))
}

/// `GET /api/v1/network/providers`: each AI provider with its circuit
/// breaker's state (public, like `/status`).
async fn providers(State(platform): State<Platform>) -> Json<Vec<AiProviderReport>> {
    Json(platform.ai_providers())
}

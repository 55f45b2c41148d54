//! The compute network as callers see it: the AI gateway's upstreams, the
//! community nodes' figures and health.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::compute::{NetworkHealth, NetworkStats};
use meritree_core::status::AiProviderReport;
use meritree_platform::Platform;

use crate::error::ApiError;
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/network/providers", get(providers))
        .route("/network/stats", get(stats))
        .route("/network/health", get(health))
}

/// `GET /api/v1/network/stats`: nodes online, tasks waiting and running,
/// tasks completed per minute over the last hour (public).
async fn stats(State(platform): State<Platform>) -> Result<Json<NetworkStats>, ApiError> {
    Ok(Json(platform.compute().network_stats().await?))
}

/// `GET /api/v1/network/health`: whether nodes are online to take tasks.
async fn health(State(platform): State<Platform>) -> Result<Json<NetworkHealth>, ApiError> {
    Ok(Json(platform.compute().health().await?))
}

/// `GET /api/v1/network/providers`: each AI provider with its circuit
/// breaker's state (public, like `/status`).
async fn providers(State(platform): State<Platform>) -> Json<Vec<AiProviderReport>> {
    Json(platform.ai_providers())
}

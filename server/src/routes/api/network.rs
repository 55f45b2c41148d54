//! The compute network as callers see it: the AI gateway's upstreams, the
//! community nodes' figures and health.

use axum::extract::State;
use axum::Json;
use meritree_core::compute::{NetworkHealth, NetworkStats};
use meritree_core::status::AiProviderReport;
use meritree_platform::Platform;

use crate::error::ApiError;
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(stats))
        .routes(routes!(health))
}

/// `GET /api/v1/network/stats`: nodes online, tasks waiting and running,
/// tasks completed per minute over the last hour (public).
#[utoipa::path(get, path = "/network/stats", responses((status = 200, body = NetworkStats)))]
async fn stats(State(platform): State<Platform>) -> Result<Json<NetworkStats>, ApiError> {
    Ok(Json(platform.compute().network_stats().await?))
}

/// `GET /api/v1/network/health`: whether nodes are online to take tasks.
#[utoipa::path(get, path = "/network/health", responses((status = 200, body = NetworkHealth)))]
async fn health(State(platform): State<Platform>) -> Result<Json<NetworkHealth>, ApiError> {
    Ok(Json(platform.compute().health().await?))
}

/// `GET /api/v1/network/providers`: each AI provider with its circuit
/// breaker's state (public, like `/status`).
#[utoipa::path(get, path = "/network/providers", responses((status = 200, body = [AiProviderReport])))]
async fn providers(State(platform): State<Platform>) -> Json<Vec<AiProviderReport>> {
    Json(platform.ai_providers())
}

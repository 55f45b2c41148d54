//! Probes for load balancers and orchestrators.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::{ErrorCode, VERSION};
use meritree_platform::Platform;
use serde_json::{json, Value};

use super::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `GET /healthz`: the process is up and serving. Touches nothing else.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": VERSION }))
}

/// `GET /readyz`: the instance can serve traffic (its database answers).
async fn readyz(State(platform): State<Platform>) -> Result<Json<Value>, ApiError> {
    platform.db().ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check: database unreachable");
        ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "the database is not reachable",
        )
    })?;
    Ok(Json(json!({ "status": "ready" })))
}

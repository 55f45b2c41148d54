//! The chain as admins run it: the distributor, the platform key's balance
//! and the transaction outbox; pausing and resuming claims.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use meritree_core::settlement::{ChainOverview, OutboxEntry};
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/chain", get(overview))
        .route("/admin/chain/claims-paused", post(set_claims_paused))
}

/// `GET /api/v1/admin/chain` (admins only).
async fn overview(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<ChainOverview>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.chain().overview().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseSwitch {
    paused: bool,
    /// A retry with the same key queues nothing more.
    idempotency_key: String,
}

/// `POST /api/v1/admin/chain/claims-paused` (admins only): `{paused,
/// idempotency_key}` queues `pause()` or `unpause()`; 202 with the
/// transaction, which the outbox sends.
async fn set_claims_paused(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<PauseSwitch>,
) -> Result<(StatusCode, Json<OutboxEntry>), ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let tx = platform
        .chain()
        .set_claims_paused(&me.account_id, body.paused, &body.idempotency_key)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(tx)))
}

//! The chain as admins run it: the distributor, the platform key's balance
//! and the transaction outbox; pausing and resuming claims.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use meritree_core::settlement::{ChainOverview, OutboxEntry};
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(set_claims_paused))
}

/// `GET /api/v1/admin/chain` (admins only).
#[utoipa::path(get, path = "/admin/chain", responses((status = 200, body = ChainOverview)))]
async fn overview(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<ChainOverview>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.chain().overview().await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseSwitch {
    paused: bool,
    /// A retry with the same key queues nothing more.
    idempotency_key: String,
}

/// `POST /api/v1/admin/chain/claims-paused` (admins only): `{paused,
/// idempotency_key}` queues `pause()` or `unpause()`; 202 with the
/// transaction, which the outbox sends.
#[utoipa::path(post, path = "/admin/chain/claims-paused", request_body = PauseSwitch, responses((status = 202, body = OutboxEntry)))]
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

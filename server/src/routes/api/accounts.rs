//! Admins managing other accounts: find them, change a role, disable or
//! enable one, end its sessions. Each is audited by the service.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use meritree_core::accounts::{AccountId, ManagedAccount};
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/accounts", get(search))
        .route("/admin/accounts/{id}/role", put(change_role))
        .route("/admin/accounts/{id}/disable", post(disable))
        .route("/admin/accounts/{id}/enable", post(enable))
        .route("/admin/accounts/{id}/end-sessions", post(end_sessions))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
}

/// `GET /api/v1/admin/accounts?q=` (admins only): accounts whose email,
/// handle or wallet contains `q`, or whose id it is (at most 50, newest
/// first).
async fn search(
    State(platform): State<Platform>,
    Caller(request): Caller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<ManagedAccount>>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    let Query(query) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    Ok(Json(platform.accounts().search(&query.q).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    role: String,
}

/// `PUT /api/v1/admin/accounts/{id}/role` (admins only): `{role}`; the
/// account's sessions end.
async fn change_role(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<AccountId>,
    ApiJson(body): ApiJson<NewRole>,
) -> Result<Json<ManagedAccount>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(
        platform
            .accounts()
            .change_role(&me.account_id, &id, &body.role)
            .await?,
    ))
}

/// `POST /api/v1/admin/accounts/{id}/disable` (admins only).
async fn disable(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<AccountId>,
) -> Result<Json<ManagedAccount>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(
        platform.accounts().disable(&me.account_id, &id).await?,
    ))
}

/// `POST /api/v1/admin/accounts/{id}/enable` (admins only).
async fn enable(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<AccountId>,
) -> Result<Json<ManagedAccount>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.accounts().enable(&me.account_id, &id).await?))
}

#[derive(Serialize)]
struct Ended {
    ended: u64,
}

/// `POST /api/v1/admin/accounts/{id}/end-sessions` (admins only): how many
/// sessions ended.
async fn end_sessions(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<AccountId>,
) -> Result<Json<Ended>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let ended = platform
        .accounts()
        .end_sessions_of(&me.account_id, &id)
        .await?;
    Ok(Json(Ended { ended }))
}

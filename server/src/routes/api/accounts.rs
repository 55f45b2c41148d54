//! Admins managing other accounts: find them, change a role, disable or
//! enable one, end its sessions. Each is audited by the service.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use meritree_core::accounts::{AccountId, ManagedAccount};
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(change_role))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(end_sessions))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
}

/// `GET /api/v1/admin/accounts?q=` (admins only): accounts whose email,
/// handle or wallet contains `q`, or whose id it is (at most 50, newest
/// first).
#[utoipa::path(get, path = "/admin/accounts", params(SearchQuery), responses((status = 200, body = [ManagedAccount])))]
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

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    #[schema(value_type = meritree_core::accounts::Role)]
    role: String,
}

/// `PUT /api/v1/admin/accounts/{id}/role` (admins only): `{role}`; the
/// account's sessions end.
#[utoipa::path(put, path = "/admin/accounts/{id}/role", params(("id" = String, Path)), request_body = NewRole, responses((status = 200, body = ManagedAccount)))]
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
#[utoipa::path(post, path = "/admin/accounts/{id}/disable", params(("id" = String, Path)), responses((status = 200, body = ManagedAccount)))]
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
#[utoipa::path(post, path = "/admin/accounts/{id}/enable", params(("id" = String, Path)), responses((status = 200, body = ManagedAccount)))]
async fn enable(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<AccountId>,
) -> Result<Json<ManagedAccount>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.accounts().enable(&me.account_id, &id).await?))
}

#[derive(utoipa::ToSchema, Serialize)]
struct Ended {
    ended: u64,
}

/// `POST /api/v1/admin/accounts/{id}/end-sessions` (admins only): how many
/// sessions ended.
#[utoipa::path(post, path = "/admin/accounts/{id}/end-sessions", params(("id" = String, Path)), responses((status = 200, body = Ended)))]
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

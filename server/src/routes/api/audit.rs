//! The audit log for admins: its entries in order (an export anyone can
//! re-check with `meritree_core::audit::verify_chain`), and the chain
//! checked by the server.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use meritree_core::audit::{AuditPage, AuditVerification};
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_page))
        .routes(routes!(verify_audit))
        .routes(routes!(export_audit))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// `next_after` from the previous page.
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/admin/audit?after=&limit=` (admins only): entries after
/// `after`, oldest first (`limit` 1 to 500, default 100).
#[utoipa::path(get, path = "/admin/audit", params(AuditQuery), responses((status = 200, body = AuditPage)))]
async fn audit_page(
    State(platform): State<Platform>,
    Caller(request): Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    let Query(query) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    Ok(Json(platform.audit().page(query.after, query.limit).await?))
}

/// `GET /api/v1/admin/audit/verify` (admins only): the whole chain checked:
/// how many entries, the head hash, and where it breaks if it does.
#[utoipa::path(get, path = "/admin/audit/verify", responses((status = 200, body = AuditVerification)))]
async fn verify_audit(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<AuditVerification>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.audit().verify().await?))
}

/// `GET /api/v1/admin/audit/export` (admins only): the whole log, oldest
/// first, as a JSON file to download and re-check.
#[utoipa::path(get, path = "/admin/audit/export", responses((status = 200, body = [meritree_core::audit::AuditEntry])))]
async fn export_audit(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<impl IntoResponse, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    let entries = platform.audit().export().await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"meritree-audit.json\"",
        )],
        Json(entries),
    ))
}

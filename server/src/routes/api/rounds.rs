//! Settlement rounds over HTTP, public: the list, one round, and the
//! export anyone can check a round's root against.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use meritree_core::rounds::{RoundView, RoundsPage};
use meritree_core::ErrorCode;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::error::ApiError;
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rounds))
        .routes(routes!(get_round))
        .routes(routes!(export_round))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RoundsQuery {
    limit: Option<u32>,
    /// `next_before` from the previous page.
    before: Option<i64>,
}

/// `GET /api/v1/rounds?limit=&before=`: rounds, newest first (`limit` 1 to
/// 100, default 20; pass the response's `next_before` as `before` for
/// older rounds).
#[utoipa::path(get, path = "/rounds", params(RoundsQuery), responses((status = 200, body = RoundsPage)))]
async fn list_rounds(
    State(platform): State<Platform>,
    query: Result<Query<RoundsQuery>, QueryRejection>,
) -> Result<Json<RoundsPage>, ApiError> {
    let Query(query) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    Ok(Json(
        platform.rounds().list(query.limit, query.before).await?,
    ))
}

/// `GET /api/v1/rounds/{n}`: one round; 404 when there is no round `n`.
#[utoipa::path(get, path = "/rounds/{n}", params(("n" = i64, Path)), responses((status = 200, body = RoundView)))]
async fn get_round(
    State(platform): State<Platform>,
    number: Result<Path<i64>, PathRejection>,
) -> Result<Json<RoundView>, ApiError> {
    Ok(Json(platform.rounds().round(round_number(number)?).await?))
}

/// `GET /api/v1/rounds/{n}/export`: `{round, root, leaves: [{address,
/// amount, proof}]}`, every wallet's cumulative amount and proof in round
/// `n`'s tree; 404 while the round is open. The body is exactly
/// [`RoundExport::to_bytes`], whose keccak256 a version 2 distributor
/// publishes with the root.
#[utoipa::path(get, path = "/rounds/{n}/export", params(("n" = i64, Path)), responses((status = 200, body = meritree_core::rounds::RoundExport)))]
async fn export_round(
    State(platform): State<Platform>,
    number: Result<Path<i64>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let export = platform.rounds().export(round_number(number)?).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        export.to_bytes(),
    ))
}

pub(super) fn round_number(number: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    number.map(|Path(n)| n).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "a round number is a whole number",
        )
    })
}

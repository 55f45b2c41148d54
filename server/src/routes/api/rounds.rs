//! Settlement rounds over HTTP, public: the list, one round, and the
//! export anyone can check a round's root against.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::rounds::{RoundView, RoundsPage};
use meritree_core::ErrorCode;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::error::ApiError;
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rounds", get(list_rounds))
        .route("/rounds/{n}", get(get_round))
        .route("/rounds/{n}/export", get(export_round))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoundsQuery {
    limit: Option<u32>,
    /// `next_before` from the previous page.
    before: Option<i64>,
}

/// `GET /api/v1/rounds?limit=&before=`: rounds, newest first (`limit` 1 to
/// 100, default 20; pass the response's `next_before` as `before` for
/// older rounds).
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

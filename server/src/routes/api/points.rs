//! The points ledger over HTTP: an account's own balance and history, and
//! admins' postings.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use meritree_core::points::{PointsEntryView, PointsOverview, PointsReason};
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::points::PointsPosting;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user/points", get(my_points))
        .route("/admin/points", post(post_points))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryPage {
    limit: Option<u32>,
    /// `next_before` from the previous page.
    before: Option<i64>,
}

/// `GET /api/v1/user/points?limit=&before=`: the account's balance and its
/// entries, newest first (`limit` 1 to 100, default 20; pass the response's
/// `next_before` as `before` for older entries).
async fn my_points(
    State(platform): State<Platform>,
    Caller(request): Caller,
    page: Result<Query<HistoryPage>, QueryRejection>,
) -> Result<Json<PointsOverview>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    let Query(page) = page.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    Ok(Json(
        platform
            .points()
            .overview(&me.account_id, page.limit, page.before)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPosting {
    account_id: String,
    amount: i64,
    reason: PointsReason,
    #[serde(default)]
    reference: Option<String>,
    idempotency_key: String,
}

/// `POST /api/v1/admin/points` (admins only): posts a ledger entry. 201
/// with the entry when written; 200 with the first entry when the
/// idempotency key was already used for the same posting; 409
/// `idempotency_conflict` when it was used for a different one.
async fn post_points(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<NewPosting>,
) -> Result<(StatusCode, Json<PointsEntryView>), ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let posted = platform
        .points()
        .post_by_admin(
            me.account_id.as_str(),
            PointsPosting {
                account_id: &body.account_id,
                amount: body.amount,
                reason: body.reason,
                reference: body.reference.as_deref(),
                idempotency_key: &body.idempotency_key,
            },
        )
        .await?;
    let status = if posted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(posted.entry)))
}

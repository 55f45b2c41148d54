//! The points ledger over HTTP: an account's own balance and history, and
//! admins' postings.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use meritree_core::points::{PointsEntryView, PointsOverview, PointsReason};
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::points::PointsPosting;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_points))
        .routes(routes!(post_points))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryPage {
    limit: Option<u32>,
    /// `next_before` from the previous page.
    before: Option<i64>,
}

/// `GET /api/v1/user/points?limit=&before=`: the account's balance and its
/// entries, newest first (`limit` 1 to 100, default 20; pass the response's
/// `next_before` as `before` for older entries).
#[utoipa::path(get, path = "/user/points", params(HistoryPage), responses((status = 200, body = PointsOverview)))]
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

#[derive(utoipa::ToSchema, Deserialize)]
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
#[utoipa::path(post, path = "/admin/points", request_body = NewPosting, responses((status = 201, description = "Created", body = PointsEntryView), (status = 200, description = "Already created with this idempotency key", body = PointsEntryView)))]
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

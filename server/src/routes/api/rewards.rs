//! A member's rewards over HTTP.

use axum::extract::State;
use axum::Json;
use meritree_core::rounds::RewardsView;
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(my_rewards))
}

/// `GET /api/v1/user/rewards` (signed in): the points balance still to
/// settle, the points settled in each round, the bound wallet, and its
/// cumulative amount and proof in the newest round with a tree.
#[utoipa::path(get, path = "/user/rewards", responses((status = 200, body = RewardsView)))]
async fn my_rewards(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<RewardsView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.rounds().rewards_of(&me.account_id).await?))
}

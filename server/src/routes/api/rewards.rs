//! A member's rewards over HTTP.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::rounds::RewardsView;
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/user/rewards", get(my_rewards))
}

/// `GET /api/v1/user/rewards` (signed in): the points balance still to
/// settle, the points settled in each round, the bound wallet, and its
/// cumulative amount and proof in the newest round with a tree.
async fn my_rewards(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<RewardsView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.rounds().rewards_of(&me.account_id).await?))
}

//! The JSON API under `/api/v1`. Unknown paths and methods answer with JSON
//! errors, never with the app's HTML.

mod accounts;
mod ai;
mod audit;
mod auth;
mod claims;
mod live;
mod network;
mod nodes;
mod points;
mod rewards;
mod rounds;
mod settlement;
mod submissions;
mod tasks;
mod user;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::status::StatusReport;
use meritree_core::ErrorCode;
use meritree_platform::Platform;

use super::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .nest("/auth", auth::router())
        .nest("/user", user::router())
        .merge(points::router())
        .merge(audit::router())
        .merge(rounds::router())
        .merge(submissions::router())
        .merge(live::router())
        .merge(rewards::router())
        .merge(claims::router())
        .merge(network::router())
        .merge(tasks::router())
        .merge(nodes::router())
        .merge(ai::router())
        .merge(accounts::router())
        .merge(settlement::router())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no API route at this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
}

/// `GET /api/v1/status`: the health of every component, as on `/status`.
async fn status(State(platform): State<Platform>) -> Json<StatusReport> {
    Json(platform.status().await)
}

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
mod notifications;
mod points;
mod rewards;
mod rounds;
mod settlement;
mod submissions;
mod tasks;
mod user;

use axum::extract::State;
use axum::{Json, Router};
use meritree_core::status::StatusReport;
use meritree_platform::Platform;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::tagged;
use super::AppState;

/// The routes, and the OpenAPI description of each (paths relative to
/// `/api/v1`); the caller adds the document's own route and
/// [`crate::error::json_fallbacks`].
pub fn router() -> (Router<AppState>, OpenApi) {
    let (router, document) = OpenApiRouter::new()
        .merge(tagged(
            "status",
            OpenApiRouter::new().routes(routes!(status)),
        ))
        .nest("/auth", tagged("auth", auth::router()))
        .nest("/user", tagged("account", user::router()))
        .merge(tagged("notifications", notifications::router()))
        .merge(tagged("points", points::router()))
        .merge(tagged("audit", audit::router()))
        .merge(tagged("rounds", rounds::router()))
        .merge(tagged("work", submissions::router()))
        .merge(live::router())
        .merge(tagged("rewards", rewards::router()))
        .merge(tagged("claims", claims::router()))
        .merge(tagged("network", network::router()))
        .merge(tagged("tasks", tasks::router()))
        .merge(tagged("nodes", nodes::router()))
        .merge(tagged("ai", ai::router()))
        .merge(tagged("admin", accounts::router()))
        .merge(tagged("chain", settlement::router()))
        .split_for_parts();
    (router, document)
}

/// `GET /api/v1/status`: the health of every component, as on `/status`.
#[utoipa::path(get, path = "/status", responses((status = 200, body = StatusReport)))]
async fn status(State(platform): State<Platform>) -> Json<StatusReport> {
    Json(platform.status().await)
}

//! `/api/v1/user/notifications`: the signed-in member's notification
//! centre and the kinds they want; `/api/v1/user/push-subscriptions`: the
//! browsers their notices are pushed to.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use meritree_core::notifications::{NotificationCentre, NotificationPreferences};
use meritree_core::push::{PushEndpointJson, PushServerKey, PushSubscriptionJson};
use meritree_platform::access::AuthCheck;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(centre))
        .routes(routes!(mark_read))
        .routes(routes!(preferences, set_preferences))
        .routes(routes!(push_key))
        .routes(routes!(subscribe_push, unsubscribe_push))
}

/// `GET /api/v1/user/notifications`: the newest 50 notifications and how
/// many are unread.
#[utoipa::path(get, path = "/user/notifications", responses((status = 200, body = NotificationCentre)))]
async fn centre(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<NotificationCentre>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.notifications().centre(&me.account_id).await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadUpTo {
    /// The newest notification read: it and every older one are marked.
    up_to: i64,
}

/// `POST /api/v1/user/notifications/read` `{"up_to"}`: marks notifications
/// read; the centre after.
#[utoipa::path(post, path = "/user/notifications/read", request_body = ReadUpTo, responses((status = 200, body = NotificationCentre)))]
async fn mark_read(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<ReadUpTo>,
) -> Result<Json<NotificationCentre>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    Ok(Json(
        platform
            .notifications()
            .mark_read(&me.account_id, body.up_to)
            .await?,
    ))
}

/// `GET /api/v1/user/notification-preferences`: the kinds turned off.
#[utoipa::path(get, path = "/user/notification-preferences", responses((status = 200, body = NotificationPreferences)))]
async fn preferences(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<NotificationPreferences>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(
        platform.notifications().preferences(&me.account_id).await?,
    ))
}

/// `PUT /api/v1/user/notification-preferences` `{"muted": [kind, …]}`:
/// turns those kinds off and every other on.
#[utoipa::path(put, path = "/user/notification-preferences", request_body = NotificationPreferences, responses((status = 200, body = NotificationPreferences)))]
async fn set_preferences(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<NotificationPreferences>,
) -> Result<Json<NotificationPreferences>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    Ok(Json(
        platform
            .notifications()
            .set_preferences(&me.account_id, &body)
            .await?,
    ))
}

/// `GET /api/v1/push/key`: the key browsers subscribe to this server's
/// pushes with (`applicationServerKey`).
#[utoipa::path(get, path = "/push/key", responses((status = 200, body = PushServerKey)))]
async fn push_key(State(platform): State<Platform>) -> Json<PushServerKey> {
    Json(platform.push().server_key())
}

/// `POST /api/v1/user/push-subscriptions` (a browser's
/// `PushSubscription.toJSON()`): the member's notices are pushed to that
/// browser from now on.
#[utoipa::path(post, path = "/user/push-subscriptions", request_body = PushSubscriptionJson, responses((status = 204)))]
async fn subscribe_push(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<PushSubscriptionJson>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    platform.push().subscribe(&me, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/user/push-subscriptions` `{"endpoint"}`: no more pushes
/// to that browser.
#[utoipa::path(delete, path = "/user/push-subscriptions", request_body = PushEndpointJson, responses((status = 204)))]
async fn unsubscribe_push(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<PushEndpointJson>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    platform
        .push()
        .unsubscribe(&me.account_id, &body.endpoint)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/user`: the signed-in account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use meritree_core::accounts::AccountView;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::CurrentAccount;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/password", put(change_password))
}

/// `GET /api/v1/user/me`: the signed-in account.
async fn me(
    State(platform): State<Platform>,
    CurrentAccount(claims): CurrentAccount,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(platform.account(&claims.sub).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `PUT /api/v1/user/password`: changes the password (the current one must
/// be given) and ends every other session.
async fn change_password(
    State(platform): State<Platform>,
    CurrentAccount(claims): CurrentAccount,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    platform
        .change_password(
            &claims.sub,
            &claims.sid,
            &body.current_password,
            &body.new_password,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/user`: the signed-in account.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use meritree_core::accounts::AccountView;
use meritree_platform::Platform;
use serde::Deserialize;

use super::auth::{site, SignedMessage};
use crate::auth::csrf::OriginPolicy;
use crate::auth::CurrentAccount;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/password", put(change_password))
        .route("/wallet", post(bind_wallet).delete(unbind_wallet))
        .route("/email", post(add_email))
}

/// `POST /api/v1/user/wallet`: binds the wallet that signed the SIWE
/// message (nonce from `/api/v1/auth/siwe/nonce`) to this account.
async fn bind_wallet(
    State(platform): State<Platform>,
    State(origins): State<OriginPolicy>,
    CurrentAccount(claims): CurrentAccount,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignedMessage>,
) -> Result<Json<AccountView>, ApiError> {
    let site = site(&origins, &headers)?;
    let account = platform
        .bind_wallet(&claims.sub, &body.message, &body.signature, &site)
        .await?;
    Ok(Json(account))
}

/// `DELETE /api/v1/user/wallet`: unbinds the wallet; the account keeps its
/// data. Refused when the wallet is its only way to sign in.
async fn unbind_wallet(
    State(platform): State<Platform>,
    CurrentAccount(claims): CurrentAccount,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(platform.unbind_wallet(&claims.sub).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailLogin {
    email: String,
    password: String,
}

/// `POST /api/v1/user/email`: gives a wallet-only account an email and
/// password to sign in with.
async fn add_email(
    State(platform): State<Platform>,
    CurrentAccount(claims): CurrentAccount,
    ApiJson(body): ApiJson<EmailLogin>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(
        platform
            .add_email_login(&claims.sub, &body.email, &body.password)
            .await?,
    ))
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

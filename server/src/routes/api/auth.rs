//! `/api/v1/auth`: sign-up, sign-in, session refresh, sign-out.

use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use meritree_core::accounts::SessionInfo;
use meritree_platform::accounts::AuthError;
use meritree_platform::sessions::SignedIn;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::cookies::{self, CookiePolicy};
use crate::auth::CurrentAccount;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

/// `POST /api/v1/auth/register`: creates an email + password account and
/// signs it in (201, session cookies set).
async fn register(
    State(platform): State<Platform>,
    State(cookie_policy): State<CookiePolicy>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let signed_in = platform
        .register(&body.email, &body.password, user_agent(&headers))
        .await?;
    Ok((
        StatusCode::CREATED,
        session_response(cookie_policy, signed_in),
    ))
}

/// `POST /api/v1/auth/login`: signs in with email and password.
async fn login(
    State(platform): State<Platform>,
    State(cookie_policy): State<CookiePolicy>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let signed_in = platform
        .sign_in_with_password(&body.email, &body.password, user_agent(&headers))
        .await?;
    Ok(session_response(cookie_policy, signed_in))
}

/// `POST /api/v1/auth/refresh`: exchanges the refresh cookie for a new
/// session (both tokens rotate). A failed refresh clears the cookies.
async fn refresh(
    State(platform): State<Platform>,
    State(cookie_policy): State<CookiePolicy>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, impl IntoResponse> {
    let Some(token) = cookies::get(&headers, cookies::REFRESH) else {
        return Err(cleared(cookie_policy, AuthError::Unauthenticated.into()));
    };
    match platform.refresh_session(token).await {
        Ok(signed_in) => Ok(session_response(cookie_policy, signed_in)),
        Err(err) => Err(cleared(cookie_policy, err.into())),
    }
}

/// `POST /api/v1/auth/logout`: ends this session and clears its cookies.
async fn logout(
    State(platform): State<Platform>,
    State(cookie_policy): State<CookiePolicy>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = cookies::get(&headers, cookies::REFRESH) {
        platform.sign_out(token).await?;
    }
    let mut response_headers = HeaderMap::new();
    cookie_policy.clear_session(&mut response_headers);
    Ok((StatusCode::NO_CONTENT, response_headers))
}

/// `POST /api/v1/auth/logout-all`: ends every session of the signed-in
/// account, on every device.
async fn logout_all(
    State(platform): State<Platform>,
    State(cookie_policy): State<CookiePolicy>,
    CurrentAccount(claims): CurrentAccount,
) -> Result<impl IntoResponse, ApiError> {
    let ended = platform.sign_out_everywhere(&claims.sub).await?;
    tracing::info!(account = %claims.sub, ended, "signed out everywhere");
    let mut response_headers = HeaderMap::new();
    cookie_policy.clear_session(&mut response_headers);
    Ok((StatusCode::NO_CONTENT, response_headers))
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
}

fn session_response(cookie_policy: CookiePolicy, signed_in: SignedIn) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    cookie_policy.set_session(&mut headers, &signed_in.tokens);
    let body = SessionInfo {
        account: signed_in.account,
        access_expires_at: signed_in.tokens.access_expires_at,
        refresh_expires_at: signed_in.tokens.refresh_expires_at,
    };
    (headers, Json(body))
}

fn cleared(cookie_policy: CookiePolicy, error: ApiError) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    cookie_policy.clear_session(&mut headers);
    (headers, error)
}

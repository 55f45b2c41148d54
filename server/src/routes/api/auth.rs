//! `/api/v1/auth`: sign-up, sign-in, session refresh, sign-out.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use meritree_platform::access::{AuthCheck, Proof};
use meritree_platform::accounts::wallet::SiweChallenge;
use meritree_platform::accounts::AuthError;
use meritree_platform::sessions::cookies::{self, CookiePolicy};
use meritree_platform::sessions::{SignedIn, SignedOut};
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(siwe_nonce))
        .routes(routes!(siwe_login))
        .routes(routes!(telegram_login))
        .routes(routes!(reauthenticate))
        .routes(routes!(verify_email))
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailLink {
    token: String,
}

/// `POST /api/v1/auth/verify-email` `{"token"}`: the token from the link
/// sent at sign-up; the account with its address now verified.
#[utoipa::path(post, path = "/verify-email", request_body = EmailLink, responses((status = 200, body = meritree_core::accounts::AccountView)))]
async fn verify_email(
    State(platform): State<Platform>,
    ApiJson(body): ApiJson<EmailLink>,
) -> Result<Json<meritree_core::accounts::AccountView>, ApiError> {
    Ok(Json(platform.accounts().verify_email(&body.token).await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

/// `POST /api/v1/auth/password-reset` `{"email"}`: emails a reset link if
/// the address has an account (202 either way).
#[utoipa::path(post, path = "/password-reset", request_body = ResetRequest, responses((status = 202)))]
async fn request_password_reset(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    platform
        .accounts()
        .request_password_reset(&request, &body.email)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPasswordByLink {
    token: String,
    new_password: String,
}

#[derive(utoipa::ToSchema, serde::Serialize)]
struct PasswordReset {
    revoked_api_keys: Vec<meritree_core::accounts::ApiKeyView>,
}

/// `POST /api/v1/auth/password-reset/confirm` `{"token", "new_password"}`:
/// sets the password, signs every device out and revokes every API key
/// (listed in the answer).
#[utoipa::path(post, path = "/password-reset/confirm", request_body = NewPasswordByLink, responses((status = 200, body = PasswordReset)))]
async fn reset_password(
    State(platform): State<Platform>,
    ApiJson(body): ApiJson<NewPasswordByLink>,
) -> Result<Json<PasswordReset>, ApiError> {
    let revoked_api_keys = platform
        .accounts()
        .reset_password(&body.token, &body.new_password)
        .await?;
    Ok(Json(PasswordReset { revoked_api_keys }))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
    /// Needed when the account has two-factor authentication on.
    totp_code: Option<String>,
}

/// `POST /api/v1/auth/register`: creates an email + password account and
/// signs it in (201, session cookies set).
#[utoipa::path(post, path = "/register", request_body = Credentials, responses((status = 201, body = meritree_core::accounts::SessionInfo, headers(("set-cookie" = String, description = "The session's access and refresh cookies")))))]
async fn register(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let cookie_policy = platform.sessions().cookie_policy();
    let signed_in = platform
        .accounts()
        .register(&request, &body.email, &body.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        session_response(cookie_policy, signed_in),
    ))
}

/// `POST /api/v1/auth/login`: signs in with email and password.
#[utoipa::path(post, path = "/login", request_body = Login, responses((status = 200, body = meritree_core::accounts::SessionInfo, headers(("set-cookie" = String, description = "The session's access and refresh cookies")))))]
async fn login(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<Login>,
) -> Result<impl IntoResponse, ApiError> {
    let cookie_policy = platform.sessions().cookie_policy();
    let signed_in = platform
        .accounts()
        .sign_in_with_password(
            &request,
            &body.email,
            &body.password,
            body.totp_code.as_deref(),
        )
        .await?;
    Ok(session_response(cookie_policy, signed_in))
}

/// `POST /api/v1/auth/siwe/nonce`: a single-use nonce and the fields a
/// Sign-In With Ethereum message for this site must carry.
#[utoipa::path(post, path = "/siwe/nonce", responses((status = 200, body = SiweChallenge)))]
async fn siwe_nonce(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<SiweChallenge>, ApiError> {
    Ok(Json(platform.accounts().siwe_challenge(&request).await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedMessage {
    pub message: String,
    /// 0x-prefixed hex.
    pub signature: String,
    /// For sign-in to an account with two-factor authentication on.
    #[serde(default)]
    pub totp_code: Option<String>,
}

/// `POST /api/v1/auth/siwe/login`: signs in with a wallet-signed SIWE
/// message; the first sign-in of a wallet creates its account.
#[utoipa::path(post, path = "/siwe/login", request_body = SignedMessage, responses((status = 200, body = meritree_core::accounts::SessionInfo, headers(("set-cookie" = String, description = "The session's access and refresh cookies")))))]
async fn siwe_login(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<SignedMessage>,
) -> Result<impl IntoResponse, ApiError> {
    let cookie_policy = platform.sessions().cookie_policy();
    let signed_in = platform
        .accounts()
        .sign_in_with_wallet(
            &request,
            &body.message,
            &body.signature,
            body.totp_code.as_deref(),
        )
        .await?;
    Ok(session_response(cookie_policy, signed_in))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TelegramLaunch {
    /// `Telegram.WebApp.initData`, as the Mini App received it.
    pub init_data: String,
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelegramSignIn {
    /// `Telegram.WebApp.initData`, as the Mini App received it.
    init_data: String,
    /// Without an account linked to this Telegram user: make one (true),
    /// or answer `telegram_not_linked` (false) so the member can sign in to
    /// an account they have and link Telegram to it.
    #[serde(default)]
    create_account: bool,
    /// For sign-in to an account with two-factor authentication on.
    #[serde(default)]
    totp_code: Option<String>,
}

/// `POST /api/v1/auth/telegram/login`: signs in the Telegram user who
/// opened the Mini App, by the launch data Telegram signed for this
/// server's bot (each launch signs in once, within an hour).
#[utoipa::path(post, path = "/telegram/login", request_body = TelegramSignIn, responses((status = 200, body = meritree_core::accounts::SessionInfo, headers(("set-cookie" = String, description = "The session's access and refresh cookies")))))]
async fn telegram_login(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<TelegramSignIn>,
) -> Result<impl IntoResponse, ApiError> {
    let cookie_policy = platform.sessions().cookie_policy();
    let signed_in = platform
        .accounts()
        .sign_in_with_telegram(
            &request,
            &body.init_data,
            body.create_account,
            body.totp_code.as_deref(),
        )
        .await?;
    Ok(session_response(cookie_policy, signed_in))
}

/// `POST /api/v1/auth/reauthenticate` (a signed-in session): proves the
/// account's identity again — `{"method": "password", "password"}`,
/// `{"method": "totp", "code"}` or `{"method": "wallet", "message",
/// "signature"}` — so that for the next ten minutes operations that change
/// credentials or where value goes are allowed (204).
#[utoipa::path(post, path = "/reauthenticate", request_body = Proof, responses((status = 204)))]
async fn reauthenticate(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(proof): ApiJson<Proof>,
) -> Result<StatusCode, ApiError> {
    platform.reauthenticate(&request, proof).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/refresh`: exchanges the refresh cookie for a new
/// session (both tokens rotate). A failed refresh clears the cookies.
#[utoipa::path(post, path = "/refresh", responses((status = 200, body = meritree_core::accounts::SessionInfo, headers(("set-cookie" = String, description = "The session's access and refresh cookies")))))]
async fn refresh(
    State(platform): State<Platform>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, impl IntoResponse> {
    let cookie_policy = platform.sessions().cookie_policy();
    let Some(token) = cookies::get(&headers, cookies::REFRESH) else {
        return Err(cleared(cookie_policy, AuthError::Unauthenticated.into()));
    };
    match platform.sessions().refresh_session(token).await {
        Ok(signed_in) => Ok(session_response(cookie_policy, signed_in)),
        Err(err) => Err(cleared(cookie_policy, err.into())),
    }
}

/// `POST /api/v1/auth/logout`: ends this session and clears its cookies.
#[utoipa::path(post, path = "/logout", responses((status = 204, description = "Signed out; the cookies are cleared")))]
async fn logout(
    State(platform): State<Platform>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let cookie_policy = platform.sessions().cookie_policy();
    if let Some(token) = cookies::get(&headers, cookies::REFRESH) {
        platform.sessions().sign_out(token).await?;
    }
    Ok((StatusCode::NO_CONTENT, cookie_policy.cleared_headers()))
}

/// `POST /api/v1/auth/logout-all` (a signed-in session): ends every
/// session of the account, on every device, and revokes its API keys; the
/// answer lists the revoked keys.
#[utoipa::path(post, path = "/logout-all", responses((status = 200, body = SignedOut)))]
async fn logout_all(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<impl IntoResponse, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let cookie_policy = platform.sessions().cookie_policy();
    let signed_out: SignedOut = platform
        .sessions()
        .sign_out_everywhere(&me.account_id)
        .await?;
    Ok((cookie_policy.cleared_headers(), Json(signed_out)))
}

fn session_response(cookie_policy: CookiePolicy, signed_in: SignedIn) -> impl IntoResponse {
    (
        cookie_policy.session_headers(&signed_in.tokens),
        Json(signed_in.info()),
    )
}

fn cleared(cookie_policy: CookiePolicy, error: ApiError) -> impl IntoResponse {
    (cookie_policy.cleared_headers(), error)
}

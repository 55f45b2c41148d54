//! `/api/v1/user`: the signed-in account.

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use meritree_core::accounts::{
    AccountView, ApiKeyId, ApiKeyView, CreatedApiKey, SessionId, SessionView,
};
use meritree_platform::access::AuthCheck;
use meritree_platform::accounts::api_keys::NewKey;
use meritree_platform::accounts::totp::{RecoveryCodes, TotpSetup};
use meritree_platform::Platform;
use serde::Deserialize;

use super::auth::SignedMessage;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(profile))
        .routes(routes!(billing))
        .routes(routes!(set_handle))
        .routes(routes!(change_password))
        .routes(routes!(bind_wallet, unbind_wallet))
        .routes(routes!(link_telegram, unlink_telegram))
        .routes(routes!(add_email))
        .routes(routes!(resend_verification))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(begin_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(new_recovery_codes))
        .routes(routes!(disable_totp))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
}

/// `GET /api/v1/user/sessions`: the account's signed-in devices; `current`
/// marks the caller's own (none when called with an API key).
#[utoipa::path(get, path = "/sessions", responses((status = 200, body = [SessionView])))]
async fn list_sessions(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    Ok(Json(
        platform
            .sessions()
            .list(&me.account_id, me.session_id())
            .await?,
    ))
}

/// `DELETE /api/v1/user/sessions/{id}`: signs one device out (404 when the
/// session is not this account's or has already ended).
#[utoipa::path(delete, path = "/sessions/{id}", params(("id" = String, Path)), responses((status = 204)))]
async fn end_session(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<SessionId>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    platform
        .sessions()
        .end_account_session(&me.account_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/user/totp`: starts two-factor enrolment; returns the secret
/// and `otpauth://` URI once.
#[utoipa::path(post, path = "/totp", responses((status = 200, body = TotpSetup)))]
async fn begin_totp(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<TotpSetup>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(platform.accounts().begin_totp(&me.account_id).await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpCode {
    code: String,
}

/// `POST /api/v1/user/totp/confirm`: turns two-factor on with a first
/// code; answers its recovery codes, shown this once.
#[utoipa::path(post, path = "/totp/confirm", request_body = TotpCode, responses((status = 200, body = RecoveryCodes)))]
async fn confirm_totp(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(
        platform
            .accounts()
            .confirm_totp(&me.account_id, &body.code)
            .await?,
    ))
}

/// `POST /api/v1/user/totp/recovery-codes` with a current `code`: a new set
/// of recovery codes; the old ones stop working.
#[utoipa::path(post, path = "/totp/recovery-codes", request_body = TotpCode, responses((status = 200, body = RecoveryCodes)))]
async fn new_recovery_codes(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(
        platform
            .accounts()
            .regenerate_recovery_codes(&me.account_id, &body.code)
            .await?,
    ))
}

/// `POST /api/v1/user/totp/disable`: turns two-factor off (not for admins).
#[utoipa::path(post, path = "/totp/disable", request_body = TotpCode, responses((status = 204)))]
async fn disable_totp(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<StatusCode, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    platform
        .accounts()
        .disable_totp(&me.account_id, &body.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/user/api-keys`: the account's live API keys (never the keys themselves).
#[utoipa::path(get, path = "/api-keys", responses((status = 200, body = [ApiKeyView])))]
async fn list_api_keys(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    Ok(Json(platform.accounts().api_keys(&me.account_id).await?))
}

/// `POST /api/v1/user/api-keys` (a session with a fresh proof of identity):
/// creates a key — `{"name", "scopes"?: ["ai", "read", "submit", "node"],
/// "expires_in_days"?}`, default scopes `ai` and `read`, no expiry; the
/// response is the only time the key is shown (201).
#[utoipa::path(post, path = "/api-keys", request_body = NewKey, responses((status = 201, body = CreatedApiKey)))]
async fn create_api_key(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    let created = platform
        .accounts()
        .create_api_key(&me.account_id, body)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `DELETE /api/v1/user/api-keys/{id}`: revokes a key at once.
#[utoipa::path(delete, path = "/api-keys/{id}", params(("id" = String, Path)), responses((status = 204)))]
async fn revoke_api_key(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    platform
        .accounts()
        .revoke_api_key(&me.account_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/user/wallet`: binds the wallet that signed the SIWE
/// message (nonce from `/api/v1/auth/siwe/nonce`) to this account.
#[utoipa::path(post, path = "/wallet", request_body = SignedMessage, responses((status = 200, body = AccountView)))]
async fn bind_wallet(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<SignedMessage>,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    let account = platform
        .accounts()
        .bind_wallet(&me.account_id, &body.message, &body.signature, &request)
        .await?;
    Ok(Json(account))
}

/// `POST /api/v1/user/telegram` `{"init_data"}`: links the Telegram user
/// who opened the Mini App to this account.
#[utoipa::path(post, path = "/telegram", request_body = super::auth::TelegramLaunch, responses((status = 200, body = AccountView)))]
async fn link_telegram(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<super::auth::TelegramLaunch>,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(
        platform
            .accounts()
            .link_telegram(&me.account_id, &body.init_data)
            .await?,
    ))
}

/// `DELETE /api/v1/user/telegram`: unlinks the Telegram user. Refused
/// when Telegram is the account's only way to sign in.
#[utoipa::path(delete, path = "/telegram", responses((status = 200, body = AccountView)))]
async fn unlink_telegram(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(
        platform.accounts().unlink_telegram(&me.account_id).await?,
    ))
}

/// `DELETE /api/v1/user/wallet`: unbinds the wallet; the account keeps its
/// data. Refused when the wallet is its only way to sign in.
#[utoipa::path(delete, path = "/wallet", responses((status = 200, body = AccountView)))]
async fn unbind_wallet(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(
        platform.accounts().unbind_wallet(&me.account_id).await?,
    ))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailLogin {
    email: String,
    password: String,
}

/// `POST /api/v1/user/email`: gives a wallet-only account an email and
/// password to sign in with.
#[utoipa::path(post, path = "/email", request_body = EmailLogin, responses((status = 200, body = AccountView)))]
async fn add_email(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<EmailLogin>,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::session().fresh_proof())
        .await?;
    Ok(Json(
        platform
            .accounts()
            .add_email_login(&me.account_id, &body.email, &body.password)
            .await?,
    ))
}

/// `POST /api/v1/user/email/verification` (a session): sends a new link to
/// confirm the account's email address (202).
#[utoipa::path(post, path = "/email/verification", responses((status = 202)))]
async fn resend_verification(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    platform
        .accounts()
        .resend_verification(&me.account_id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHandle {
    handle: String,
}

/// `PUT /api/v1/user/handle` (a session): chooses or changes the public
/// handle (422 `invalid_handle`, 409 `handle_taken`).
#[utoipa::path(put, path = "/handle", request_body = NewHandle, responses((status = 200, body = AccountView)))]
async fn set_handle(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<NewHandle>,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    Ok(Json(
        platform
            .accounts()
            .set_handle(&me.account_id, &body.handle)
            .await?,
    ))
}

/// `GET /api/v1/user/me`: the signed-in account.
#[utoipa::path(get, path = "/me", responses((status = 200, body = AccountView)))]
async fn me(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<AccountView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.accounts().account(&me.account_id).await?))
}

/// `GET /api/v1/user/profile`: the account, its points and its nodes.
#[utoipa::path(get, path = "/profile", responses((status = 200, body = meritree_core::profile::UserProfile)))]
async fn profile(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<meritree_core::profile::UserProfile>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.profiles().profile(&me).await?))
}

/// `GET /api/v1/user/billing`: this month's AI usage and budgets, and the
/// account's tasks on the compute network.
#[utoipa::path(get, path = "/billing", responses((status = 200, body = meritree_core::profile::Billing)))]
async fn billing(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<meritree_core::profile::Billing>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.profiles().billing(&me).await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(utoipa::ToSchema, serde::Serialize)]
struct PasswordChanged {
    revoked_api_keys: Vec<ApiKeyView>,
}

/// `PUT /api/v1/user/password` (a session): changes the password (the
/// current one must be given), ends every other session and revokes the
/// account's API keys; the answer lists the revoked keys.
#[utoipa::path(put, path = "/password", request_body = PasswordChange, responses((status = 200, body = PasswordChanged)))]
async fn change_password(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let revoked_api_keys = platform
        .accounts()
        .change_password(
            &me.account_id,
            me.session_id(),
            &body.current_password,
            &body.new_password,
        )
        .await?;
    Ok(Json(PasswordChanged { revoked_api_keys }))
}

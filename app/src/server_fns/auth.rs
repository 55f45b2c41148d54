//! Sign-up, sign-in and sign-out from the app's pages. The same platform
//! services as `/api/v1/auth`; sessions travel in the same HttpOnly cookies.

use leptos::prelude::*;
use meritree_core::accounts::{AccountView, SessionInfo};

use super::error::AppError;

/// `POST /api/auth/register`: creates an email + password account and signs in.
#[server(endpoint = "auth/register")]
pub async fn register(email: String, password: String) -> Result<SessionInfo, AppError> {
    let platform = ssr::platform()?;
    let signed_in = platform
        .register(&email, &password, ssr::user_agent().as_deref())
        .await?;
    Ok(ssr::start_session(&platform, signed_in))
}

/// `POST /api/auth/sign_in`: signs in with email and password (and a TOTP
/// code when the account has two-factor authentication on).
#[server(endpoint = "auth/sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    #[server(default)] totp_code: Option<String>,
) -> Result<SessionInfo, AppError> {
    let platform = ssr::platform()?;
    let totp_code = totp_code.filter(|c| !c.trim().is_empty());
    let signed_in = platform
        .sign_in_with_password(
            &email,
            &password,
            totp_code.as_deref(),
            ssr::user_agent().as_deref(),
        )
        .await?;
    Ok(ssr::start_session(&platform, signed_in))
}

/// `POST /api/auth/sign_out`: ends this session and clears its cookies.
#[server(endpoint = "auth/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let platform = ssr::platform()?;
    ssr::end_session(&platform).await
}

/// `POST /api/auth/current_account`: the signed-in account, if any.
#[server(endpoint = "auth/current_account")]
pub async fn current_account() -> Result<Option<AccountView>, AppError> {
    let platform = ssr::platform()?;
    let Some(claims) = ssr::claims(&platform) else {
        return Ok(None);
    };
    match platform.account(&claims.sub).await {
        Ok(account) => Ok(Some(account)),
        Err(meritree_platform::accounts::AuthError::Unauthenticated) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use http::header::USER_AGENT;
    use http::request::Parts;
    use http::HeaderMap;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use meritree_core::accounts::SessionInfo;
    use meritree_core::ErrorCode;
    use meritree_platform::sessions::cookies::{self, ACCESS, REFRESH};
    use meritree_platform::sessions::{AccessClaims, SignedIn};
    use meritree_platform::Platform;

    use crate::server_fns::error::AppError;

    pub fn platform() -> Result<Platform, AppError> {
        use_context::<Platform>().ok_or_else(|| {
            AppError::new(
                ErrorCode::Internal,
                "the platform is not in the request context",
            )
        })
    }

    fn request_headers() -> HeaderMap {
        use_context::<Parts>()
            .map(|p| p.headers)
            .unwrap_or_default()
    }

    pub fn user_agent() -> Option<String> {
        request_headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The access token's claims, if the request carries a valid one.
    pub fn claims(platform: &Platform) -> Option<AccessClaims> {
        let headers = request_headers();
        let token = cookies::get(&headers, ACCESS)?;
        platform.authenticate(token).ok()
    }

    /// The signed-in account's claims, or `unauthenticated`.
    pub fn signed_in(platform: &Platform) -> Result<AccessClaims, AppError> {
        claims(platform)
            .ok_or_else(|| AppError::from(meritree_platform::accounts::AuthError::Unauthenticated))
    }

    fn set_headers(headers: HeaderMap) {
        if let Some(response) = use_context::<ResponseOptions>() {
            for (name, value) in headers.iter() {
                response.append_header(name.clone(), value.clone());
            }
        }
    }

    pub fn start_session(platform: &Platform, signed_in: SignedIn) -> SessionInfo {
        set_headers(platform.cookie_policy().session_headers(&signed_in.tokens));
        signed_in.info()
    }

    pub async fn end_session(platform: &Platform) -> Result<(), AppError> {
        // The refresh cookie is scoped to /api/v1/auth and does not reach
        // this endpoint; the access token names the session instead.
        if let Some(claims) = claims(platform) {
            platform.end_session(&claims.sid).await?;
        } else if let Some(token) = cookies::get(&request_headers(), REFRESH) {
            platform.sign_out(token).await?;
        }
        set_headers(platform.cookie_policy().cleared_headers());
        Ok(())
    }
}

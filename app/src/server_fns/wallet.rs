//! Wallet sign-in and binding from the app's pages: the same platform
//! services as `/api/v1/auth/siwe/*` and `/api/v1/user/wallet`.

use leptos::prelude::*;
use meritree_core::accounts::{AccountView, SessionInfo};
use meritree_core::siwe::SiweChallenge;

use super::error::AppError;

/// `POST /api/wallet/challenge`: a nonce and the fields a SIWE message for
/// this site must carry.
#[server(endpoint = "wallet/challenge")]
pub async fn request_siwe_challenge() -> Result<SiweChallenge, AppError> {
    let platform = super::auth::ssr::platform()?;
    let site = ssr::site(&platform)?;
    Ok(platform.siwe_challenge(&site).await?)
}

/// `POST /api/wallet/sign_in`: signs in with a wallet-signed SIWE message
/// (and a TOTP code when the account has two-factor authentication on).
#[server(endpoint = "wallet/sign_in")]
pub async fn wallet_sign_in(
    message: String,
    signature: String,
    #[server(default)] totp_code: Option<String>,
) -> Result<SessionInfo, AppError> {
    let platform = super::auth::ssr::platform()?;
    let site = ssr::site(&platform)?;
    let totp_code = totp_code.filter(|c| !c.trim().is_empty());
    let signed_in = platform
        .sign_in_with_wallet(
            &message,
            &signature,
            &site,
            totp_code.as_deref(),
            super::auth::ssr::user_agent().as_deref(),
        )
        .await?;
    Ok(super::auth::ssr::start_session(&platform, signed_in))
}

/// `POST /api/wallet/bind`: binds the signing wallet to the signed-in account.
#[server(endpoint = "wallet/bind")]
pub async fn bind_wallet(message: String, signature: String) -> Result<AccountView, AppError> {
    let platform = super::auth::ssr::platform()?;
    let claims = super::auth::ssr::signed_in(&platform)?;
    let site = ssr::site(&platform)?;
    Ok(platform
        .bind_wallet(&claims.sub, &message, &signature, &site)
        .await?)
}

#[cfg(feature = "ssr")]
mod ssr {
    use http::header::HOST;
    use http::request::Parts;
    use leptos::prelude::*;
    use meritree_core::ErrorCode;
    use meritree_platform::accounts::wallet::SiteOrigin;
    use meritree_platform::Platform;

    use crate::server_fns::error::AppError;

    pub fn site(platform: &Platform) -> Result<SiteOrigin, AppError> {
        let parts = use_context::<Parts>();
        let host = parts
            .as_ref()
            .and_then(|p| p.headers.get(HOST))
            .and_then(|h| h.to_str().ok());
        platform.site(host).ok_or_else(|| {
            AppError::new(ErrorCode::InvalidRequest, "the request has no Host header")
        })
    }
}

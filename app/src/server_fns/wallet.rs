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
    use super::door;
    let platform = door::platform()?;
    Ok(platform
        .accounts()
        .siwe_challenge(&door::request(&platform))
        .await?)
}

/// `POST /api/wallet/sign_in`: signs in with a wallet-signed SIWE message
/// (and a TOTP code when the account has two-factor authentication on).
#[server(endpoint = "wallet/sign_in")]
pub async fn wallet_sign_in(
    message: String,
    signature: String,
    #[server(default)] totp_code: Option<String>,
) -> Result<SessionInfo, AppError> {
    use super::door;
    let platform = door::platform()?;
    let signed_in = platform
        .accounts()
        .sign_in_with_wallet(
            &door::request(&platform),
            &message,
            &signature,
            totp_code.as_deref(),
        )
        .await?;
    Ok(door::start_session(&platform, signed_in))
}

/// `POST /api/wallet/bind`: binds the signing wallet to the signed-in
/// account (needs a fresh proof of identity).
#[server(endpoint = "wallet/bind")]
pub async fn bind_wallet(message: String, signature: String) -> Result<AccountView, AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform
        .accounts()
        .bind_wallet(
            &me.account_id,
            &message,
            &signature,
            &door::request(&platform),
        )
        .await?)
}

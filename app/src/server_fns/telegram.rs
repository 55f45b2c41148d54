//! Telegram sign-in and linking from the Mini App (`/tg`): the same
//! platform services as `/api/v1/auth/telegram/login` and
//! `/api/v1/user/telegram`.

use leptos::prelude::*;
use meritree_core::accounts::{AccountView, SessionInfo};

use super::error::AppError;

/// `POST /api/telegram/sign_in`: signs in the Telegram user who opened the
/// Mini App; `create_account` makes an account when none is linked.
#[server(endpoint = "telegram/sign_in")]
pub async fn telegram_sign_in(
    init_data: String,
    #[server(default)] create_account: bool,
    #[server(default)] totp_code: Option<String>,
) -> Result<SessionInfo, AppError> {
    use super::door;
    let platform = door::platform()?;
    let signed_in = platform
        .accounts()
        .sign_in_with_telegram(
            &door::request(&platform),
            &init_data,
            create_account,
            totp_code.as_deref(),
        )
        .await?;
    Ok(door::start_session(&platform, signed_in))
}

/// `POST /api/telegram/link`: links the Telegram user who opened the Mini
/// App to the signed-in account (needs a fresh proof of identity).
#[server(endpoint = "telegram/link")]
pub async fn link_telegram(init_data: String) -> Result<AccountView, AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform
        .accounts()
        .link_telegram(&me.account_id, &init_data)
        .await?)
}

/// `POST /api/telegram/unlink`: unlinks the Telegram user from the
/// signed-in account (needs a fresh proof of identity); refused when
/// Telegram is its only way to sign in.
#[server(endpoint = "telegram/unlink")]
pub async fn unlink_telegram() -> Result<AccountView, AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let (platform, me) = door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform.accounts().unlink_telegram(&me.account_id).await?)
}

//! Two-factor authentication from the account page: the same services as
//! `/api/v1/user/totp`. Each needs a fresh proof of identity.

use leptos::prelude::*;
use meritree_core::totp::{RecoveryCodes, TotpSetup};

use super::error::AppError;

/// `POST /api/totp/begin`: a new secret to put into an authenticator app;
/// two-factor turns on once a code from it is confirmed.
#[server(endpoint = "totp/begin")]
pub async fn begin_totp() -> Result<TotpSetup, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform.accounts().begin_totp(&me.account_id).await?)
}

/// `POST /api/totp/confirm`: turns two-factor on with a first code; its
/// recovery codes come back, shown this once.
#[server(endpoint = "totp/confirm")]
pub async fn confirm_totp(code: String) -> Result<RecoveryCodes, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform
        .accounts()
        .confirm_totp(&me.account_id, &code)
        .await?)
}

/// `POST /api/totp/disable`: turns two-factor off (a current code is needed).
#[server(endpoint = "totp/disable")]
pub async fn disable_totp(code: String) -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform
        .accounts()
        .disable_totp(&me.account_id, &code)
        .await?)
}

/// `POST /api/totp/recovery-codes`: a new set of recovery codes (a current
/// code is needed); the old ones stop working.
#[server(endpoint = "totp/recovery-codes")]
pub async fn new_recovery_codes(code: String) -> Result<RecoveryCodes, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session().fresh_proof()).await?;
    Ok(platform
        .accounts()
        .regenerate_recovery_codes(&me.account_id, &code)
        .await?)
}

//! Email links from the app's pages: the same services as
//! `/api/v1/auth/verify-email`, `/api/v1/auth/password-reset{,/confirm}` and
//! `/api/v1/user/email/verification`.

use leptos::prelude::*;
use meritree_core::accounts::AccountView;

use super::error::AppError;

/// `POST /api/email/verify`: uses the link sent to the address.
#[server(endpoint = "email/verify")]
pub async fn verify_email(token: String) -> Result<AccountView, AppError> {
    Ok(super::door::platform()?
        .accounts()
        .verify_email(&token)
        .await?)
}

/// `POST /api/email/resend`: a new link for the signed-in account's address.
#[server(endpoint = "email/resend")]
pub async fn resend_verification() -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .accounts()
        .resend_verification(&me.account_id)
        .await?)
}

/// `POST /api/email/reset_request`: emails a reset link if the address has
/// an account; answers the same either way.
#[server(endpoint = "email/reset_request")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    use super::door;
    let platform = door::platform()?;
    Ok(platform
        .accounts()
        .request_password_reset(&door::request(&platform), &email)
        .await?)
}

/// `POST /api/email/reset`: sets a new password with the emailed link.
#[server(endpoint = "email/reset")]
pub async fn reset_password(token: String, new_password: String) -> Result<(), AppError> {
    super::door::platform()?
        .accounts()
        .reset_password(&token, &new_password)
        .await?;
    Ok(())
}

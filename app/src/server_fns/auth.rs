//! Sign-up, sign-in and sign-out from the app's pages. The same platform
//! services as `/api/v1/auth`; sessions travel in the same HttpOnly cookies.

use leptos::prelude::*;
use meritree_core::accounts::{AccountView, SessionInfo};

use super::error::AppError;

/// `POST /api/auth/register`: creates an email + password account and signs in.
#[server(endpoint = "auth/register")]
pub async fn register(email: String, password: String) -> Result<SessionInfo, AppError> {
    use super::door;
    let platform = door::platform()?;
    let signed_in = platform
        .accounts()
        .register(&door::request(&platform), &email, &password)
        .await?;
    Ok(door::start_session(&platform, signed_in))
}

/// `POST /api/auth/sign_in`: signs in with email and password (and a TOTP
/// code when the account has two-factor authentication on).
#[server(endpoint = "auth/sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    #[server(default)] totp_code: Option<String>,
) -> Result<SessionInfo, AppError> {
    use super::door;
    let platform = door::platform()?;
    let signed_in = platform
        .accounts()
        .sign_in_with_password(
            &door::request(&platform),
            &email,
            &password,
            totp_code.as_deref(),
        )
        .await?;
    Ok(door::start_session(&platform, signed_in))
}

/// `POST /api/auth/reauthenticate`: proves the account's identity again
/// with the password or a two-factor code, before changing credentials
/// (the same service as `/api/v1/auth/reauthenticate`).
#[server(endpoint = "auth/reauthenticate")]
pub async fn reauthenticate(
    #[server(default)] password: Option<String>,
    #[server(default)] totp_code: Option<String>,
) -> Result<(), AppError> {
    use meritree_core::accounts::IdentityProof;
    use meritree_core::ErrorCode;

    use super::door;
    let given = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    let proof = match (given(password), given(totp_code)) {
        (Some(password), _) => IdentityProof::Password { password },
        (None, Some(code)) => IdentityProof::Totp { code },
        (None, None) => {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "enter your password or a two-factor code",
            ))
        }
    };
    let platform = door::platform()?;
    Ok(platform
        .reauthenticate(&door::request(&platform), proof)
        .await?)
}

/// `POST /api/auth/sign_out`: ends this session and clears its cookies.
#[server(endpoint = "auth/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;

    use super::door;
    let platform = door::platform()?;
    // The refresh cookie is scoped to /api/v1/auth and does not reach this
    // endpoint; the access token names the session instead. Signing out
    // always clears the cookies, whatever state the session is in.
    if let Ok(me) = platform
        .authorize(&door::request(&platform), AuthCheck::session())
        .await
    {
        if let Some(session) = me.session_id() {
            platform.sessions().end_session(session).await?;
        }
    }
    door::clear_session(&platform);
    Ok(())
}

/// `POST /api/auth/set_handle`: chooses or changes the public handle.
#[server(endpoint = "auth/set_handle")]
pub async fn set_handle(handle: String) -> Result<AccountView, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .accounts()
        .set_handle(&me.account_id, &handle)
        .await?)
}

/// `POST /api/auth/current_account`: the signed-in account, if any.
#[server(endpoint = "auth/current_account")]
pub async fn current_account() -> Result<Option<AccountView>, AppError> {
    use meritree_platform::accounts::AuthError;

    use super::door;
    let platform = door::platform()?;
    let Some(me) = platform.optional_caller(&door::request(&platform)).await else {
        return Ok(None);
    };
    match platform.accounts().account(&me.account_id).await {
        Ok(account) => Ok(Some(account)),
        Err(AuthError::Unauthenticated) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

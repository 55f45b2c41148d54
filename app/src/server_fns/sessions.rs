//! Signed-in devices from the account page: the same services as
//! `/api/v1/user/sessions` and `/api/v1/auth/logout-all`.

use leptos::prelude::*;
use meritree_core::accounts::SessionView;

use super::error::AppError;

/// `POST /api/sessions/list`: the account's live sessions, this one marked.
#[server(endpoint = "sessions/list")]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    let platform = super::auth::ssr::platform()?;
    let me = super::auth::ssr::signed_in(&platform)?;
    Ok(platform.sessions(&me.sub, &me.sid).await?)
}

/// `POST /api/sessions/end`: signs another device out.
#[server(endpoint = "sessions/end")]
pub async fn end_other_session(id: String) -> Result<(), AppError> {
    let platform = super::auth::ssr::platform()?;
    let me = super::auth::ssr::signed_in(&platform)?;
    Ok(platform.end_account_session(&me.sub, &id).await?)
}

/// `POST /api/sessions/end_all`: signs every device out, this one included.
#[server(endpoint = "sessions/end_all")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    let platform = super::auth::ssr::platform()?;
    let me = super::auth::ssr::signed_in(&platform)?;
    platform.sign_out_everywhere(&me.sub).await?;
    super::auth::ssr::end_session(&platform).await
}

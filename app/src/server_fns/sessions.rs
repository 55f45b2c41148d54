//! Signed-in devices from the account page: the same services as
//! `/api/v1/user/sessions` and `/api/v1/auth/logout-all`.

use leptos::prelude::*;
use meritree_core::accounts::{SessionId, SessionView};

use super::error::AppError;

/// `POST /api/sessions/list`: the account's live sessions, this one marked.
#[server(endpoint = "sessions/list")]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .sessions()
        .list(&me.account_id, me.session_id())
        .await?)
}

/// `POST /api/sessions/end`: signs another device out.
#[server(endpoint = "sessions/end")]
pub async fn end_other_session(id: SessionId) -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .sessions()
        .end_account_session(&me.account_id, &id)
        .await?)
}

/// `POST /api/sessions/end_all`: signs every device out, this one included,
/// and revokes the account's API keys.
#[server(endpoint = "sessions/end_all")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    platform
        .sessions()
        .sign_out_everywhere(&me.account_id)
        .await?;
    super::door::clear_session(&platform);
    Ok(())
}

//! API keys from the account page: the same services as `/api/v1/user/api-keys`.

use leptos::prelude::*;
use meritree_core::accounts::{ApiKeyId, ApiKeyView, CreatedApiKey};

use super::error::AppError;

/// `POST /api/api_keys/list`: the account's live keys (never the keys themselves).
#[server(endpoint = "api_keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform.accounts().api_keys(&me.account_id).await?)
}

/// `POST /api/api_keys/create`: a new key with the default scopes (`ai`,
/// `read`), shown in this answer only. Needs a fresh proof of identity.
#[server(endpoint = "api_keys/create")]
pub async fn create_api_key(
    name: String,
    #[server(default)] scopes: Option<Vec<String>>,
    #[server(default)] expires_in_days: Option<u32>,
) -> Result<CreatedApiKey, AppError> {
    use meritree_platform::access::AuthCheck;
    use meritree_platform::accounts::api_keys::NewKey;
    let (platform, me) = super::door::authorize(AuthCheck::session().fresh_proof()).await?;
    let new = NewKey {
        name,
        scopes,
        expires_in_days,
    };
    Ok(platform
        .accounts()
        .create_api_key(&me.account_id, new)
        .await?)
}

/// `POST /api/api_keys/revoke`: revokes one of the account's keys at once.
#[server(endpoint = "api_keys/revoke")]
pub async fn revoke_api_key(id: ApiKeyId) -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .accounts()
        .revoke_api_key(&me.account_id, &id)
        .await?)
}

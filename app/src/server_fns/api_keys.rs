//! API keys from the account page: the same services as `/api/v1/user/api-keys`.

use leptos::prelude::*;
use meritree_core::accounts::{ApiKeyView, CreatedApiKey};

use super::error::AppError;

/// `POST /api/api_keys/list`: the account's live keys (never the keys themselves).
#[server(endpoint = "api_keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    let platform = super::auth::ssr::platform()?;
    let me = super::auth::ssr::signed_in(&platform)?;
    Ok(platform.api_keys(&me.sub).await?)
}

/// `POST /api/api_keys/create`: a new key, shown in this answer only.
#[server(endpoint = "api_keys/create")]
pub async fn create_api_key(name: String) -> Result<CreatedApiKey, AppError> {
    let platform = super::auth::ssr::platform()?;
    let me = super::auth::ssr::signed_in(&platform)?;
    Ok(platform.create_api_key(&me.sub, &name).await?)
}

/// `POST /api/api_keys/revoke`: revokes one of the account's keys at once.
#[server(endpoint = "api_keys/revoke")]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    let platform = super::auth::ssr::platform()?;
    let me = super::auth::ssr::signed_in(&platform)?;
    Ok(platform.revoke_api_key(&me.sub, &id).await?)
}

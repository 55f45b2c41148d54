//! API keys: long-lived bearer credentials for programs, one account each.
//!
//! A key is `mt_` plus 256 random bits; the database keeps its SHA-256, so a
//! leaked table yields no usable key.

use meritree_core::accounts::{ApiKeyName, ApiKeyView, CreatedApiKey};
use meritree_store::api_keys::{self as store, ApiKeyRecord, NewApiKey};

use super::AuthError;
use crate::secret::{random_token, token_digest};
use crate::{clock, Platform};

/// Every API key starts with this, which tells it apart from an access token.
pub const KEY_PREFIX: &str = "mt_";
/// An account may hold this many live keys.
pub const MAX_KEYS: usize = 50;

impl Platform {
    pub async fn create_api_key(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<CreatedApiKey, AuthError> {
        let name = ApiKeyName::parse(name).map_err(AuthError::InvalidKeyName)?;
        if store::list(self.db(), account_id).await?.len() >= MAX_KEYS {
            return Err(AuthError::TooManyKeys);
        }
        let key = format!("{KEY_PREFIX}{}", random_token());
        let record = store::insert(
            self.db(),
            NewApiKey {
                id: &uuid::Uuid::new_v4().to_string(),
                account_id,
                name: name.as_str(),
                prefix: &key[..KEY_PREFIX.len() + 6],
                key_hash: &token_digest(&key),
                now: clock::unix_secs(),
            },
        )
        .await?;
        tracing::info!(account = %account_id, key = %record.id, "API key created");
        Ok(CreatedApiKey {
            key,
            api_key: view(record),
        })
    }

    pub async fn api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyView>, AuthError> {
        Ok(store::list(self.db(), account_id)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    pub async fn revoke_api_key(&self, account_id: &str, key_id: &str) -> Result<(), AuthError> {
        if store::revoke(self.db(), account_id, key_id, clock::unix_secs()).await? {
            tracing::info!(account = %account_id, key = %key_id, "API key revoked");
            Ok(())
        } else {
            Err(AuthError::NoSuchKey)
        }
    }
}

fn view(record: ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: record.id,
        name: record.name,
        prefix: record.prefix,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
    }
}

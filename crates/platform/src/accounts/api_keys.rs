//! API keys: long-lived bearer credentials for programs, one account each.
//!
//! A key is `mt_` plus 256 random bits; the database keeps its SHA-256, so a
//! leaked table yields no usable key.

use super::Accounts;
use meritree_core::accounts::{AccountId, ApiKeyId};
use meritree_core::accounts::{
    ApiKeyName, ApiKeyView, ApiScope, CreatedApiKey, MAX_API_KEY_TTL_DAYS,
};
use meritree_store::api_keys::{self as store, ApiKeyRecord, NewApiKey};
use serde::Deserialize;

use super::AuthError;
use crate::clock;
use crate::invalidation::Invalidation;
use crate::notifications::Notice;
use crate::secret::{random_token, token_digest};
use meritree_core::notifications::NotificationKind;

/// Every API key starts with this, which tells it apart from an access token.
pub const KEY_PREFIX: &str = "mt_";
/// An account may hold this many live keys.
pub const MAX_KEYS: usize = 50;

/// A key to create, as its owner asks for it.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// Default: `ai` and `read`. `submit` and `node` only when asked for.
    #[serde(default)]
    #[schema(value_type = Option<Vec<meritree_core::accounts::ApiScope>>)]
    pub scopes: Option<Vec<String>>,
    /// Default: until revoked.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl Accounts<'_> {
    /// Creates a key for the account. The door requires a session with a
    /// fresh proof of identity: a key never mints keys.
    #[tracing::instrument(skip_all)]
    pub async fn create_api_key(
        &self,
        account_id: &AccountId,
        new: NewKey,
    ) -> Result<CreatedApiKey, AuthError> {
        let name = ApiKeyName::parse(&new.name).map_err(AuthError::InvalidKeyName)?;
        let scopes = match &new.scopes {
            None => ApiScope::DEFAULT.to_vec(),
            Some(names) => ApiScope::parse_list(names.iter().map(String::as_str))
                .map_err(AuthError::InvalidRequest)?,
        };
        if scopes.is_empty() {
            return Err(AuthError::InvalidRequest(
                "give the key at least one scope".to_owned(),
            ));
        }
        let now = clock::unix_secs();
        let expires_at = match new.expires_in_days {
            None => None,
            Some(days @ 1..=MAX_API_KEY_TTL_DAYS) => Some(now + i64::from(days) * 86_400),
            Some(_) => {
                return Err(AuthError::InvalidRequest(format!(
                    "expires_in_days is between 1 and {MAX_API_KEY_TTL_DAYS}"
                )))
            }
        };
        if store::list(self.db(), account_id, now).await?.len() >= MAX_KEYS {
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
                scopes: &ApiScope::join(&scopes),
                expires_at,
                now,
            },
        )
        .await?;
        tracing::info!(account = %account_id, key = %record.id, "API key created");
        let notice = Notice::new(
            NotificationKind::Security,
            "New API key",
            format!(
                "An API key named “{}” was created for your account. Not you? Revoke it and sign out everywhere.",
                name.as_str()
            ),
        )
        .linking("/account");
        self.notifications().notify(account_id, notice).await;
        Ok(CreatedApiKey {
            key,
            api_key: view(record),
        })
    }

    pub async fn api_keys(&self, account_id: &AccountId) -> Result<Vec<ApiKeyView>, AuthError> {
        Ok(store::list(self.db(), account_id, clock::unix_secs())
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_key(
        &self,
        account_id: &AccountId,
        key_id: &ApiKeyId,
    ) -> Result<(), AuthError> {
        if store::revoke(self.db(), account_id, key_id, clock::unix_secs()).await? {
            self.invalidate(Invalidation::ApiKeysOf {
                account_id: account_id.to_string(),
            });
            tracing::info!(account = %account_id, key = %key_id, "API key revoked");
            Ok(())
        } else {
            Err(AuthError::NoSuchKey)
        }
    }

    /// Revokes every live key of the account: a password change or "sign
    /// out everywhere" must not leave a program holding the account.
    pub(crate) async fn revoke_all_api_keys(
        &self,
        account_id: &AccountId,
    ) -> Result<Vec<ApiKeyView>, AuthError> {
        let revoked = store::revoke_all(self.db(), account_id, clock::unix_secs()).await?;
        self.invalidate(Invalidation::ApiKeysOf {
            account_id: account_id.to_string(),
        });
        if !revoked.is_empty() {
            tracing::info!(account = %account_id, keys = revoked.len(), "API keys revoked");
        }
        Ok(revoked.into_iter().map(view).collect())
    }
}

/// Scopes as stored; a name this build does not know grants nothing.
pub(crate) fn parse_stored_scopes(stored: &str) -> Vec<ApiScope> {
    stored
        .split_whitespace()
        .filter_map(|name| name.parse().ok())
        .collect()
}

pub(crate) fn view(record: ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        scopes: parse_stored_scopes(&record.scopes),
        expires_at: record.expires_at,
        id: record.id.into(),
        name: record.name,
        prefix: record.prefix,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
    }
}

//! Who is making a request, whatever credential they used.

use meritree_core::accounts::{AccountId, ApiKeyId, ApiScope, Role, SessionId};
use meritree_store::{api_keys, sessions};

use std::time::Instant;

use crate::access::key_cache::CachedKey;
use crate::accounts::api_keys::{parse_stored_scopes, KEY_PREFIX};
use crate::accounts::AuthError;
use crate::secret::token_digest;
use crate::{clock, Platform};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: AccountId,
    pub role: Role,
    pub credential: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (the access token's `sid`).
    Session { id: SessionId },
    /// A program's API key, limited to its scopes.
    ApiKey { id: ApiKeyId, scopes: Vec<ApiScope> },
}

impl Principal {
    pub fn session_id(&self) -> Option<&SessionId> {
        match &self.credential {
            Credential::Session { id } => Some(id),
            Credential::ApiKey { .. } => None,
        }
    }

    pub fn api_key_id(&self) -> Option<&ApiKeyId> {
        match &self.credential {
            Credential::ApiKey { id, .. } => Some(id),
            Credential::Session { .. } => None,
        }
    }
}

impl Platform {
    /// Authenticates a bearer credential: an API key (from the key cache,
    /// else one indexed lookup) or an access token (signature check, no
    /// lookup). What the credential may do is [`Platform::authorize`]'s
    /// business.
    pub(crate) async fn authenticate_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        if token.starts_with(KEY_PREFIX) {
            return self.authenticate_api_key(token).await;
        }
        let claims = self.sessions().authenticate(token)?;
        Ok(Principal {
            account_id: claims.sub.into(),
            role: claims.role,
            credential: Credential::Session {
                id: claims.sid.into(),
            },
        })
    }

    async fn authenticate_api_key(&self, token: &str) -> Result<Principal, AuthError> {
        let digest = token_digest(token);
        let now = clock::unix_secs();
        let max_age = self.freshness().max_age();
        if let Some(hit) = self.key_cache().get(&digest, max_age, now) {
            if hit.record_use {
                self.record_key_use(&hit.principal, now);
            }
            return Ok(hit.principal);
        }
        let generation = self.freshness().generation();
        let read_at = Instant::now();
        let (key, role) = api_keys::authenticate(self.db(), &digest, now)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let principal = Principal {
            account_id: key.account_id.into(),
            role: key_role(&role),
            credential: Credential::ApiKey {
                id: key.id.into(),
                scopes: parse_stored_scopes(&key.scopes),
            },
        };
        // A revocation that landed while this lookup ran must not be
        // undone by caching what it read before.
        self.key_cache().put(
            digest,
            CachedKey {
                principal: principal.clone(),
                expires_at: key.expires_at,
                last_used_at: key.last_used_at,
                fetched: read_at,
            },
            || self.freshness().unchanged_since(generation),
        );
        Ok(principal)
    }

    /// Records a cached key's use off the request's path: "last used" is
    /// for people, and a request must not wait for it.
    fn record_key_use(&self, principal: &Principal, now: i64) {
        let Some(id) = principal.api_key_id() else {
            return;
        };
        let (db, id) = (self.db().clone(), id.to_string());
        tokio::spawn(async move {
            if let Err(error) = api_keys::mark_used(&db, &id, now).await {
                tracing::warn!(%error, key = %id, "an API key's use was not recorded");
            }
        });
    }

    /// The caller as they stand now, looked up by their credential's id: for
    /// a connection that outlives the access token it opened with (a node's
    /// socket), which must end when the sign-in ends, the key is revoked or
    /// the role changes, and not merely because the token expired while the
    /// session lives on. `Unauthenticated` once the credential no longer
    /// holds.
    pub async fn standing(&self, caller: &Principal) -> Result<Principal, AuthError> {
        let now = clock::unix_secs();
        let role = match &caller.credential {
            Credential::ApiKey { id, .. } => api_keys::live_role(self.db(), id.as_str(), now)
                .await?
                .map(|role| key_role(&role)),
            Credential::Session { id } => {
                sessions::live_role(self.db(), id.as_str(), caller.account_id.as_str(), now)
                    .await?
                    .map(|role| role.parse().unwrap_or(Role::Member))
            }
        };
        let role = role.ok_or(AuthError::Unauthenticated)?;
        Ok(Principal {
            role,
            ..caller.clone()
        })
    }
}

/// An API key never carries the admin role: admin work needs a session with
/// two-factor.
fn key_role(stored: &str) -> Role {
    match stored.parse().unwrap_or(Role::Member) {
        Role::Admin => Role::Member,
        other => other,
    }
}

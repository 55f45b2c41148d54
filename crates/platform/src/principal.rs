//! Who is making a request, whatever credential they used.

use meritree_core::accounts::{AccountId, ApiKeyId, ApiScope, Role, SessionId};
use meritree_store::{api_keys, sessions};

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
    /// Authenticates a bearer credential: an API key (`mt_…`, one indexed
    /// lookup) or an access token (signature check, no lookup). What the
    /// credential may do is [`Platform::authorize`]'s business.
    pub(crate) async fn authenticate_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        if token.starts_with(KEY_PREFIX) {
            let (key, role) =
                api_keys::authenticate(self.db(), &token_digest(token), clock::unix_secs())
                    .await?
                    .ok_or(AuthError::Unauthenticated)?;
            return Ok(Principal {
                account_id: key.account_id.into(),
                role: key_role(&role),
                credential: Credential::ApiKey {
                    id: key.id.into(),
                    scopes: parse_stored_scopes(&key.scopes),
                },
            });
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

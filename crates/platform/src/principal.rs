//! Who is making a request, whatever credential they used.

use meritree_core::accounts::Role;
use meritree_store::api_keys;

use crate::accounts::api_keys::KEY_PREFIX;
use crate::accounts::AuthError;
use crate::secret::token_digest;
use crate::{clock, Platform};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub role: Role,
    pub credential: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (the access token's `sid`).
    Session { id: String },
    /// A program's API key.
    ApiKey { id: String },
}

impl Principal {
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { id } => Some(id),
            Credential::ApiKey { .. } => None,
        }
    }
}

impl Platform {
    /// Authenticates a bearer credential: an API key (`mt_…`, one indexed
    /// lookup) or an access token (signature check, no lookup).
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        if token.starts_with(KEY_PREFIX) {
            let (key, role) =
                api_keys::authenticate(self.db(), &token_digest(token), clock::unix_secs())
                    .await?
                    .ok_or(AuthError::Unauthenticated)?;
            return Ok(Principal {
                account_id: key.account_id,
                role: role.parse().unwrap_or(Role::Member),
                credential: Credential::ApiKey { id: key.id },
            });
        }
        let claims = self.authenticate(token)?;
        Ok(Principal {
            account_id: claims.sub,
            role: claims.role,
            credential: Credential::Session { id: claims.sid },
        })
    }
}

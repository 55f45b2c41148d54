//! The front door: every operation that needs a caller passes one
//! [`AuthCheck`] here, whichever door it came through (the JSON API or a
//! page's server function). It turns the request's credential into one
//! [`Principal`], counts the request against the account's rate limit, and
//! refuses what the credential may not do:
//!
//! - an API key does only what its scopes allow ([`ApiScope`]), never
//!   manages credentials or identity, and never acts as an admin;
//! - operations that change credentials or where value goes also need a
//!   fresh proof of identity on the session ([`step_up`]).
//!
//! The per-IP limits on the unauthenticated entry points (registration,
//! sign-in, SIWE nonces) are applied by those services themselves from the
//! same [`RequestContext`], so both doors count alike.

pub mod key_cache;
pub mod limits;
pub mod request;
pub mod site;
pub mod standing;
pub mod step_up;

pub use limits::{LimitPolicy, Rule};
pub use meritree_core::accounts::ApiScope;
pub use request::RequestContext;
pub use site::{Origin, Site};
pub use standing::Standing;
pub use step_up::Proof;

use meritree_core::accounts::{AccountId, Role};

use crate::accounts::AuthError;
use crate::principal::{Credential, Principal};
use crate::Platform;

/// What an operation requires of its caller, declared where the operation
/// is exposed (in the spirit of crates.io's `AuthCheck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct AuthCheck {
    /// `None`: a signed-in session only; `Some(scope)`: a session, or an
    /// API key with this scope.
    key_scope: Option<ApiScope>,
    admin: bool,
    fresh_proof: bool,
}

impl AuthCheck {
    /// A session, or an API key with `scope`.
    pub const fn scope(scope: ApiScope) -> Self {
        Self {
            key_scope: Some(scope),
            admin: false,
            fresh_proof: false,
        }
    }

    /// Reading the caller's own data: a session or a `read` key.
    pub const fn read() -> Self {
        Self::scope(ApiScope::Read)
    }

    /// A signed-in session; no API key (credentials, identity, sessions).
    pub const fn session() -> Self {
        Self {
            key_scope: None,
            admin: false,
            fresh_proof: false,
        }
    }

    /// An admin's signed-in session with a fresh proof of identity: a
    /// stolen admin cookie is not enough, and checking the proof also
    /// checks the session was not ended (a demoted admin's last token).
    pub const fn admin() -> Self {
        Self {
            admin: true,
            fresh_proof: true,
            ..Self::session()
        }
    }

    /// Also a proof of identity on this session within the last
    /// [`step_up::FRESH_FOR_SECS`] (implies a session).
    pub const fn fresh_proof(self) -> Self {
        Self {
            key_scope: None,
            fresh_proof: true,
            ..self
        }
    }
}

impl Platform {
    /// The one authorization step: who is calling, may they do this, and
    /// are they within their rate limit.
    #[tracing::instrument(skip_all)]
    pub async fn authorize(
        &self,
        request: &RequestContext,
        check: AuthCheck,
    ) -> Result<Principal, AuthError> {
        let mut principal = self.authenticate_request(request).await?;
        if principal.session_id().is_some() {
            principal.role = self.standing_of(&principal.account_id).await?.role;
        }
        self.limit(Rule::Api, &principal.account_id).await?;
        match (&principal.credential, check.key_scope) {
            (Credential::Session { .. }, _) => {}
            (Credential::ApiKey { .. }, None) => return Err(AuthError::SessionRequired),
            (Credential::ApiKey { scopes, .. }, Some(scope)) => {
                if !scopes.contains(&scope) {
                    return Err(AuthError::InsufficientScope(scope));
                }
            }
        }
        if check.admin && principal.role != Role::Admin {
            return Err(AuthError::Forbidden("only admins can do this"));
        }
        if check.fresh_proof {
            self.require_fresh_proof(&principal).await?;
        }
        Ok(principal)
    }

    /// The account's standing now: `AccountDisabled` for an account an
    /// admin disabled (API keys of such an account do not authenticate at
    /// all), else its current role, which a role change since the access
    /// token was issued may have changed.
    async fn standing_of(&self, account_id: &AccountId) -> Result<Standing, AuthError> {
        let max_age = self.freshness().max_age();
        let standing = match self.standing_cache().get(account_id.as_str(), max_age) {
            Some(standing) => standing,
            None => {
                let generation = self.freshness().generation();
                let read_at = std::time::Instant::now();
                let (disabled_at, role) = meritree_store::accounts::standing(self.db(), account_id)
                    .await?
                    .ok_or(AuthError::Unauthenticated)?;
                let standing = Standing {
                    disabled: disabled_at.is_some(),
                    role: role.parse().unwrap_or(Role::Member),
                };
                self.standing_cache()
                    .put(account_id.as_str(), standing, read_at, || {
                        self.freshness().unchanged_since(generation)
                    });
                standing
            }
        };
        if standing.disabled {
            return Err(AuthError::AccountDisabled);
        }
        Ok(standing)
    }

    /// The signed-in visitor, if the request carries a live session; for
    /// pages that show more to a signed-in visitor but are public. API keys
    /// are not visitors.
    pub async fn optional_caller(&self, request: &RequestContext) -> Option<Principal> {
        self.authorize(request, AuthCheck::session()).await.ok()
    }

    /// The credential the request carries: an `Authorization: Bearer`
    /// header (an API key or an access token) when present — then the
    /// cookie is never looked at, so a bearer request cannot ride on a
    /// browser's cookie — else the access-token cookie.
    async fn authenticate_request(&self, request: &RequestContext) -> Result<Principal, AuthError> {
        let token = request.credential()?.ok_or(AuthError::Unauthenticated)?;
        self.authenticate_bearer(token).await
    }
}

//! Sessions: a short-lived access token plus a rotating refresh token.
//!
//! Signing in starts a refresh-token family. Each refresh uses the presented
//! token once and issues its successor; a used token presented again means a
//! copy exists, so the whole family is revoked (RFC 6819 §5.2.2.3, OAuth 2.0
//! Security BCP §4.14). Access tokens are stateless and live 15 minutes by
//! default, which bounds how long a revoked session's last token still works.
//!
//! Except within [`REFRESH_REUSE_GRACE_SECS`] of the token's rotation: two
//! tabs refreshing at once both send the same cookie, and a client whose
//! response was lost retries with it. Such a repeat gets a token of its own in
//! the same family; the family's next rotation supersedes every other token,
//! so a copy presented within the window is still caught the next time both
//! holders refresh (see `meritree_store::sessions::rotate`).

pub mod access_token;
pub mod cookies;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use meritree_core::accounts::{AccountId, SessionId};
use meritree_core::accounts::{AccountView, ApiKeyView, SessionInfo, SessionView};
use meritree_store::accounts::{self as store, AccountRecord};
use meritree_store::session_proofs;
use meritree_store::sessions::{self, NewRefreshToken, Rotation};

pub use access_token::{AccessClaims, AccessTokenKey, TokenError};

use crate::accounts::{role_of, view, AuthError};
use crate::clock;
use crate::secret::{random_bytes, random_token, token_digest};

service!(
    /// Sessions: access tokens, refresh rotation, signing out.
    Sessions,
    sessions
);

/// How long after a refresh token's rotation presenting it again counts as
/// a concurrent refresh rather than reuse. Long enough for requests already
/// in flight; short enough that a stolen copy is almost always presented
/// after it.
pub const REFRESH_REUSE_GRACE_SECS: i64 = 10;

/// How long tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// How often a page's live socket checks again that the sign-in or key
    /// it opened with still holds (a socket outlives its access token).
    pub socket_recheck_secs: u64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            socket_recheck_secs: 30,
        }
    }
}

/// What the client keeps: both tokens and when they expire (Unix seconds).
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub issued_at: i64,
    pub access_token: String,
    pub access_expires_at: i64,
    pub refresh_token: String,
    pub refresh_expires_at: i64,
}

/// What "sign out everywhere" ended.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignedOut {
    /// Refresh tokens that were still live.
    pub sessions_ended: u64,
    pub revoked_api_keys: Vec<ApiKeyView>,
}

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account: AccountView,
    pub tokens: SessionTokens,
}

impl SignedIn {
    /// What the client is told; the tokens go in cookies, not here.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            account: self.account.clone(),
            access_expires_at: self.tokens.access_expires_at,
            refresh_expires_at: self.tokens.refresh_expires_at,
        }
    }
}

impl Sessions<'_> {
    /// How session cookies are written for this deployment.
    pub fn cookie_policy(&self) -> cookies::CookiePolicy {
        self.inner.cookie_policy
    }

    /// Checks an access token: signature, algorithm and expiry. No database
    /// round trip.
    pub fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        self.inner
            .access_key
            .verify(access_token, clock::unix_secs())
            .map_err(|err| match err {
                TokenError::Expired => AuthError::TokenExpired,
                _ => AuthError::Unauthenticated,
            })
    }

    pub(crate) async fn start_session(
        &self,
        account: &AccountRecord,
        user_agent: Option<&str>,
    ) -> Result<SessionTokens, AuthError> {
        if account.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        let family_id = uuid::Uuid::new_v4().to_string();
        let refresh_token = random_token();
        let now = clock::unix_secs();
        let refresh_expires_at = now + self.inner.sessions.refresh_ttl_secs;
        sessions::insert(
            self.db(),
            NewRefreshToken {
                token_hash: &token_digest(&refresh_token),
                family_id: &family_id,
                account_id: &account.id,
                user_agent: user_agent.map(|ua| truncate(ua, 256)),
                now,
                expires_at: refresh_expires_at,
            },
        )
        .await?;
        // Signing in is a proof of identity: step-up operations pass for a
        // while without asking again.
        session_proofs::record(self.db(), &family_id, &account.id, now).await?;
        Ok(self.tokens_for(account, family_id, refresh_token, refresh_expires_at, now))
    }

    /// Rotates the refresh token and issues a fresh access token.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_session(&self, refresh_token: &str) -> Result<SignedIn, AuthError> {
        let successor = random_token();
        let now = clock::unix_secs();
        let refresh_expires_at = now + self.inner.sessions.refresh_ttl_secs;
        let rotation = sessions::rotate(
            self.db(),
            &token_digest(refresh_token),
            &token_digest(&successor),
            now,
            refresh_expires_at,
            REFRESH_REUSE_GRACE_SECS,
        )
        .await?;
        let (account_id, family_id) = match rotation {
            Rotation::Rotated {
                account_id,
                family_id,
            } => (account_id, family_id),
            Rotation::Repeated {
                account_id,
                family_id,
            } => {
                tracing::info!(account = %account_id, session = %family_id,
                    "refresh token presented again within the grace window");
                (account_id, family_id)
            }
            Rotation::Reused {
                account_id,
                family_id,
            } => {
                tracing::warn!(account = %account_id, session = %family_id,
                    "refresh token reused: session revoked");
                return Err(AuthError::RefreshTokenReused);
            }
            Rotation::Invalid => return Err(AuthError::Unauthenticated),
        };
        let account = store::find_by_id(self.db(), &account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if account.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        let tokens = self.tokens_for(&account, family_id, successor, refresh_expires_at, now);
        Ok(SignedIn {
            account: view(account),
            tokens,
        })
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are
    /// ignored: signing out is always possible.
    pub async fn sign_out(&self, refresh_token: &str) -> Result<(), AuthError> {
        if let Some(family) = sessions::family_of(self.db(), &token_digest(refresh_token)).await? {
            sessions::revoke_family(self.db(), &family, clock::unix_secs()).await?;
        }
        Ok(())
    }

    /// Ends the session with this id (the access token's `sid`).
    pub async fn end_session(&self, session_id: &SessionId) -> Result<(), AuthError> {
        sessions::revoke_family(self.db(), session_id, clock::unix_secs()).await?;
        Ok(())
    }

    /// The account's live sessions; `current` marks the one with id `current_id`.
    pub async fn list(
        &self,
        account_id: &AccountId,
        current_id: Option<&SessionId>,
    ) -> Result<Vec<SessionView>, AuthError> {
        let live = sessions::list_live(self.db(), account_id, clock::unix_secs()).await?;
        Ok(live
            .into_iter()
            .map(|s| SessionView {
                current: current_id.is_some_and(|id| s.family_id == id.as_str()),
                id: s.family_id.into(),
                started_at: s.started_at,
                last_seen_at: s.last_seen_at,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Ends one of the account's sessions (a device it no longer trusts).
    pub async fn end_account_session(
        &self,
        account_id: &AccountId,
        session_id: &SessionId,
    ) -> Result<(), AuthError> {
        let ended =
            sessions::revoke_account_family(self.db(), account_id, session_id, clock::unix_secs())
                .await?;
        if ended == 0 {
            return Err(AuthError::NoSuchSession);
        }
        Ok(())
    }

    /// Ends every session of the account and revokes its API keys: after
    /// "sign out everywhere" no credential issued before it works. Returns
    /// the revoked keys, so the owner knows which programs need a new one.
    #[tracing::instrument(skip_all)]
    pub async fn sign_out_everywhere(
        &self,
        account_id: &AccountId,
    ) -> Result<SignedOut, AuthError> {
        let sessions_ended =
            sessions::revoke_account(self.db(), account_id, None, clock::unix_secs()).await?;
        let revoked_api_keys = self.accounts().revoke_all_api_keys(account_id).await?;
        tracing::info!(account = %account_id, sessions_ended, "signed out everywhere");
        Ok(SignedOut {
            sessions_ended,
            revoked_api_keys,
        })
    }

    fn tokens_for(
        &self,
        account: &AccountRecord,
        family_id: String,
        refresh_token: String,
        refresh_expires_at: i64,
        now: i64,
    ) -> SessionTokens {
        let access_expires_at = now + self.inner.sessions.access_ttl_secs;
        let access_token = self.inner.access_key.sign(&AccessClaims {
            sub: account.id.clone(),
            role: role_of(account),
            sid: family_id,
            iat: now,
            exp: access_expires_at,
            jti: URL_SAFE_NO_PAD.encode(random_bytes::<12>()),
        });
        SessionTokens {
            issued_at: now,
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at,
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

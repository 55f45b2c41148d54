//! Accounts: registration, password sign-in and password changes.

pub mod admin;
pub mod api_keys;
pub mod email;
mod error;
pub mod password;
pub mod telegram;
pub mod totp;
pub mod wallet;

pub use error::AuthError;
pub(crate) use wallet::wallet_key;

use meritree_core::accounts::{AccountId, SessionId};
use meritree_core::accounts::{AccountView, ApiKeyView, Email, Handle, NewPassword, Role};
use meritree_core::eth::{to_checksum, Address};
use meritree_store::accounts::{self as store, AccountRecord, NewAccount};
use meritree_store::{sessions, StoreError};

use crate::access::{RequestContext, Rule};
use crate::clock;
use crate::notifications::Notice;
use crate::rate_limit::{Decision, RateLimitError};
use crate::sessions::{SessionTokens, SignedIn};
use meritree_core::notifications::NotificationKind;

service!(
    /// Accounts: registration, sign-in with a password or a wallet, credentials (password, email, wallet, two-factor, API keys), admins.
    Accounts,
    accounts
);

impl Accounts<'_> {
    /// Creates an email + password account and signs it in.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        request: &RequestContext,
        email: &str,
        password: &str,
    ) -> Result<SignedIn, AuthError> {
        self.limit(Rule::Register, &request.ip_key()).await?;
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let password =
            NewPassword::parse(password, Some(&email)).map_err(AuthError::WeakPassword)?;
        let hash = password::hash(password.expose().to_owned()).await;
        let id = uuid::Uuid::new_v4().to_string();
        let account = store::insert(
            self.db(),
            NewAccount {
                id: &id,
                email: Some(email.as_str()),
                email_skeleton: Some(&email.skeleton()),
                password_hash: Some(&hash),
                wallet_address: None,
                telegram_id: None,
                role: Role::Member.as_str(),
                now: clock::unix_secs(),
            },
        )
        .await
        .map_err(|err| match err {
            StoreError::Duplicate("email" | "email_skeleton") => AuthError::EmailTaken,
            other => AuthError::Store(other),
        })?;
        tracing::info!(account = %account.id, "account registered");
        self.send_verification(&account.id.as_str().into(), &email)
            .await?;
        self.sign_in_as(account, request).await
    }

    /// Signs in with email and password. Unknown emails and wrong passwords
    /// fail the same way and take the same time.
    ///
    /// The per-email limit counts failures only (a wrong password, or a
    /// wrong TOTP code after the right password), so an attacker's guesses
    /// cannot lock the owner out, and a successful sign-in costs nothing.
    /// Over the limit the password is still verified, because nothing else
    /// tells the owner from a guesser: the right credentials (password, plus
    /// a code when two-factor is on) sign in, and anything else is
    /// `TooManyAttempts`, the same answer whether or not the password was
    /// right. The price, accepted so the owner is never locked out: for an
    /// account without two-factor a guesser spread over many addresses is no
    /// longer slowed by this limit (a right guess signs in whatever the
    /// count), only by the per-IP limit and Argon2's cost. With two-factor on,
    /// over the limit the password alone learns nothing; a guesser who
    /// already has it can try codes at the per-IP rate.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_password(
        &self,
        request: &RequestContext,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
        self.limit(Rule::SignIn, &request.ip_key()).await?;
        let email = Email::parse(email).ok();
        let account = match &email {
            Some(email) => store::find_by_email(self.db(), email.as_str()).await?,
            None => None,
        };
        let stored = account.as_ref().and_then(|a| a.password_hash.clone());
        if !password::verify(password.to_owned(), stored).await {
            if let Some(email) = &email {
                self.count_sign_in_failure(email).await?;
            }
            return Err(AuthError::InvalidCredentials);
        }
        let (Some(account), Some(email)) = (account, email) else {
            return Err(AuthError::InvalidCredentials);
        };
        match self.second_factor(&account, totp_code).await {
            Ok(()) => {}
            // The two-step form's first step, not a failure; but over the
            // limit it would tell that the password was right.
            Err(AuthError::TotpRequired) => {
                self.refuse_over_sign_in_limit(&email).await?;
                return Err(AuthError::TotpRequired);
            }
            Err(AuthError::InvalidTotp) => {
                self.count_sign_in_failure(&email).await?;
                return Err(AuthError::InvalidTotp);
            }
            Err(other) => return Err(other),
        }
        self.sign_in_as(account, request).await
    }

    /// Counts a failed sign-in against the email address, whether or not it
    /// has an account (the answer must not tell); `TooManyAttempts` once the
    /// failures are over the limit.
    async fn count_sign_in_failure(&self, email: &Email) -> Result<(), AuthError> {
        let Some(limit) = &self.inner.sign_in_limit else {
            return Ok(());
        };
        refuse_if_exhausted(limit.limiter.check(&sign_in_key(email), limit.quota).await)
    }

    /// `TooManyAttempts` if the email's failures are over the limit; counts
    /// nothing.
    async fn refuse_over_sign_in_limit(&self, email: &Email) -> Result<(), AuthError> {
        let Some(limit) = &self.inner.sign_in_limit else {
            return Ok(());
        };
        refuse_if_exhausted(limit.limiter.peek(&sign_in_key(email), limit.quota).await)
    }

    /// Chooses (or changes) the account's public handle; `HandleTaken` when
    /// another member has it.
    #[tracing::instrument(skip_all)]
    pub async fn set_handle(
        &self,
        account_id: &AccountId,
        handle: &str,
    ) -> Result<AccountView, AuthError> {
        let handle = Handle::parse(handle).map_err(AuthError::InvalidHandle)?;
        let set = store::set_handle(self.db(), account_id, handle.as_str(), clock::unix_secs())
            .await
            .map_err(|err| match err {
                StoreError::Duplicate(_) => AuthError::HandleTaken,
                other => other.into(),
            })?;
        if !set {
            return Err(AuthError::Unauthenticated);
        }
        self.account(account_id).await
    }

    /// Checks the password of a signed-in account (re-authentication, a
    /// password change): wrong ones count against the account, so a stolen
    /// session cannot guess at the API's rate.
    pub(crate) async fn check_password(
        &self,
        account: &AccountRecord,
        password: &str,
    ) -> Result<(), AuthError> {
        let id = account.id.as_str();
        self.refuse_while_failing(Rule::SecretFailure, id).await?;
        if !password::verify(password.to_owned(), account.password_hash.clone()).await {
            self.count_failure(Rule::SecretFailure, id).await;
            return Err(AuthError::InvalidCredentials);
        }
        Ok(())
    }

    /// Changes the password after checking the current one, ends every
    /// other session of the account and revokes its API keys; returns the
    /// revoked keys, so the owner knows which programs need a new one.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        account_id: &AccountId,
        session_id: Option<&SessionId>,
        current: &str,
        new: &str,
    ) -> Result<Vec<ApiKeyView>, AuthError> {
        let account = store::find_by_id(self.db(), account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        self.check_password(&account, current).await?;
        let email = account.email.as_deref().and_then(|e| Email::parse(e).ok());
        let new = NewPassword::parse(new, email.as_ref()).map_err(AuthError::WeakPassword)?;
        let hash = password::hash(new.expose().to_owned()).await;
        let now = clock::unix_secs();
        store::set_password_hash(self.db(), account_id, &hash, now).await?;
        let ended = sessions::revoke_account(
            self.db(),
            account_id,
            session_id.map(SessionId::as_str),
            now,
        )
        .await?;
        let revoked = self.revoke_all_api_keys(account_id).await?;
        tracing::info!(account = %account_id, other_sessions_ended = ended, "password changed");
        Ok(revoked)
    }

    pub async fn account(&self, account_id: &AccountId) -> Result<AccountView, AuthError> {
        store::find_by_id(self.db(), account_id)
            .await?
            .map(view)
            .ok_or(AuthError::Unauthenticated)
    }

    async fn sign_in_as(
        &self,
        account: AccountRecord,
        request: &RequestContext,
    ) -> Result<SignedIn, AuthError> {
        let tokens: SessionTokens = self
            .sessions()
            .start_session(&account, request.user_agent.as_deref())
            .await?;
        // The device names itself: only its printable start is shown, quoted.
        let device: String = request
            .user_agent
            .as_deref()
            .unwrap_or("unnamed")
            .chars()
            .filter(|c| !c.is_control() && !is_bidi_control(*c))
            .take(120)
            .collect();
        let notice = Notice::new(
            NotificationKind::Security,
            "New sign-in",
            format!("Your account was signed in on a device calling itself “{device}”. Not you? Sign out everywhere and change your password."),
        )
        .linking("/account");
        self.notifications().notify(&account.id, notice).await;
        Ok(SignedIn {
            account: view(account),
            tokens,
        })
    }
}

/// Characters that reorder text on screen (Unicode bidirectional controls).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn sign_in_key(email: &Email) -> String {
    format!("sign-in:email:{}", email.as_str())
}

/// A limiter that cannot decide refuses the attempt, as the per-IP sign-in
/// limit does: it is the defence against guessing.
fn refuse_if_exhausted(decision: Result<Decision, RateLimitError>) -> Result<(), AuthError> {
    match decision {
        Ok(decision) if decision.allowed => Ok(()),
        Ok(decision) => Err(AuthError::TooManyAttempts {
            retry_after: decision.retry_after(),
        }),
        Err(err) => {
            tracing::error!(error = %err, "sign-in limiter unavailable; attempt refused");
            Err(AuthError::TooManyAttempts {
                retry_after: crate::access::limits::LIMITER_AWAY_RETRY,
            })
        }
    }
}

pub(crate) fn role_of(account: &AccountRecord) -> Role {
    // The column's CHECK constraint admits only known roles.
    account.role.parse().unwrap_or(Role::Member)
}

pub(crate) fn view(account: AccountRecord) -> AccountView {
    AccountView {
        role: role_of(&account),
        id: account.id.into(),
        email: account.email,
        // Stored lower-case for lookups; shown checksummed (EIP-55).
        wallet: account.wallet_address.map(|stored| {
            stored
                .parse::<Address>()
                .map(|address| to_checksum(&address))
                .unwrap_or(stored)
        }),
        email_verified: account.email_verified_at.is_some(),
        handle: account.handle,
        totp_enabled: account.totp_enabled_at.is_some(),
        telegram_id: account.telegram_id,
        created_at: account.created_at,
    }
}

//! Accounts: registration, password sign-in and password changes.

pub mod admin;
pub mod api_keys;
mod error;
pub mod password;
pub mod totp;
pub mod wallet;

pub use error::AuthError;

use meritree_core::accounts::{AccountView, Email, NewPassword, Role};
use meritree_core::eth::{to_checksum, Address};
use meritree_store::accounts::{self as store, AccountRecord, NewAccount};
use meritree_store::{sessions, StoreError};

use crate::sessions::{SessionTokens, SignedIn};
use crate::{clock, Platform};

impl Platform {
    /// Creates an email + password account and signs it in.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        user_agent: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
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
                password_hash: Some(&hash),
                wallet_address: None,
                role: Role::Member.as_str(),
                now: clock::unix_secs(),
            },
        )
        .await
        .map_err(|err| match err {
            StoreError::Duplicate("email") => AuthError::EmailTaken,
            other => AuthError::Store(other),
        })?;
        tracing::info!(account = %account.id, "account registered");
        self.sign_in_as(account, user_agent).await
    }

    /// Signs in with email and password. Unknown emails and wrong passwords
    /// fail the same way and take the same time.
    pub async fn sign_in_with_password(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
        let account = match Email::parse(email) {
            Ok(email) => {
                self.count_password_attempt(&email).await?;
                store::find_by_email(self.db(), email.as_str()).await?
            }
            Err(_) => None,
        };
        let stored = account.as_ref().and_then(|a| a.password_hash.clone());
        if !password::verify(password.to_owned(), stored).await {
            return Err(AuthError::InvalidCredentials);
        }
        let account = account.ok_or(AuthError::InvalidCredentials)?;
        self.second_factor(&account, totp_code).await?;
        self.sign_in_as(account, user_agent).await
    }

    /// Counts a password attempt against the email address, whether or not
    /// it has an account (the answer must not tell). A limiter that cannot
    /// decide lets the attempt through, as the per-IP limits do.
    async fn count_password_attempt(&self, email: &Email) -> Result<(), AuthError> {
        let Some(limit) = &self.inner.sign_in_limit else {
            return Ok(());
        };
        let key = format!("sign-in:email:{}", email.as_str());
        match limit.limiter.check(&key, limit.quota).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => Err(AuthError::TooManyAttempts {
                retry_after: decision.retry_after(),
            }),
            Err(err) => {
                tracing::error!(error = %err, "sign-in limiter unavailable; attempt allowed");
                Ok(())
            }
        }
    }

    /// Changes the password after checking the current one, and ends every
    /// other session of the account.
    pub async fn change_password(
        &self,
        account_id: &str,
        session_id: Option<&str>,
        current: &str,
        new: &str,
    ) -> Result<(), AuthError> {
        let account = store::find_by_id(self.db(), account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if !password::verify(current.to_owned(), account.password_hash.clone()).await {
            return Err(AuthError::InvalidCredentials);
        }
        let email = account.email.as_deref().and_then(|e| Email::parse(e).ok());
        let new = NewPassword::parse(new, email.as_ref()).map_err(AuthError::WeakPassword)?;
        let hash = password::hash(new.expose().to_owned()).await;
        let now = clock::unix_secs();
        store::set_password_hash(self.db(), account_id, &hash, now).await?;
        let ended = sessions::revoke_account(self.db(), account_id, session_id, now).await?;
        tracing::info!(account = %account_id, other_sessions_ended = ended, "password changed");
        Ok(())
    }

    pub async fn account(&self, account_id: &str) -> Result<AccountView, AuthError> {
        store::find_by_id(self.db(), account_id)
            .await?
            .map(view)
            .ok_or(AuthError::Unauthenticated)
    }

    async fn sign_in_as(
        &self,
        account: AccountRecord,
        user_agent: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
        let tokens: SessionTokens = self.start_session(&account, user_agent).await?;
        Ok(SignedIn {
            account: view(account),
            tokens,
        })
    }
}

pub(crate) fn role_of(account: &AccountRecord) -> Role {
    // The column's CHECK constraint admits only known roles.
    account.role.parse().unwrap_or(Role::Member)
}

pub(crate) fn view(account: AccountRecord) -> AccountView {
    AccountView {
        role: role_of(&account),
        id: account.id,
        email: account.email,
        // Stored lower-case for lookups; shown checksummed (EIP-55).
        wallet: account.wallet_address.map(|stored| {
            stored
                .parse::<Address>()
                .map(|address| to_checksum(&address))
                .unwrap_or(stored)
        }),
        totp_enabled: account.totp_enabled_at.is_some(),
        created_at: account.created_at,
    }
}

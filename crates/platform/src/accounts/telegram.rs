//! Telegram: signing in from the Mini App with the launch data Telegram
//! signed for our bot, and linking a Telegram user to an account.
//!
//! Launch data is checked completely (signature, age) before anything is
//! looked up, and used up only when the operation is about to succeed, so
//! a refusal the member can fix (a missing two-factor code, "no account
//! yet") lets them retry with the same launch.

use meritree_core::accounts::{AccountId, AccountView, Role};
use meritree_core::telegram::{verify_init_data, VerifiedInitData, MAX_AGE_SECS};
use meritree_store::accounts::{self as store, AccountRecord, Binding, NewAccount};
use meritree_store::{nonces, StoreError};

use super::{Accounts, AuthError};
use crate::access::{RequestContext, Rule};
use crate::clock;
use crate::sessions::SignedIn;

/// The bot whose Mini App this server is: its token signs launch data.
#[derive(Clone)]
pub struct TelegramBot {
    token: String,
}

impl TelegramBot {
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl std::fmt::Debug for TelegramBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramBot(redacted)")
    }
}

impl Accounts<'_> {
    /// Signs in the Telegram user who opened the Mini App. Without an
    /// account linked to them, `create_account` makes one (Telegram is
    /// then its sign-in method); otherwise `TelegramNotLinked`, so that a
    /// member with an account can sign in to it and link Telegram instead.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_telegram(
        &self,
        request: &RequestContext,
        init_data: &str,
        create_account: bool,
        totp_code: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
        self.limit(Rule::SignIn, &request.ip_key()).await?;
        let launch = self.verify_telegram(init_data)?;
        let telegram_id = launch.user.id.get();
        let account = match store::find_by_telegram(self.db(), telegram_id).await? {
            Some(account) => {
                self.second_factor(&account, totp_code).await?;
                self.use_telegram_launch(&launch).await?;
                account
            }
            // Used first: a launch used before creates nothing.
            None if create_account => {
                self.use_telegram_launch(&launch).await?;
                self.create_telegram_account(telegram_id).await?
            }
            None => return Err(AuthError::TelegramNotLinked),
        };
        self.sign_in_as(account, request).await
    }

    /// Links the Telegram user who opened the Mini App to the signed-in
    /// account. The door requires a fresh proof of the account's identity:
    /// the launch data proves only the Telegram user.
    #[tracing::instrument(skip_all)]
    pub async fn link_telegram(
        &self,
        account_id: &AccountId,
        init_data: &str,
    ) -> Result<AccountView, AuthError> {
        let launch = self.verify_telegram(init_data)?;
        let telegram_id = launch.user.id.get();
        if let Some(holder) = store::find_by_telegram(self.db(), telegram_id).await? {
            return Err(if holder.id == account_id.as_str() {
                AuthError::TelegramAlreadyLinked
            } else {
                AuthError::TelegramTaken
            });
        }
        if self.account(account_id).await?.telegram_id.is_some() {
            return Err(AuthError::TelegramAlreadyLinked);
        }
        self.use_telegram_launch(&launch).await?;
        let bound = store::bind_telegram(self.db(), account_id, telegram_id, clock::unix_secs())
            .await
            .map_err(|err| match err {
                StoreError::Duplicate(_) => AuthError::TelegramTaken,
                other => other.into(),
            })?;
        if bound == Binding::AlreadyBound {
            return Err(AuthError::TelegramAlreadyLinked);
        }
        tracing::info!(account = %account_id, "Telegram user linked");
        self.account(account_id).await
    }

    /// Unlinks the Telegram user; refused when Telegram is the account's
    /// only way to sign in.
    #[tracing::instrument(skip_all)]
    pub async fn unlink_telegram(&self, account_id: &AccountId) -> Result<AccountView, AuthError> {
        if !store::unbind_telegram(self.db(), account_id, clock::unix_secs()).await? {
            let account = self.account(account_id).await?;
            return Err(if account.telegram_id.is_none() {
                AuthError::NoTelegram
            } else {
                AuthError::LastSignInMethod
            });
        }
        tracing::info!(account = %account_id, "Telegram user unlinked");
        self.account(account_id).await
    }

    fn verify_telegram(&self, init_data: &str) -> Result<VerifiedInitData, AuthError> {
        let bot = self
            .inner
            .telegram
            .as_ref()
            .ok_or(AuthError::TelegramDisabled)?;
        verify_init_data(init_data, &bot.token, clock::unix_secs()).map_err(AuthError::Telegram)
    }

    /// Each launch signs in or links once; after `MAX_AGE_SECS` it is
    /// refused as stale, so it is remembered that long, and a margin more
    /// for clocks (this check's and the instances') that disagree.
    async fn use_telegram_launch(&self, launch: &VerifiedInitData) -> Result<(), AuthError> {
        const MARGIN_SECS: i64 = 10 * 60;
        let expires_at = launch.auth_date + MAX_AGE_SECS + MARGIN_SECS;
        if nonces::use_telegram_init_data(self.db(), &launch.hash, expires_at, clock::unix_secs())
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::TelegramDataUsed)
        }
    }

    async fn create_telegram_account(&self, telegram_id: i64) -> Result<AccountRecord, AuthError> {
        let id = uuid::Uuid::new_v4().to_string();
        let created = store::insert(
            self.db(),
            NewAccount {
                id: &id,
                email: None,
                email_skeleton: None,
                password_hash: None,
                wallet_address: None,
                telegram_id: Some(telegram_id),
                role: Role::Member.as_str(),
                now: clock::unix_secs(),
            },
        )
        .await;
        match created {
            Ok(account) => {
                tracing::info!(account = %account.id, "Telegram account registered");
                Ok(account)
            }
            // Two first sign-ins raced; the other one created it.
            Err(StoreError::Duplicate("telegram_id")) => {
                store::find_by_telegram(self.db(), telegram_id)
                    .await?
                    .ok_or(AuthError::Unauthenticated)
            }
            Err(other) => Err(other.into()),
        }
    }
}

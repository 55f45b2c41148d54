//! Email addresses proved by a link, and passwords reset the same way.
//!
//! A link carries 256 random bits; the database keeps their SHA-256, the
//! address it was sent to and a short expiry, and only the newest link of
//! each kind works. Reset requests answer the same whether or not the
//! address has an account, and send in the background so the answer's
//! timing does not tell either.

use super::Accounts;
use meritree_core::accounts::AccountId;
use meritree_core::accounts::{AccountView, ApiKeyView, Email, NewPassword};
use meritree_store::accounts as store;
use meritree_store::email_tokens::{self, NewEmailToken, Purpose};
use meritree_store::sessions;

use super::{password, AuthError};
use crate::access::{RequestContext, Rule};
use crate::clock;
use crate::secret::{random_token, token_digest};

/// How long a verification link works.
pub const VERIFY_TTL_SECS: i64 = 24 * 3600;
/// How long a password-reset link works.
pub const RESET_TTL_SECS: i64 = 3600;

impl Accounts<'_> {
    /// Sends a link that proves the account owns `email`. A failure to send
    /// is logged; the member can ask again.
    pub(crate) async fn send_verification(
        &self,
        account_id: &AccountId,
        email: &Email,
    ) -> Result<(), AuthError> {
        let link = self
            .accounts()
            .email_link(account_id, email, Purpose::VerifyEmail, VERIFY_TTL_SECS)
            .await?;
        let body = format!(
            "Confirm that this is your email address for Meritree by opening:\n\n{link}\n\n\
             The link works for 24 hours. If you did not sign up, ignore this message."
        );
        if let Err(err) = self
            .mailer()
            .send(email.as_str(), "Confirm your email address", body)
            .await
        {
            tracing::error!(account = %account_id, error = %err, "verification email not sent");
        }
        Ok(())
    }

    /// Sends a new verification link for the account's unverified address.
    pub async fn resend_verification(&self, account_id: &AccountId) -> Result<(), AuthError> {
        let account = store::find_by_id(self.db(), account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let email = account
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(AuthError::InvalidRequest(
                "this account has no email address".to_owned(),
            ))?;
        if account.email_verified_at.is_some() {
            return Err(AuthError::EmailAlreadyVerified);
        }
        // An inbox is not to be flooded from one account.
        self.limit(Rule::Email, account_id).await?;
        self.limit(Rule::Email, email.as_str()).await?;
        self.send_verification(account_id, &email).await
    }

    /// Uses a verification link: the account's address is proved, if it is
    /// still the address the link was sent to.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(&self, token: &str) -> Result<AccountView, AuthError> {
        let now = clock::unix_secs();
        let (account_id, email) = email_tokens::consume(
            self.db(),
            &token_digest(token.trim()),
            Purpose::VerifyEmail,
            now,
        )
        .await?
        .ok_or(AuthError::EmailLinkInvalid)?;
        if !store::set_email_verified(self.db(), &account_id, &email, now).await? {
            return Err(AuthError::EmailLinkInvalid);
        }
        tracing::info!(account = %account_id, "email verified");
        self.account(&account_id.into()).await
    }

    /// Sends a password-reset link if `email` belongs to an account; answers
    /// the same either way.
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(
        &self,
        request: &RequestContext,
        email: &str,
    ) -> Result<(), AuthError> {
        self.limit(Rule::Email, &request.ip_key()).await?;
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        self.limit(Rule::Email, email.as_str()).await?;
        let platform = self.0.clone();
        tokio::spawn(async move {
            if let Err(err) = platform.accounts().send_reset_link(&email).await {
                tracing::error!(error = %err, "password reset link not sent");
            }
        });
        Ok(())
    }

    async fn send_reset_link(&self, email: &Email) -> Result<(), AuthError> {
        let Some(account) = store::find_by_email(self.db(), email.as_str()).await? else {
            return Ok(());
        };
        let link = self
            .accounts()
            .email_link(
                &account.id.as_str().into(),
                email,
                Purpose::ResetPassword,
                RESET_TTL_SECS,
            )
            .await?;
        let body = format!(
            "Someone asked to reset the password of your Meritree account. To choose a new \
             password, open:\n\n{link}\n\nThe link works for one hour. If it was not you, \
             ignore this message: your password stays as it is."
        );
        self.mailer()
            .send(email.as_str(), "Reset your password", body)
            .await
            .map_err(|e| AuthError::InvalidRequest(e.to_string()))
    }

    /// Uses a reset link: sets the new password, ends every session and
    /// revokes every API key (whoever had them no longer should), and counts
    /// the address as proved. Returns the revoked keys.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<Vec<ApiKeyView>, AuthError> {
        let now = clock::unix_secs();
        // The policy is checked before the link is used up, so a weak
        // password can be corrected with the same link.
        let token_hash = token_digest(token.trim());
        let (account_id, email) =
            email_tokens::find_live(self.db(), &token_hash, Purpose::ResetPassword, now)
                .await?
                .ok_or(AuthError::EmailLinkInvalid)?;
        let parsed_email = Email::parse(&email).ok();
        let password = NewPassword::parse(new_password, parsed_email.as_ref())
            .map_err(AuthError::WeakPassword)?;
        if email_tokens::consume(self.db(), &token_hash, Purpose::ResetPassword, now)
            .await?
            .is_none()
        {
            return Err(AuthError::EmailLinkInvalid);
        }
        let account = store::find_by_id(self.db(), &account_id)
            .await?
            .ok_or(AuthError::EmailLinkInvalid)?;
        if account.email.as_deref() != Some(email.as_str()) {
            return Err(AuthError::EmailLinkInvalid);
        }
        let hash = password::hash(password.expose().to_owned()).await;
        if account.email_verified_at.is_none() {
            // Whoever registered this address before its owner proved it
            // may have bound a wallet, a Telegram user or two-factor of
            // their own: the owner gets the account back without them.
            store::unbind_other_sign_ins(self.db(), &account_id, now).await?;
            meritree_store::totp::disable(self.db(), &account_id).await?;
            tracing::warn!(account = %account_id, "reset of an unverified address: wallet, Telegram and two-factor removed");
        }
        store::set_password_hash(self.db(), &account_id, &hash, now).await?;
        store::set_email_verified(self.db(), &account_id, &email, now).await?;
        let ended = sessions::revoke_account(self.db(), &account_id, None, now).await?;
        let revoked = self
            .revoke_all_api_keys(&account_id.as_str().into())
            .await?;
        tracing::info!(account = %account_id, sessions_ended = ended, "password reset by email");
        Ok(revoked)
    }

    async fn email_link(
        &self,
        account_id: &AccountId,
        email: &Email,
        purpose: Purpose,
        ttl_secs: i64,
    ) -> Result<String, AuthError> {
        let token = random_token();
        let now = clock::unix_secs();
        email_tokens::issue(
            self.db(),
            NewEmailToken {
                token_hash: &token_digest(&token),
                account_id,
                purpose,
                email: email.as_str(),
                now,
                expires_at: now + ttl_secs,
            },
        )
        .await?;
        let page = match purpose {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
        };
        Ok(format!(
            "{}/{page}?token={token}",
            self.site().primary().as_str()
        ))
    }
}

/// Computes the skeleton of addresses stored before skeletons existed. An
/// address that looks like an older account's keeps none (and so blocks
/// nothing); it is logged for the operator.
pub(crate) async fn backfill_skeletons(
    db: &meritree_store::Database,
) -> Result<(), meritree_store::StoreError> {
    loop {
        let missing = store::missing_skeletons(db, 500).await?;
        if missing.is_empty() {
            return Ok(());
        }
        let mut progressed = false;
        for (id, stored) in missing {
            let skeleton = match Email::parse(&stored) {
                Ok(email) => email.skeleton(),
                // Stored addresses were parsed once; keep odd ones unique by id.
                Err(_) => format!("unparsed:{id}"),
            };
            match store::set_skeleton(db, &id, &skeleton).await {
                Ok(()) => progressed = true,
                Err(meritree_store::StoreError::Duplicate(_)) => {
                    tracing::warn!(account = %id, "email looks like another account's; given a placeholder skeleton");
                    store::set_skeleton(db, &id, &format!("confusable:{id}")).await?;
                    progressed = true;
                }
                Err(other) => return Err(other),
            }
        }
        if !progressed {
            return Ok(());
        }
    }
}

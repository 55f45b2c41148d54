//! Operator actions from the command line: creating admins, changing roles.

use super::Accounts;
use crate::audit::CLI_ACTOR;
use meritree_core::accounts::{AccountView, Email, NewPassword, Role};
use meritree_core::audit::AuditAction;
use meritree_store::accounts::{self as store, NewAccount};
use meritree_store::{totp as totp_store, StoreError};

use super::totp::TotpSetup;
use super::{password, view, AuthError};
use crate::clock;
use crate::invalidation::Invalidation;

impl Accounts<'_> {
    /// Creates an admin account with TOTP already enabled; the setup is
    /// returned once for the operator's authenticator app.
    pub async fn create_admin(
        &self,
        email: &str,
        password: &str,
    ) -> Result<(AccountView, TotpSetup), AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let password =
            NewPassword::parse(password, Some(&email)).map_err(AuthError::WeakPassword)?;
        let hash = password::hash(password.expose().to_owned()).await;
        let now = clock::unix_secs();
        let account = store::insert(
            self.db(),
            NewAccount {
                id: &uuid::Uuid::new_v4().to_string(),
                email: Some(email.as_str()),
                email_skeleton: Some(&email.skeleton()),
                password_hash: Some(&hash),
                wallet_address: None,
                role: Role::Admin.as_str(),
                now,
            },
        )
        .await
        .map_err(|err| match err {
            StoreError::Duplicate(_) => AuthError::EmailTaken,
            other => other.into(),
        })?;
        let setup = self
            .enable_new_factor(&account.id, email.as_str(), now)
            .await?;
        tracing::info!(account = %account.id, "admin created");
        let account = store::find_by_id(self.db(), &account.id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        Ok((view(account), setup))
    }

    /// Gives the account with this email a role. Making an admin of an
    /// account without TOTP enrols it and returns the setup.
    pub async fn set_role(
        &self,
        email: &str,
        role: Role,
    ) -> Result<(AccountView, Option<TotpSetup>), AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let account = store::find_by_email(self.db(), email.as_str())
            .await?
            .ok_or(AuthError::NoSuchAccount)?;
        let now = clock::unix_secs();
        let mut setup = None;
        if role == Role::Admin && account.totp_enabled_at.is_none() {
            setup = Some(
                self.enable_new_factor(&account.id, email.as_str(), now)
                    .await?,
            );
        }
        store::set_role_by_email(self.db(), email.as_str(), role.as_str(), now).await?;
        self.invalidate(Invalidation::ApiKeysOf {
            account_id: account.id.clone(),
        });
        // A role change takes effect at the next sign-in.
        meritree_store::sessions::revoke_account(self.db(), &account.id, None, now).await?;
        tracing::info!(account = %account.id, role = role.as_str(), "role changed");
        self.audit()
            .record(
                CLI_ACTOR,
                AuditAction::RoleChanged,
                &account.id,
                Some(serde_json::json!({ "role": account.role })),
                Some(serde_json::json!({ "role": role.as_str() })),
            )
            .await?;
        Ok((self.account(&account.id.as_str().into()).await?, setup))
    }
}

impl Accounts<'_> {
    /// For an operator whose admin (or member) lost the authenticator and
    /// its recovery codes: a member's factor is removed; an admin, who must
    /// keep one, gets a new one, returned once. Either way every session
    /// of the account ends.
    pub async fn reset_totp(&self, email: &str) -> Result<Option<TotpSetup>, AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let account = store::find_by_email(self.db(), email.as_str())
            .await?
            .ok_or(AuthError::NoSuchAccount)?;
        let now = clock::unix_secs();
        totp_store::disable(self.db(), &account.id).await?;
        let setup = match account.role.as_str() == Role::Admin.as_str() {
            true => Some(
                self.enable_new_factor(&account.id, email.as_str(), now)
                    .await?,
            ),
            false => None,
        };
        meritree_store::sessions::revoke_account(self.db(), &account.id, None, now).await?;
        tracing::warn!(account = %account.id, "two-factor reset by an operator");
        self.audit()
            .record(
                CLI_ACTOR,
                AuditAction::TotpReset,
                &account.id,
                Some(serde_json::json!({ "totp": account.totp_enabled_at.is_some() })),
                Some(serde_json::json!({ "totp": setup.is_some(), "sessions": "ended" })),
            )
            .await?;
        Ok(setup)
    }

    /// A new enabled factor with its recovery codes, shown once.
    async fn enable_new_factor(
        &self,
        account_id: &str,
        label: &str,
        now: i64,
    ) -> Result<TotpSetup, AuthError> {
        let (secret, make_setup) = self.new_enabled_secret(account_id);
        totp_store::enable_with_secret(self.db(), account_id, &secret, now).await?;
        let mut setup = make_setup(label);
        setup.recovery_codes = self.new_recovery_codes(account_id).await?.codes;
        Ok(setup)
    }
}

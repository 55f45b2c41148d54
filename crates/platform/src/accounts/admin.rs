//! Operator actions: from the command line (creating admins, changing
//! roles, resetting two-factor) and from the admin console (finding
//! accounts, roles, disabling, ending sessions).

use super::Accounts;
use crate::audit::CLI_ACTOR;
use meritree_core::accounts::{AccountId, AccountView, Email, ManagedAccount, NewPassword, Role};
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
                telegram_id: None,
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
        self.invalidate(Invalidation::AccountStanding {
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

/// Accounts a console search returns at most.
pub const SEARCH_LIMIT: u32 = 50;

/// The console's actions on other accounts. Every one is audited with the
/// acting admin; none may be turned on the admin's own account (an admin
/// cannot lock themselves out or demote themselves by a slip).
impl Accounts<'_> {
    /// Accounts whose email, handle or wallet contains `query`, or whose id
    /// it is; newest first.
    pub async fn search(&self, query: &str) -> Result<Vec<ManagedAccount>, AuthError> {
        let query = query.trim();
        if query.is_empty() || query.chars().count() > 100 {
            return Err(AuthError::InvalidRequest(
                "search for 1 to 100 characters of an email, handle, wallet or id".to_owned(),
            ));
        }
        Ok(store::search(self.db(), query, SEARCH_LIMIT)
            .await?
            .into_iter()
            .map(managed)
            .collect())
    }

    /// Gives `account_id` a role (`member`, `node_operator` or `admin`).
    /// Making an admin needs two-factor on the account already (the command
    /// line enrols it instead). It applies to the account's next request
    /// on every instance, and every session of the account ends.
    pub async fn change_role(
        &self,
        admin: &AccountId,
        account_id: &AccountId,
        role: &str,
    ) -> Result<ManagedAccount, AuthError> {
        let role: Role = role.parse().map_err(|()| {
            AuthError::InvalidRequest("the role is member, node_operator or admin".to_owned())
        })?;
        let account = self.other_account(admin, account_id).await?;
        if role == Role::Admin && account.totp_enabled_at.is_none() {
            return Err(AuthError::InvalidRequest(
                "an admin needs two-factor authentication: the account must turn it on first"
                    .to_owned(),
            ));
        }
        let now = clock::unix_secs();
        store::set_role(self.db(), &account.id, role.as_str(), now).await?;
        // Dropped before anything else can fail: the new role holds on
        // every instance whatever happens next.
        self.invalidate(Invalidation::AccountStanding {
            account_id: account.id.clone(),
        });
        meritree_store::sessions::revoke_account(self.db(), &account.id, None, now).await?;
        self.audit()
            .record(
                admin.as_str(),
                AuditAction::RoleChanged,
                &account.id,
                Some(serde_json::json!({ "role": account.role })),
                Some(serde_json::json!({ "role": role.as_str() })),
            )
            .await?;
        self.managed(account_id).await
    }

    /// Disables `account_id`: it cannot sign in, its sessions end, its API
    /// keys stop (on every instance within a second), and a signed-in
    /// browser of it is refused at its next request.
    pub async fn disable(
        &self,
        admin: &AccountId,
        account_id: &AccountId,
    ) -> Result<ManagedAccount, AuthError> {
        self.set_disabled(admin, account_id, true).await
    }

    /// Lets a disabled account sign in again; its unrevoked API keys work
    /// again.
    pub async fn enable(
        &self,
        admin: &AccountId,
        account_id: &AccountId,
    ) -> Result<ManagedAccount, AuthError> {
        self.set_disabled(admin, account_id, false).await
    }

    /// For an operator at the command line (say, when admins disabled each
    /// other): enables the account with this email, audited as `cli`.
    pub async fn enable_by_email(&self, email: &str) -> Result<ManagedAccount, AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let account = store::find_by_email(self.db(), email.as_str())
            .await?
            .ok_or(AuthError::NoSuchAccount)?;
        self.set_disabled(&CLI_ACTOR.into(), &account.id.as_str().into(), false)
            .await
    }

    async fn set_disabled(
        &self,
        admin: &AccountId,
        account_id: &AccountId,
        disable: bool,
    ) -> Result<ManagedAccount, AuthError> {
        let account = self.other_account(admin, account_id).await?;
        let now = clock::unix_secs();
        store::set_disabled(self.db(), &account.id, disable.then_some(now), now).await?;
        self.invalidate(Invalidation::AccountStanding {
            account_id: account.id.clone(),
        });
        if disable {
            meritree_store::sessions::revoke_account(self.db(), &account.id, None, now).await?;
        }
        tracing::warn!(account = %account.id, %admin, disable, "account standing changed");
        let action = match disable {
            true => AuditAction::AccountDisabled,
            false => AuditAction::AccountEnabled,
        };
        self.audit()
            .record(
                admin.as_str(),
                action,
                &account.id,
                Some(serde_json::json!({ "disabled": account.disabled_at.is_some() })),
                Some(serde_json::json!({ "disabled": disable })),
            )
            .await?;
        self.managed(account_id).await
    }

    /// Ends every session of `account_id` (its API keys stay).
    pub async fn end_sessions_of(
        &self,
        admin: &AccountId,
        account_id: &AccountId,
    ) -> Result<u64, AuthError> {
        let account = self.other_account(admin, account_id).await?;
        let ended = meritree_store::sessions::revoke_account(
            self.db(),
            &account.id,
            None,
            clock::unix_secs(),
        )
        .await?;
        self.audit()
            .record(
                admin.as_str(),
                AuditAction::SessionsEnded,
                &account.id,
                None,
                Some(serde_json::json!({ "sessions": ended })),
            )
            .await?;
        Ok(ended)
    }

    async fn managed(&self, account_id: &AccountId) -> Result<ManagedAccount, AuthError> {
        store::find_by_id(self.db(), account_id)
            .await?
            .map(managed)
            .ok_or(AuthError::NoSuchAccount)
    }

    /// The account an admin acts on: it exists and is not the admin's own.
    async fn other_account(
        &self,
        admin: &AccountId,
        account_id: &AccountId,
    ) -> Result<store::AccountRecord, AuthError> {
        if admin == account_id {
            return Err(AuthError::InvalidRequest(
                "admins cannot do this to their own account".to_owned(),
            ));
        }
        store::find_by_id(self.db(), account_id)
            .await?
            .ok_or(AuthError::NoSuchAccount)
    }
}

fn managed(record: store::AccountRecord) -> ManagedAccount {
    ManagedAccount {
        disabled_at: record.disabled_at,
        account: view(record),
    }
}

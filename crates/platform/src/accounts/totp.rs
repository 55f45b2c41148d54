//! The TOTP second factor: enrolment, verification at sign-in, removal.
//! Optional for everyone, required for admins (enrolled when an admin is
//! created, and never removable while the account is an admin).

use super::Accounts;
use meritree_core::accounts::AccountId;
use meritree_core::accounts::Role;
use meritree_core::totp;
use meritree_store::accounts::AccountRecord;
use meritree_store::totp as store;

use super::AuthError;
use crate::access::Rule;
use crate::clock;
use crate::secret::random_bytes;

pub use meritree_core::totp::TotpSetup;

const ISSUER: &str = "Meritree";

impl Accounts<'_> {
    /// Starts enrolment: a new secret, active once a code from it is confirmed.
    #[tracing::instrument(skip_all)]
    pub async fn begin_totp(&self, account_id: &AccountId) -> Result<TotpSetup, AuthError> {
        let account = self.account(account_id).await?;
        let secret = random_bytes::<{ totp::SECRET_LEN }>();
        if !store::begin_enrolment(self.db(), account_id, &secret).await? {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        let label = account
            .email
            .or(account.wallet)
            .unwrap_or_else(|| account.id.to_string());
        Ok(setup(&label, &secret))
    }

    /// Confirms enrolment with a code from the app.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_totp(&self, account_id: &AccountId, code: &str) -> Result<(), AuthError> {
        let state = store::state(self.db(), account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if state.totp_enabled_at.is_some() {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        let secret = state.totp_secret.ok_or(AuthError::TotpNotEnabled)?;
        let now = clock::unix_secs();
        let step =
            totp::verify(&secret, code, now.max(0) as u64, None).ok_or(AuthError::InvalidTotp)?;
        if !store::enable(self.db(), account_id, step as i64, now).await? {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        tracing::info!(account = %account_id, "TOTP enabled");
        Ok(())
    }

    /// Turns TOTP off (a current code proves the owner asks). Admins keep it.
    #[tracing::instrument(skip_all)]
    pub async fn disable_totp(&self, account_id: &AccountId, code: &str) -> Result<(), AuthError> {
        let account = self.account(account_id).await?;
        if account.role == Role::Admin {
            return Err(AuthError::TotpRequiredForAdmins);
        }
        self.check_totp(account_id, Some(code)).await?;
        store::disable(self.db(), account_id).await?;
        tracing::info!(account = %account_id, "TOTP disabled");
        Ok(())
    }

    /// At sign-in: passes accounts without TOTP; otherwise needs a fresh,
    /// unused code.
    pub(crate) async fn second_factor(
        &self,
        account: &AccountRecord,
        code: Option<&str>,
    ) -> Result<(), AuthError> {
        if account.totp_enabled_at.is_none() {
            return Ok(());
        }
        self.check_totp(&account.id.as_str().into(), code).await
    }

    pub(crate) async fn check_totp(
        &self,
        account_id: &AccountId,
        code: Option<&str>,
    ) -> Result<(), AuthError> {
        self.refuse_while_failing(Rule::SecretFailure, account_id)
            .await?;
        let checked = self.verify_totp(account_id, code).await;
        if matches!(checked, Err(AuthError::InvalidTotp)) {
            self.count_failure(Rule::SecretFailure, account_id).await;
        }
        checked
    }

    async fn verify_totp(
        &self,
        account_id: &AccountId,
        code: Option<&str>,
    ) -> Result<(), AuthError> {
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or(AuthError::TotpRequired)?;
        let state = store::state(self.db(), account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let (Some(secret), Some(_)) = (state.totp_secret, state.totp_enabled_at) else {
            return Err(AuthError::TotpNotEnabled);
        };
        let used = state.totp_last_step.map(|s| s.max(0) as u64);
        let now = clock::unix_secs().max(0) as u64;
        let step = totp::verify(&secret, code, now, used).ok_or(AuthError::InvalidTotp)?;
        if !store::use_step(self.db(), account_id, step as i64).await? {
            return Err(AuthError::InvalidTotp);
        }
        Ok(())
    }
}

pub(crate) fn new_enabled_secret() -> ([u8; totp::SECRET_LEN], impl FnOnce(&str) -> TotpSetup) {
    let secret = random_bytes::<{ totp::SECRET_LEN }>();
    (secret, move |label: &str| setup(label, &secret))
}

fn setup(label: &str, secret: &[u8]) -> TotpSetup {
    TotpSetup {
        secret: totp::base32(secret),
        otpauth_uri: totp::otpauth_uri(ISSUER, label, secret),
    }
}

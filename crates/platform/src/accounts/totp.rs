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
use crate::secret::{random_bytes, token_digest};

pub use meritree_core::totp::{RecoveryCodes, TotpSetup};

const ISSUER: &str = "Meritree";

impl Accounts<'_> {
    /// Starts enrolment: a new secret, active once a code from it is confirmed.
    #[tracing::instrument(skip_all)]
    pub async fn begin_totp(&self, account_id: &AccountId) -> Result<TotpSetup, AuthError> {
        let account = self.account(account_id).await?;
        let secret = random_bytes::<{ totp::SECRET_LEN }>();
        let sealed = self.sealing().seal(&sealing_context(account_id), &secret);
        if !store::begin_enrolment(self.db(), account_id, &sealed).await? {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        let label = account
            .email
            .or(account.wallet)
            .unwrap_or_else(|| account.id.to_string());
        Ok(setup(&label, &secret))
    }

    /// Confirms enrolment with a code from the app; answers the factor's
    /// recovery codes, shown this once.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_totp(
        &self,
        account_id: &AccountId,
        code: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        let state = store::state(self.db(), account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if state.totp_enabled_at.is_some() {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        let secret = self.open_secret(
            account_id,
            &state.totp_secret.ok_or(AuthError::TotpNotEnabled)?,
        )?;
        let now = clock::unix_secs();
        let step =
            totp::verify(&secret, code, now.max(0) as u64, None).ok_or(AuthError::InvalidTotp)?;
        if !store::enable(self.db(), account_id, step as i64, now).await? {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        tracing::info!(account = %account_id, "TOTP enabled");
        self.new_recovery_codes(account_id.as_str()).await
    }

    /// A new set of recovery codes; the old ones stop working. A current
    /// code (or a recovery code) proves the factor: a session and a
    /// password alone must not mint lasting second factors.
    #[tracing::instrument(skip_all)]
    pub async fn regenerate_recovery_codes(
        &self,
        account_id: &AccountId,
        code: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        self.check_totp(account_id, Some(code)).await?;
        tracing::info!(account = %account_id, "TOTP recovery codes replaced");
        self.new_recovery_codes(account_id.as_str()).await
    }

    pub(crate) async fn new_recovery_codes(
        &self,
        account_id: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        let codes: Vec<String> = (0..totp::RECOVERY_CODES)
            .map(|_| totp::format_recovery_code(&random_bytes::<{ totp::RECOVERY_CODE_BYTES }>()))
            .collect();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|code| totp::parse_recovery_code(code))
            .map(|plain| token_digest(&plain))
            .collect();
        store::replace_recovery_codes(self.db(), account_id, &hashes).await?;
        Ok(RecoveryCodes { codes })
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
        if let Some(plain) = totp::parse_recovery_code(code) {
            let used = store::use_recovery_code(
                self.db(),
                account_id,
                &token_digest(&plain),
                clock::unix_secs(),
            )
            .await?;
            if !used {
                return Err(AuthError::InvalidTotp);
            }
            let left = store::recovery_codes_left(self.db(), account_id).await?;
            tracing::warn!(account = %account_id, left, "a TOTP recovery code was used");
            return Ok(());
        }
        let secret = self.open_secret(account_id, &secret)?;
        let used = state.totp_last_step.map(|s| s.max(0) as u64);
        let now = clock::unix_secs().max(0) as u64;
        let step = totp::verify(&secret, code, now, used).ok_or(AuthError::InvalidTotp)?;
        if !store::use_step(self.db(), account_id, step as i64).await? {
            return Err(AuthError::InvalidTotp);
        }
        Ok(())
    }
}

impl Accounts<'_> {
    /// A new enabled factor for `account_id`: the secret as stored (sealed)
    /// and what shows it to its owner once.
    pub(crate) fn new_enabled_secret(
        &self,
        account_id: &str,
    ) -> (Vec<u8>, impl FnOnce(&str) -> TotpSetup) {
        let secret = random_bytes::<{ totp::SECRET_LEN }>();
        let sealed = self.sealing().seal(&sealing_context(account_id), &secret);
        (sealed, move |label: &str| setup(label, &secret))
    }

    fn open_secret(&self, account_id: &AccountId, stored: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.sealing()
            .open(&sealing_context(account_id.as_str()), stored)
            .map(crate::sealing::Opened::into_inner)
            .map_err(|err| AuthError::Store(meritree_store::StoreError::Sealed(err.to_string())))
    }
}

/// What a TOTP secret is sealed for: its account, so it cannot be moved
/// to another.
pub(crate) fn sealing_context(account_id: &str) -> String {
    format!("totp:{account_id}")
}

fn setup(label: &str, secret: &[u8]) -> TotpSetup {
    TotpSetup {
        secret: totp::base32(secret),
        otpauth_uri: totp::otpauth_uri(ISSUER, label, secret),
        recovery_codes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::sealing::{is_sealed, SealingKey};
    use crate::{clock, Platform, PlatformOptions};
    use meritree_core::totp;
    use meritree_store::testing::TestDatabase;
    use meritree_store::{accounts, secrets, totp as store, Backend, Database, PoolOptions};

    const SECRET: &[u8; 20] = b"12345678901234567890";

    #[tokio::test]
    async fn secrets_stored_before_sealing_are_sealed_at_start_and_keep_working() {
        let test_db = TestDatabase::fresh(Backend::Sqlite).await;
        let db = Database::connect(&test_db.target, PoolOptions::default())
            .await
            .unwrap();
        db.migrate().await.unwrap();
        // As an older version stored them: in the clear.
        secrets::get_or_insert(&db, "access_token_hmac", &[7u8; 32], 0)
            .await
            .unwrap();
        accounts::insert(
            &db,
            accounts::NewAccount {
                id: "acct-1",
                email: Some("ada@example.org"),
                email_skeleton: Some("ada@example.org"),
                password_hash: None,
                wallet_address: None,
                telegram_id: None,
                role: "member",
                now: 0,
            },
        )
        .await
        .unwrap();
        store::enable_with_secret(&db, "acct-1", SECRET, 0)
            .await
            .unwrap();

        let key = SealingKey::ephemeral();
        let options = PlatformOptions {
            sealing_key: key.clone(),
            ..PlatformOptions::default()
        };
        let platform = Platform::start(db.clone(), options).await.unwrap();
        let stored = store::state(&db, "acct-1")
            .await
            .unwrap()
            .unwrap()
            .totp_secret
            .unwrap();
        assert!(is_sealed(&stored));
        assert!(!stored.windows(SECRET.len()).any(|w| w == SECRET));
        let access = secrets::get_or_insert(&db, "access_token_hmac", b"", 0)
            .await
            .unwrap();
        assert!(is_sealed(&access));
        assert_eq!(
            key.open("access_token_hmac", &access).unwrap().into_inner(),
            vec![7u8; 32]
        );

        // The owner's authenticator still works.
        let now = clock::unix_secs() as u64;
        let code = totp::format_code(totp::hotp(SECRET, totp::step(now)));
        platform
            .accounts()
            .check_totp(&"acct-1".into(), Some(&code))
            .await
            .unwrap();

        // Another key opens nothing: the platform does not start on it.
        let stranger = PlatformOptions {
            sealing_key: SealingKey::ephemeral(),
            ..PlatformOptions::default()
        };
        assert!(Platform::start(db, stranger).await.is_err());
    }
}

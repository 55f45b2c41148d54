//! Step-up authentication: operations that change credentials or where
//! value goes (binding a wallet, adding an email, two-factor, new API keys)
//! need the session to have proved who it is recently — by signing in, or
//! again with a password, TOTP code or wallet signature. A stolen access
//! cookie alone is then not enough to redirect payouts or lock the owner
//! out.

pub use meritree_core::accounts::IdentityProof as Proof;
use meritree_store::accounts as store;
use meritree_store::session_proofs;

use super::{AuthCheck, RequestContext, Rule};
use crate::accounts::{wallet_key, AuthError};
use crate::principal::Principal;
use crate::{clock, Platform};

/// How long a proof of identity counts as fresh.
pub const FRESH_FOR_SECS: i64 = 10 * 60;

impl Platform {
    /// Proves the signed-in session's identity again; operations that need
    /// a fresh proof then pass for [`FRESH_FOR_SECS`].
    #[tracing::instrument(skip_all)]
    pub async fn reauthenticate(
        &self,
        request: &RequestContext,
        proof: Proof,
    ) -> Result<(), AuthError> {
        let me = self.authorize(request, AuthCheck::session()).await?;
        // Guessing a password here costs as much as at sign-in.
        self.limit(Rule::SignIn, &request.ip_key()).await?;
        let account = store::find_by_id(self.db(), &me.account_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        match proof {
            Proof::Password { password } => {
                self.accounts().check_password(&account, &password).await?
            }
            Proof::Totp { code } => {
                self.accounts()
                    .check_totp(&me.account_id, Some(&code))
                    .await?
            }
            Proof::Wallet { message, signature } => {
                let signer = self
                    .accounts()
                    .prove_wallet(&message, &signature, request)
                    .await?;
                if account.wallet_address.as_deref() != Some(wallet_key(&signer).as_str()) {
                    return Err(AuthError::Forbidden(
                        "sign with the wallet bound to this account",
                    ));
                }
            }
        }
        self.record_proof(&me).await?;
        tracing::info!(account = %me.account_id, "identity proved again");
        Ok(())
    }

    /// Notes that the principal's session has just proved its identity.
    pub(crate) async fn record_proof(&self, principal: &Principal) -> Result<(), AuthError> {
        let session = principal.session_id().ok_or(AuthError::SessionRequired)?;
        session_proofs::record(
            self.db(),
            session,
            &principal.account_id,
            clock::unix_secs(),
        )
        .await?;
        Ok(())
    }

    /// Refuses unless the principal's session proved its identity within
    /// [`FRESH_FOR_SECS`] and is still live.
    pub(crate) async fn require_fresh_proof(&self, principal: &Principal) -> Result<(), AuthError> {
        let session = principal.session_id().ok_or(AuthError::SessionRequired)?;
        let now = clock::unix_secs();
        match session_proofs::proved_at(self.db(), session, &principal.account_id, now).await? {
            Some(at) if now - at <= FRESH_FOR_SECS => Ok(()),
            _ => Err(AuthError::ReauthenticationRequired),
        }
    }
}

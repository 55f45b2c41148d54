//! Wallets: Sign-In With Ethereum (EIP-4361) and binding a wallet to an
//! account.
//!
//! Every wallet proof is a SIWE message the server issued the nonce for,
//! checked against this site's domain, origin and chain, signed by the
//! wallet: EIP-191 recovery for keys, and for contract wallets (EIP-1271)
//! the wallet's own `isValidSignature` through the chain RPC, when one is
//! configured.

use super::Accounts;
use meritree_core::accounts::AccountId;
use meritree_core::accounts::{AccountView, Email, NewPassword, Role};
use meritree_core::eth::{parse_signature_hex, personal_sign_hash, Address};
pub use meritree_core::siwe::SiweChallenge;
use meritree_core::siwe::{verify_signed_message, Expectations, SiweError, SiweMessage};
use meritree_store::accounts::{self as store, Binding, NewAccount};
use meritree_store::{nonces, StoreError};
use time::OffsetDateTime;

use super::{password, AuthError};
use crate::access::{RequestContext, Rule};
use crate::clock;
use crate::sessions::SignedIn;

/// How long an issued nonce can be used.
const NONCE_TTL_SECS: i64 = 10 * 60;
/// The one line a Meritree sign-in message asks the user to agree to.
pub const STATEMENT: &str = "Sign in to Meritree.";

impl Accounts<'_> {
    /// Issues a single-use nonce for this site (one of its configured
    /// origins, never the request's `Host` as such) and the fields the
    /// message must carry.
    pub async fn siwe_challenge(
        &self,
        request: &RequestContext,
    ) -> Result<SiweChallenge, AuthError> {
        self.limit(Rule::Nonce, &request.ip_key()).await?;
        let origin = self.site().for_host(request.host.as_deref());
        let nonce = alphanumeric_nonce();
        let now = clock::unix_secs();
        let expires_at = now + NONCE_TTL_SECS;
        nonces::issue(self.db(), &nonce, origin.domain(), now, expires_at).await?;
        Ok(SiweChallenge {
            nonce,
            domain: origin.domain().to_owned(),
            uri: origin.as_str().to_owned(),
            chain_id: self.inner.chain_id,
            statement: STATEMENT.to_owned(),
            expires_at,
        })
    }

    /// Signs in with a wallet; creates a wallet-only account the first time.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_with_wallet(
        &self,
        request: &RequestContext,
        message: &str,
        signature: &str,
        totp_code: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
        self.limit(Rule::SignIn, &request.ip_key()).await?;
        let wallet = self.prove_wallet(message, signature, request).await?;
        let wallet = wallet_key(&wallet);
        let account = match store::find_by_wallet(self.db(), &wallet).await? {
            Some(account) => account,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let created = store::insert(
                    self.db(),
                    NewAccount {
                        id: &id,
                        email: None,
                        email_skeleton: None,
                        password_hash: None,
                        wallet_address: Some(&wallet),
                        telegram_id: None,
                        role: Role::Member.as_str(),
                        now: clock::unix_secs(),
                    },
                )
                .await;
                match created {
                    Ok(account) => {
                        tracing::info!(account = %account.id, "wallet account registered");
                        account
                    }
                    // Two first sign-ins raced; the other one created it.
                    Err(StoreError::Duplicate("wallet_address")) => {
                        store::find_by_wallet(self.db(), &wallet)
                            .await?
                            .ok_or(AuthError::Unauthenticated)?
                    }
                    Err(other) => return Err(other.into()),
                }
            }
        };
        self.second_factor(&account, totp_code).await?;
        self.sign_in_as(account, request).await
    }

    /// Binds the signing wallet to the account. The door requires a fresh
    /// proof of the account's identity: the wallet's signature proves only
    /// the wallet.
    #[tracing::instrument(skip_all)]
    pub async fn bind_wallet(
        &self,
        account_id: &AccountId,
        message: &str,
        signature: &str,
        request: &RequestContext,
    ) -> Result<AccountView, AuthError> {
        let wallet = self.prove_wallet(message, signature, request).await?;
        let bound = store::bind_wallet(
            self.db(),
            account_id,
            &wallet_key(&wallet),
            clock::unix_secs(),
        )
        .await
        .map_err(|err| match err {
            StoreError::Duplicate(_) => AuthError::WalletTaken,
            other => other.into(),
        })?;
        if bound == Binding::AlreadyBound {
            return Err(AuthError::WalletAlreadyBound);
        }
        tracing::info!(account = %account_id, "wallet bound");
        self.account(account_id).await
    }

    /// Unbinds the wallet; the account keeps its data and history. Refused
    /// when the wallet is the account's only way to sign in.
    #[tracing::instrument(skip_all)]
    pub async fn unbind_wallet(&self, account_id: &AccountId) -> Result<AccountView, AuthError> {
        if !store::unbind_wallet(self.db(), account_id, clock::unix_secs()).await? {
            let account = self.account(account_id).await?;
            return Err(if account.wallet.is_none() {
                AuthError::NoWallet
            } else {
                AuthError::LastSignInMethod
            });
        }
        tracing::info!(account = %account_id, "wallet unbound");
        self.account(account_id).await
    }

    /// Gives a wallet-only account an email and password.
    #[tracing::instrument(skip_all)]
    pub async fn add_email_login(
        &self,
        account_id: &AccountId,
        email: &str,
        password: &str,
    ) -> Result<AccountView, AuthError> {
        let email = Email::parse(email).map_err(AuthError::InvalidEmail)?;
        let password =
            NewPassword::parse(password, Some(&email)).map_err(AuthError::WeakPassword)?;
        let hash = password::hash(password.expose().to_owned()).await;
        let added = store::add_email_login(
            self.db(),
            account_id,
            email.as_str(),
            &email.skeleton(),
            &hash,
            clock::unix_secs(),
        )
        .await
        .map_err(|err| match err {
            StoreError::Duplicate(_) => AuthError::EmailTaken,
            other => other.into(),
        })?;
        if !added {
            return Err(AuthError::EmailAlreadySet);
        }
        self.send_verification(account_id, &email).await?;
        self.account(account_id).await
    }

    /// Checks a signed SIWE message completely — it must name this site,
    /// and its nonce must have been issued for that same site — and uses up
    /// its nonce.
    pub(crate) async fn prove_wallet(
        &self,
        message: &str,
        signature: &str,
        request: &RequestContext,
    ) -> Result<Address, AuthError> {
        let origin = self.site().for_host(request.host.as_deref());
        let signature = parse_signature_hex(signature)
            .map_err(|e| AuthError::Siwe(SiweError::InvalidSignature(e)))?;
        let nonce = message
            .lines()
            .find_map(|line| line.strip_prefix("Nonce: "))
            .unwrap_or_default();
        let now = OffsetDateTime::from_unix_timestamp(clock::unix_secs())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let expected = Expectations {
            domain: origin.domain(),
            origin: origin.as_str(),
            chain_id: self.inner.chain_id,
            nonce,
            now,
        };
        let proven = match verify_signed_message(message, &signature, &expected) {
            Ok(proven) => proven,
            Err(err @ (SiweError::SignerMismatch { .. } | SiweError::InvalidSignature(_))) => self
                .accounts()
                .prove_contract_wallet(message, &signature, &expected)
                .await?
                .ok_or(AuthError::Siwe(err))?,
            Err(err) => return Err(AuthError::Siwe(err)),
        };
        // Last, so a bad message does not burn the nonce of a good retry.
        if !nonces::consume(
            self.db(),
            &proven.nonce,
            origin.domain(),
            clock::unix_secs(),
        )
        .await?
        {
            return Err(AuthError::SiweNonceInvalid);
        }
        Ok(proven.address)
    }
}

impl Accounts<'_> {
    /// The message, if its address is a contract wallet that accepts the
    /// signature (EIP-1271). `None` without a chain, or when it refuses.
    async fn prove_contract_wallet(
        &self,
        message: &str,
        signature: &[u8],
        expected: &Expectations<'_>,
    ) -> Result<Option<SiweMessage>, AuthError> {
        let Some(chain) = &self.inner.chain else {
            return Ok(None);
        };
        // Everything but the signature was checked before the signer was; redo
        // it on the parsed message rather than trust that order.
        let parsed: SiweMessage = message.parse().map_err(AuthError::Siwe)?;
        parsed.verify(expected).map_err(AuthError::Siwe)?;
        let valid = chain
            .is_valid_eip1271_signature(
                parsed.address,
                personal_sign_hash(message.as_bytes()),
                signature,
            )
            .await
            .map_err(|err| AuthError::ChainUnavailable(err.to_string()))?;
        Ok(valid.then_some(parsed))
    }
}

/// How wallets are stored: lower-case hex, so lookups ignore checksum case.
pub(crate) fn wallet_key(address: &Address) -> String {
    format!("{address:#x}")
}

/// 17 characters from [0-9A-Za-z] (about 101 bits), EIP-4361's nonce alphabet.
fn alphanumeric_nonce() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // Bytes of 248 and above are dropped so that `% 62` stays uniform.
    const LIMIT: u8 = 248;
    let mut nonce = String::with_capacity(17);
    while nonce.len() < 17 {
        for byte in crate::secret::random_bytes::<32>() {
            if byte < LIMIT && nonce.len() < 17 {
                nonce.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_alphanumeric_and_distinct() {
        let (a, b) = (alphanumeric_nonce(), alphanumeric_nonce());
        assert_eq!(a.len(), 17);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}

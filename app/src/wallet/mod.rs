//! What the pages need from wallets in the browser: the embedded wallet (a
//! key made in this browser, sealed under a passphrase) and extension
//! wallets found through EIP-6963 or `window.ethereum`.
//!
//! The implementation is browser code and lives in the `frontend` crate,
//! which installs it when the client starts ([`install`]). The server never
//! has one: there the flows answer that they need the loaded page.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use meritree_core::accounts::{AccountView, SessionInfo};
use meritree_core::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::server_fns::error::AppError;

/// Browser futures are not `Send`: they hold JavaScript values.
pub type WalletFuture<T> = Pin<Box<dyn Future<Output = Result<T, WalletError>>>>;

/// An extension wallet the page can talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedWalletInfo {
    /// The EIP-6963 announcement's uuid, or `window.ethereum` for the legacy object.
    pub id: String,
    pub name: String,
    /// A `data:` URI image, as EIP-6963 requires.
    pub icon: Option<String>,
    /// Reverse-DNS name of the wallet (`io.metamask`), when announced.
    pub rdns: Option<String>,
}

/// The browser's wallets, as the pages use them. Every flow that signs in or
/// binds asks the server for a fresh SIWE challenge, has the wallet sign it,
/// and submits the signed message.
pub trait BrowserWallets: Send + Sync {
    /// Creates a key in this browser, binds it to the signed-in account, and
    /// stores it sealed under `passphrase` (one per browser).
    fn create_embedded_and_bind(&self, passphrase: String) -> WalletFuture<AccountView>;
    /// Unlocks this browser's key and signs in with it.
    fn sign_in_embedded(
        &self,
        passphrase: String,
        totp_code: Option<String>,
    ) -> WalletFuture<SessionInfo>;
    /// This browser's wallet as backup JSON, still sealed by its passphrase.
    fn export_embedded(&self) -> WalletFuture<String>;
    /// Stores a backup in this browser once `passphrase` opens it; returns its address.
    fn import_embedded(&self, backup_json: String, passphrase: String) -> WalletFuture<String>;
    /// The extension wallets on this page (EIP-6963, else `window.ethereum`).
    fn discover_injected(&self) -> WalletFuture<Vec<InjectedWalletInfo>>;
    /// Signs in with an extension wallet's first account.
    fn sign_in_injected(
        &self,
        wallet_id: String,
        totp_code: Option<String>,
    ) -> WalletFuture<SessionInfo>;
    /// Binds an extension wallet's first account to the signed-in account.
    fn bind_injected(&self, wallet_id: String) -> WalletFuture<AccountView>;
    /// Unlocks this browser's wallet and signs an EIP-712 `ClaimTo` valid for
    /// an hour: the wallet's permission to pay its rewards to another address.
    fn sign_claim_to_embedded(
        &self,
        passphrase: String,
        claim: UnsignedClaimTo,
    ) -> WalletFuture<SignedClaimTo>;
    /// Has an extension wallet sign the same `ClaimTo` (`eth_signTypedData_v4`);
    /// the extension must hold the rewards wallet's account.
    fn sign_claim_to_injected(
        &self,
        wallet_id: String,
        claim: UnsignedClaimTo,
    ) -> WalletFuture<SignedClaimTo>;
    /// A fresh idempotency key from `crypto.getRandomValues`: a retried
    /// request with it is the same request, a new one is a new request.
    fn idempotency_key(&self) -> Result<String, WalletError>;
}

/// A `ClaimTo` to sign, as the rewards page knows it (`Claimable`'s fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedClaimTo {
    pub chain_id: u64,
    pub distributor: String,
    pub account: String,
    pub to: String,
    pub cumulative_amount: String,
    pub nonce: String,
}

/// The signature and the deadline it covers (Unix seconds, decimal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedClaimTo {
    pub deadline: String,
    pub signature: String,
}

static WALLETS: OnceLock<&'static dyn BrowserWallets> = OnceLock::new();

/// Called once by the client before hydration.
pub fn install(wallets: &'static dyn BrowserWallets) {
    let _ = WALLETS.set(wallets);
}

/// The installed wallets; an error on the server and before the client starts.
pub fn wallets() -> Result<&'static dyn BrowserWallets, WalletError> {
    WALLETS
        .get()
        .copied()
        .ok_or_else(|| WalletError::Wallet("the wallet works once the page has loaded".into()))
}

/// Why a wallet flow failed: the server refused, or the browser or wallet did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletError {
    Server(AppError),
    Wallet(String),
}

impl WalletError {
    /// The server's stable code, when the server gave the answer.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            WalletError::Server(err) => Some(err.code),
            WalletError::Wallet(_) => None,
        }
    }

    /// Whether asking again with a two-factor code can succeed.
    pub fn wants_totp_code(&self) -> bool {
        matches!(
            self.code(),
            Some(ErrorCode::TotpRequired | ErrorCode::InvalidTotp)
        )
    }
}

impl From<AppError> for WalletError {
    fn from(err: AppError) -> Self {
        WalletError::Server(err)
    }
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletError::Server(err) => f.write_str(&err.message),
            WalletError::Wallet(message) => f.write_str(message),
        }
    }
}

/// One idempotency key per rendered form, made on first use: a double
/// click repeats the same request, and once the form is rendered again
/// (the request ended) the next click is a new request, so a failed one can
/// be retried.
pub fn key_once(slot: leptos::prelude::StoredValue<Option<String>>) -> Result<String, WalletError> {
    use leptos::prelude::{GetValue, SetValue};
    if let Some(key) = slot.get_value() {
        return Ok(key);
    }
    let key = wallets()?.idempotency_key()?;
    slot.set_value(Some(key.clone()));
    Ok(key)
}

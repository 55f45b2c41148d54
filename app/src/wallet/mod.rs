//! The embedded wallet: a key made in this browser, sealed under a
//! passphrase (`meritree_core::wallet`) and kept in IndexedDB, for people
//! without a wallet extension. Signing and sealing are the shared core code;
//! this module adds the browser's randomness and storage, and the flows that
//! sign a server challenge.
//!
//! In the server build the flows only say they need the browser.

#[cfg(feature = "hydrate")]
mod browser;

use meritree_core::accounts::{AccountView, SessionInfo};

/// Creates a wallet in this browser (replacing none: one per browser),
/// seals it under `passphrase`, and binds it to the signed-in account.
pub async fn create_and_bind(passphrase: String) -> Result<AccountView, String> {
    #[cfg(feature = "hydrate")]
    {
        browser::create_and_bind(passphrase).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = passphrase;
        Err(NEEDS_BROWSER.into())
    }
}

/// Unlocks this browser's wallet and signs in with it.
pub async fn sign_in(passphrase: String) -> Result<SessionInfo, String> {
    #[cfg(feature = "hydrate")]
    {
        browser::sign_in(passphrase).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = passphrase;
        Err(NEEDS_BROWSER.into())
    }
}

/// This browser's wallet as backup JSON, still sealed by its passphrase.
pub async fn export_backup() -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    {
        browser::export_backup().await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(NEEDS_BROWSER.into())
    }
}

/// Puts a backup into this browser once `passphrase` opens it; returns its address.
pub async fn import_backup(json: String, passphrase: String) -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    {
        browser::import_backup(json, passphrase).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (json, passphrase);
        Err(NEEDS_BROWSER.into())
    }
}

#[cfg(not(feature = "hydrate"))]
const NEEDS_BROWSER: &str = "the wallet works once the page has loaded";

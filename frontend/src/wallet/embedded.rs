//! The embedded wallet: a secp256k1 key made from `crypto.getRandomValues`,
//! sealed under a passphrase (`meritree_core::wallet::Vault`) and kept in
//! IndexedDB. Signing and sealing are the shared core code.

use app::server_fns::wallet::{bind_wallet, wallet_sign_in};
use app::wallet::{SignedClaimTo, UnsignedClaimTo, WalletError};
use meritree_core::accounts::{AccountView, SessionInfo};
use meritree_core::wallet::{Vault, WalletKey, DEFAULT_ITERATIONS};

use super::claim_to::Prepared;
use super::{indexed_db, js_error, siwe_message_for, wallet_error};

const VAULT_KEY: &str = "embedded";

pub async fn create_and_bind(passphrase: String) -> Result<AccountView, WalletError> {
    let key = loop {
        // Fewer than 1 in 2^127 random strings are not valid keys.
        if let Ok(key) = WalletKey::from_bytes(&random::<32>()?) {
            break key;
        }
    };
    let vault = key
        .seal(
            &passphrase,
            random::<16>()?,
            random::<12>()?,
            DEFAULT_ITERATIONS,
        )
        .map_err(wallet_error)?;
    let (message, signature) = sign_challenge(&key).await?;
    let account = bind_wallet(message, signature).await?;
    // Stored only once bound, so a refused binding leaves no orphan key.
    indexed_db::put(VAULT_KEY, &vault.to_json())
        .await
        .map_err(WalletError::Wallet)?;
    Ok(account)
}

pub async fn sign_in(
    passphrase: String,
    totp_code: Option<String>,
) -> Result<SessionInfo, WalletError> {
    let key = load_vault()
        .await?
        .open(&passphrase)
        .map_err(wallet_error)?;
    let (message, signature) = sign_challenge(&key).await?;
    Ok(wallet_sign_in(message, signature, totp_code).await?)
}

pub async fn export_backup() -> Result<String, WalletError> {
    Ok(load_vault().await?.to_json())
}

pub async fn import_backup(json: String, passphrase: String) -> Result<String, WalletError> {
    let vault = Vault::from_json(json.trim()).map_err(wallet_error)?;
    vault.open(&passphrase).map_err(wallet_error)?;
    indexed_db::put(VAULT_KEY, &vault.to_json())
        .await
        .map_err(WalletError::Wallet)?;
    Ok(vault.address)
}

/// Signs a `ClaimTo` (EIP-712) with this browser's key.
pub async fn sign_claim_to(
    passphrase: String,
    claim: UnsignedClaimTo,
) -> Result<SignedClaimTo, WalletError> {
    let key = load_vault()
        .await?
        .open(&passphrase)
        .map_err(wallet_error)?;
    let prepared = Prepared::new(&claim)?;
    if prepared.message.account != key.address() {
        return Err(WalletError::Wallet(
            "this browser's wallet is not the one your rewards are for".into(),
        ));
    }
    let digest = prepared.message.signing_hash(&prepared.domain);
    Ok(prepared.signed(&key.sign_hash(digest.as_slice())))
}

async fn load_vault() -> Result<Vault, WalletError> {
    let json = indexed_db::get(VAULT_KEY)
        .await
        .map_err(WalletError::Wallet)?
        .ok_or_else(|| WalletError::Wallet("there is no wallet in this browser".into()))?;
    Vault::from_json(&json).map_err(wallet_error)
}

async fn sign_challenge(key: &WalletKey) -> Result<(String, String), WalletError> {
    let message = siwe_message_for(key.address()).await?;
    let signature = key.sign_personal(message.as_bytes());
    Ok((message, alloy_primitives::hex::encode_prefixed(signature)))
}

pub(super) fn random<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut bytes = [0u8; N];
    web_sys::window()
        .ok_or_else(|| WalletError::Wallet("no window".into()))?
        .crypto()
        .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut bytes))
        .map_err(|e| WalletError::Wallet(js_error(e)))?;
    Ok(bytes)
}

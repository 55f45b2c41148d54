//! The browser's wallets behind `app::wallet::BrowserWallets`: the embedded
//! wallet and extension wallets (EIP-6963 / EIP-1193).

mod claim_to;
mod eip1193;
mod eip6963;
mod embedded;
mod indexed_db;

pub use eip1193::{Eip1193Provider, ProviderError};

use alloy_primitives::{hex, Address};
use app::server_fns::wallet::{bind_wallet, request_siwe_challenge, wallet_sign_in};
use app::wallet::{
    BrowserWallets, InjectedWalletInfo, SignedClaimTo, UnsignedClaimTo, WalletError, WalletFuture,
};
use meritree_core::accounts::{AccountView, SessionInfo};
use meritree_core::siwe::{SiweMessage, SiweTime};
use wasm_bindgen::JsValue;

/// Installed into the app at start (`app::wallet::install`).
pub struct Wallets;

impl BrowserWallets for Wallets {
    fn create_embedded_and_bind(&self, passphrase: String) -> WalletFuture<AccountView> {
        Box::pin(embedded::create_and_bind(passphrase))
    }

    fn sign_in_embedded(
        &self,
        passphrase: String,
        totp_code: Option<String>,
    ) -> WalletFuture<SessionInfo> {
        Box::pin(embedded::sign_in(passphrase, totp_code))
    }

    fn export_embedded(&self) -> WalletFuture<String> {
        Box::pin(embedded::export_backup())
    }

    fn import_embedded(&self, backup_json: String, passphrase: String) -> WalletFuture<String> {
        Box::pin(embedded::import_backup(backup_json, passphrase))
    }

    fn discover_injected(&self) -> WalletFuture<Vec<InjectedWalletInfo>> {
        Box::pin(async { eip6963::discover().await.map_err(WalletError::Wallet) })
    }

    fn sign_in_injected(
        &self,
        wallet_id: String,
        totp_code: Option<String>,
    ) -> WalletFuture<SessionInfo> {
        Box::pin(async move {
            let (message, signature) = sign_with_injected(&wallet_id).await?;
            Ok(wallet_sign_in(message, signature, totp_code).await?)
        })
    }

    fn sign_claim_to_embedded(
        &self,
        passphrase: String,
        claim: UnsignedClaimTo,
    ) -> WalletFuture<SignedClaimTo> {
        Box::pin(embedded::sign_claim_to(passphrase, claim))
    }

    fn sign_claim_to_injected(
        &self,
        wallet_id: String,
        claim: UnsignedClaimTo,
    ) -> WalletFuture<SignedClaimTo> {
        Box::pin(async move {
            let provider = injected_provider(&wallet_id)?;
            let prepared = claim_to::Prepared::new(&claim)?;
            let account = prepared.message.account;
            let accounts = provider.request_accounts().await.map_err(wallet_error)?;
            if !accounts.contains(&account) {
                return Err(WalletError::Wallet(format!(
                    "switch the extension to {account}: that is the wallet your rewards are for"
                )));
            }
            let typed = prepared.message.typed_data_json(&prepared.domain);
            let signature = provider
                .sign_typed_data_v4(&account, &typed)
                .await
                .map_err(wallet_error)?;
            Ok(prepared.signed(&signature))
        })
    }

    fn idempotency_key(&self) -> Result<String, WalletError> {
        Ok(hex::encode(embedded::random::<16>()?))
    }

    fn bind_injected(&self, wallet_id: String) -> WalletFuture<AccountView> {
        Box::pin(async move {
            let (message, signature) = sign_with_injected(&wallet_id).await?;
            Ok(bind_wallet(message, signature).await?)
        })
    }
}

/// Connects the extension wallet and has its first account sign a challenge.
async fn sign_with_injected(wallet_id: &str) -> Result<(String, String), WalletError> {
    let provider = injected_provider(wallet_id)?;
    let account = provider
        .request_accounts()
        .await
        .map_err(wallet_error)?
        .into_iter()
        .next()
        .ok_or_else(|| WalletError::Wallet("the wallet shared no account".into()))?;
    let message = siwe_message_for(account).await?;
    let signature = provider
        .personal_sign(&message, &account)
        .await
        .map_err(wallet_error)?;
    Ok((message, hex::encode_prefixed(signature)))
}

fn injected_provider(wallet_id: &str) -> Result<Eip1193Provider, WalletError> {
    eip6963::provider(wallet_id)
        .ok_or_else(|| WalletError::Wallet("that wallet is no longer on the page".into()))
}

/// Fetches a nonce and builds the EIP-4361 message `address` must sign.
async fn siwe_message_for(address: Address) -> Result<String, WalletError> {
    let challenge = request_siwe_challenge().await?;
    let now = SiweTime::from_unix_millis(js_sys::Date::now() as i64).map_err(wallet_error)?;
    let message = SiweMessage::builder(
        challenge.domain,
        address,
        challenge.uri,
        challenge.chain_id,
        challenge.nonce,
        now,
    )
    .statement(challenge.statement)
    .build()
    .map_err(wallet_error)?;
    Ok(message.to_string())
}

fn wallet_error(err: impl std::fmt::Display) -> WalletError {
    WalletError::Wallet(err.to_string())
}

fn js_error(value: JsValue) -> String {
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

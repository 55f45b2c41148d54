//! Browser parts of the embedded wallet: randomness, IndexedDB, and the
//! challenge-sign-submit flows.

use meritree_core::accounts::{AccountView, SessionInfo};
use meritree_core::siwe::{SiweMessage, SiweTime};
use meritree_core::wallet::{Vault, WalletKey, DEFAULT_ITERATIONS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use crate::server_fns::wallet::{bind_wallet, request_siwe_challenge, wallet_sign_in};

const DB_NAME: &str = "meritree";
const STORE: &str = "wallet";
const VAULT_KEY: &str = "embedded";

pub async fn create_and_bind(passphrase: String) -> Result<AccountView, String> {
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
        .map_err(|e| e.to_string())?;
    let (message, signature) = sign_challenge(&key).await?;
    let account = bind_wallet(message, signature)
        .await
        .map_err(|e| e.message)?;
    store_vault(&vault).await?;
    Ok(account)
}

pub async fn sign_in(passphrase: String) -> Result<SessionInfo, String> {
    let vault = load_vault()
        .await?
        .ok_or("there is no wallet in this browser")?;
    let key = vault.open(&passphrase).map_err(|e| e.to_string())?;
    let (message, signature) = sign_challenge(&key).await?;
    wallet_sign_in(message, signature)
        .await
        .map_err(|e| e.message)
}

/// The stored vault as backup JSON (still sealed by the passphrase).
pub async fn export_backup() -> Result<String, String> {
    Ok(load_vault()
        .await?
        .ok_or("there is no wallet in this browser")?
        .to_json())
}

/// Stores a backup in this browser after checking the passphrase opens it.
pub async fn import_backup(json: String, passphrase: String) -> Result<String, String> {
    let vault = Vault::from_json(json.trim()).map_err(|e| e.to_string())?;
    vault.open(&passphrase).map_err(|e| e.to_string())?;
    store_vault(&vault).await?;
    Ok(vault.address)
}

/// Fetches a nonce, builds the SIWE message for it and signs it.
async fn sign_challenge(key: &WalletKey) -> Result<(String, String), String> {
    let challenge = request_siwe_challenge().await.map_err(|e| e.message)?;
    let now = SiweTime::from_unix_millis(js_sys::Date::now() as i64).map_err(|e| e.to_string())?;
    let message = SiweMessage::builder(
        challenge.domain,
        key.address(),
        challenge.uri,
        challenge.chain_id,
        challenge.nonce,
        now,
    )
    .statement(challenge.statement)
    .build()
    .map_err(|e| e.to_string())?
    .to_string();
    let signature = key.sign_personal(message.as_bytes());
    let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    Ok((message, format!("0x{hex}")))
}

fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(js_error)?
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(js_error)?;
    Ok(bytes)
}

async fn store_vault(vault: &Vault) -> Result<(), String> {
    let db = open_db().await?;
    let tx = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
        .map_err(js_error)?;
    let request = tx
        .object_store(STORE)
        .map_err(js_error)?
        .put_with_key(
            &JsValue::from_str(&vault.to_json()),
            &JsValue::from_str(VAULT_KEY),
        )
        .map_err(js_error)?;
    done(&request).await.map(drop)
}

async fn load_vault() -> Result<Option<Vault>, String> {
    let db = open_db().await?;
    let tx = db.transaction_with_str(STORE).map_err(js_error)?;
    let request = tx
        .object_store(STORE)
        .map_err(js_error)?
        .get(&JsValue::from_str(VAULT_KEY))
        .map_err(js_error)?;
    match done(&request).await?.as_string() {
        Some(json) => Vault::from_json(&json).map(Some).map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

async fn open_db() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .ok_or("no window")?
        .indexed_db()
        .map_err(js_error)?
        .ok_or("this browser has no IndexedDB")?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DB_NAME, 1).map_err(js_error)?;
    let upgrade = Closure::once_into_js(move |event: web_sys::Event| {
        let db = event
            .target()
            .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
            .and_then(|r| r.result().ok())
            .and_then(|r| r.dyn_into::<IdbDatabase>().ok());
        if let Some(db) = db {
            let _ = db.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    done(&request)
        .await?
        .dyn_into::<IdbDatabase>()
        .map_err(js_error)
}

/// Waits for an IndexedDB request to succeed or fail.
async fn done(request: &IdbRequest) -> Result<JsValue, String> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let succeeded = request.clone();
        let on_success = Closure::once_into_js(move || {
            let _ = resolve.call1(
                &JsValue::NULL,
                &succeeded.result().unwrap_or(JsValue::UNDEFINED),
            );
        });
        let on_error = Closure::once_into_js(move || {
            let _ = reject.call1(
                &JsValue::NULL,
                &JsValue::from_str("IndexedDB request failed"),
            );
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(js_error)
}

fn js_error(value: JsValue) -> String {
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

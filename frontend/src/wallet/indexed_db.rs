//! A tiny key → string store on IndexedDB, enough for the sealed wallet.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use super::js_error;

const DB_NAME: &str = "meritree";
const STORE: &str = "wallet";

pub async fn put(key: &str, value: &str) -> Result<(), String> {
    let db = open_db().await?;
    let tx = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
        .map_err(js_error)?;
    let request = tx
        .object_store(STORE)
        .map_err(js_error)?
        .put_with_key(&JsValue::from_str(value), &JsValue::from_str(key))
        .map_err(js_error)?;
    done(&request).await.map(drop)
}

pub async fn get(key: &str) -> Result<Option<String>, String> {
    let db = open_db().await?;
    let tx = db.transaction_with_str(STORE).map_err(js_error)?;
    let request = tx
        .object_store(STORE)
        .map_err(js_error)?
        .get(&JsValue::from_str(key))
        .map_err(js_error)?;
    Ok(done(&request).await?.as_string())
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

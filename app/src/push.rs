//! The page's side of Web Push: `window.meritreePush` (public/pwa.js) asks
//! the browser for permission and subscribes through the service worker.
//! Browser code, called from handlers and local resources; on the server
//! every call answers "unsupported".

use leptos::prelude::*;
use leptos::web_sys::js_sys::{Function, Promise, Reflect};
use leptos::web_sys::wasm_bindgen::{JsCast, JsValue};
use meritree_core::push::PushSubscriptionJson;

/// Whether this browser takes the member's notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// No service worker, Push API or notifications here.
    Unsupported,
    /// The member (or the browser) refused notifications for the site.
    Blocked,
    On,
    Off,
}

/// Calls `window.meritreePush[method](args…)` and waits for its promise.
async fn call(method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let unavailable = || "This browser cannot receive push notifications.".to_owned();
    if cfg!(not(target_arch = "wasm32")) {
        return Err(unavailable());
    }
    let api = Reflect::get(&window(), &JsValue::from_str("meritreePush"))
        .ok()
        .filter(|api| api.is_object())
        .ok_or_else(unavailable)?;
    let function: Function = Reflect::get(&api, &JsValue::from_str(method))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(unavailable)?;
    let args: leptos::web_sys::js_sys::Array = args.iter().collect();
    let promise: Promise = function
        .apply(&api, &args)
        .map_err(message)?
        .dyn_into()
        .map_err(|_| unavailable())?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(message)
}

/// What a thrown error says (`Error.message`), else its text.
fn message(error: JsValue) -> String {
    Reflect::get(&error, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "the browser refused".to_owned())
}

pub async fn state() -> DeviceState {
    match call("state", &[])
        .await
        .ok()
        .and_then(|s| s.as_string())
        .as_deref()
    {
        Some("on") => DeviceState::On,
        Some("off") => DeviceState::Off,
        Some("blocked") => DeviceState::Blocked,
        _ => DeviceState::Unsupported,
    }
}

/// Asks for permission and subscribes this browser with the server's key.
pub async fn subscribe(server_key: &str) -> Result<PushSubscriptionJson, String> {
    let json = call("subscribe", &[JsValue::from_str(server_key)])
        .await?
        .as_string()
        .ok_or("the browser gave no subscription")?;
    serde_json::from_str(&json)
        .map_err(|err| format!("the browser's subscription is not valid: {err}"))
}

/// Unsubscribes this browser; its endpoint, if it was subscribed.
pub async fn unsubscribe() -> Result<Option<String>, String> {
    Ok(call("unsubscribe", &[]).await?.as_string())
}

//! The page's side of the Telegram Mini App: `window.Telegram.WebApp`,
//! which Telegram's script (loaded on `/tg` only) provides. Browser code,
//! called from effects and handlers; every call does nothing outside
//! Telegram, and nothing on the server.

use leptos::prelude::*;
use leptos::web_sys::js_sys::{Function, Reflect};
use leptos::web_sys::wasm_bindgen::closure::Closure;
use leptos::web_sys::wasm_bindgen::{JsCast, JsValue};

/// `window.Telegram.WebApp`, when Telegram's script is on the page; never
/// on the server (where a component's cleanup may still call in here).
fn web_app() -> Option<JsValue> {
    if cfg!(not(target_arch = "wasm32")) {
        return None;
    }
    let telegram = field(&window(), "Telegram")?;
    field(&telegram, "WebApp")
}

fn field(target: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

/// Calls `target.method(args…)`; a missing method or a throw is ignored
/// (older Telegram clients lack some).
fn call(target: &JsValue, method: &str, args: &[JsValue]) {
    let Some(function) = field(target, method).and_then(|f| f.dyn_into::<Function>().ok()) else {
        return;
    };
    let args: leptos::web_sys::js_sys::Array = args.iter().collect();
    let _ = function.apply(target, &args);
}

/// The launch data Telegram signed for this server's bot; `None` outside
/// Telegram (or opened without it, e.g. from a plain link).
pub fn init_data() -> Option<String> {
    field(&web_app()?, "initData")
        .and_then(|data| data.as_string())
        .filter(|data| !data.is_empty())
}

/// Tells Telegram the app is ready (it then drops its placeholder), opens
/// it to full height, and hands the stylesheet Telegram's theme: Telegram's
/// script keeps it in `--tg-theme-*` properties, which the stylesheet maps
/// to its own colours under `data-telegram-theme`.
pub fn start() {
    let Some(app) = web_app() else {
        return;
    };
    call(&app, "ready", &[]);
    call(&app, "expand", &[]);
    let themed =
        field(&app, "themeParams").is_some_and(|theme| field(&theme, "bg_color").is_some());
    if let (true, Some(root)) = (themed, document().document_element()) {
        let _ = root.set_attribute("data-telegram-theme", "");
    }
}

/// Telegram's main button (below the app): shown with `text`, or hidden.
pub fn main_button(text: Option<&str>) {
    let Some(button) = web_app().and_then(|app| field(&app, "MainButton")) else {
        return;
    };
    match text {
        Some(text) => {
            call(&button, "setText", &[JsValue::from_str(text)]);
            call(&button, "show", &[]);
        }
        None => call(&button, "hide", &[]),
    }
}

/// Telegram's back button (in its header): shown or hidden.
pub fn back_button(visible: bool) {
    if let Some(button) = web_app().and_then(|app| field(&app, "BackButton")) {
        call(&button, if visible { "show" } else { "hide" }, &[]);
    }
}

/// Runs `handler` on each press of the main (`"MainButton"`) or back
/// (`"BackButton"`) button, until the calling component is disposed.
pub fn on_press(button: &'static str, handler: impl Fn() + 'static) {
    let Some(target) = web_app().and_then(|app| field(&app, button)) else {
        return;
    };
    let handler = Closure::<dyn Fn()>::new(handler).into_js_value();
    call(&target, "onClick", std::slice::from_ref(&handler));
    // Browser values are not `Send`: kept in the page's thread-local arena.
    let registered = StoredValue::new_local((target, handler));
    on_cleanup(move || {
        registered.try_with_value(|(target, handler)| {
            call(target, "offClick", std::slice::from_ref(handler))
        });
    });
}

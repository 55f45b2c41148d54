//! Finding extension wallets: EIP-6963 announcements first (several wallets
//! can coexist), else the legacy `window.ethereum` object.

use std::cell::RefCell;
use std::rc::Rc;

use app::wallet::InjectedWalletInfo;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CustomEvent, Event};

use super::eip1193::Eip1193Provider;

/// Wallets answer `requestProvider` synchronously; the wait is for those
/// whose content script is still starting.
const ANNOUNCE_WAIT_MS: i32 = 150;
const LEGACY_ID: &str = "window.ethereum";

thread_local! {
    /// What the last discovery found, so a later request can name a wallet by id.
    static FOUND: RefCell<Vec<(InjectedWalletInfo, Eip1193Provider)>> = const { RefCell::new(Vec::new()) };
}

/// Asks the page's wallets to announce themselves and remembers them.
pub async fn discover() -> Result<Vec<InjectedWalletInfo>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let found: Rc<RefCell<Vec<(InjectedWalletInfo, Eip1193Provider)>>> = Rc::default();
    let on_announce = {
        let found = found.clone();
        Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let Some(announced) = event
                .dyn_ref::<CustomEvent>()
                .and_then(|e| parse(&e.detail()))
            else {
                return;
            };
            let mut found = found.borrow_mut();
            if !found.iter().any(|(info, _)| info.id == announced.0.id) {
                found.push(announced);
            }
        })
    };
    let listener = on_announce.as_ref().unchecked_ref();
    window
        .add_event_listener_with_callback("eip6963:announceProvider", listener)
        .map_err(super::js_error)?;
    let request = Event::new("eip6963:requestProvider").map_err(super::js_error)?;
    let _ = window.dispatch_event(&request);
    sleep(&window, ANNOUNCE_WAIT_MS).await;
    let _ = window.remove_event_listener_with_callback("eip6963:announceProvider", listener);

    let mut wallets = found.take();
    if wallets.is_empty() {
        let legacy = Reflect::get(&window, &"ethereum".into())
            .ok()
            .and_then(Eip1193Provider::new);
        if let Some(provider) = legacy {
            let info = InjectedWalletInfo {
                id: LEGACY_ID.into(),
                name: "Browser wallet".into(),
                icon: None,
                rdns: None,
            };
            wallets.push((info, provider));
        }
    }
    let infos = wallets.iter().map(|(info, _)| info.clone()).collect();
    FOUND.with(|f| *f.borrow_mut() = wallets);
    Ok(infos)
}

/// The provider a discovery found under `id`.
pub fn provider(id: &str) -> Option<Eip1193Provider> {
    FOUND.with(|f| {
        f.borrow()
            .iter()
            .find(|(info, _)| info.id == id)
            .map(|(_, p)| p.clone())
    })
}

/// An announcement's `detail`: `{ info: { uuid, name, icon, rdns }, provider }`.
/// Announcements come from any script on the page, so each field is checked.
fn parse(detail: &JsValue) -> Option<(InjectedWalletInfo, Eip1193Provider)> {
    let info = Reflect::get(detail, &"info".into()).ok()?;
    let field = |name: &str| {
        Reflect::get(&info, &name.into())
            .ok()
            .and_then(|v| v.as_string())
            .filter(|v| !v.is_empty())
    };
    let provider = Eip1193Provider::new(Reflect::get(detail, &"provider".into()).ok()?)?;
    let info = InjectedWalletInfo {
        id: field("uuid")?,
        name: field("name")?.chars().take(64).collect(),
        // EIP-6963 requires a data URI; anything else could load a remote image.
        icon: field("icon").filter(|icon| icon.starts_with("data:image/")),
        rdns: field("rdns"),
    };
    Some((info, provider))
}

async fn sleep(window: &web_sys::Window, millis: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
    });
    let _ = JsFuture::from(promise).await;
}

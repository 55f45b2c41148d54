//! Meritree's wasm32 client: the entry point that hydrates the
//! server-rendered pages, and the browser-only code the pages use through
//! traits defined in `app` (wallets; the offline queue as it arrives).

pub mod live;
pub mod wallet;

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the script that `HydrationScripts` puts in every page.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    app::wallet::install(&wallet::Wallets);
    app::live::install(&live::Socket);
    leptos::mount::hydrate_body(app::App);
}

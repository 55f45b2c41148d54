//! Meritree's wasm32 client: the entry point that hydrates the
//! server-rendered pages, and the browser-only code the pages use through
//! traits defined in `app` (wallets; the offline queue as it arrives).

pub mod live;
pub mod wallet;

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the script that `HydrationScripts` puts in every page. Built
/// twice (scripts/build): the full client hydrates every page; with the
/// `public` feature, the public client hydrates the public pages and links
/// nothing else in: no wallet, no signed-in pages.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    app::live::install(&live::Socket);
    #[cfg(not(feature = "public"))]
    {
        app::wallet::install(&wallet::Wallets);
        leptos::mount::hydrate_body(app::App);
    }
    #[cfg(feature = "public")]
    leptos::mount::hydrate_body(app::PublicApp);
}

//! Meritree's wasm32 client: the entry point that hydrates the
//! server-rendered pages. Browser-only code (wallets, the offline queue)
//! lives beside it in this crate.

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the script that `HydrationScripts` puts in every page.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

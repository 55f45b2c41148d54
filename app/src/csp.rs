//! The Content-Security-Policy of pages and of every other response
//! (server only). Pages run scripts from this site or carrying the
//! response's nonce (Leptos puts it on its hydration scripts); nothing
//! else runs anywhere.

use leptos::prelude::use_context;

/// The Telegram Mini App's page, which Telegram's apps open.
pub const MINI_APP_PATH: &str = "/tg";

/// Telegram's Mini App script, loaded from Telegram as its documentation
/// asks (carrying the page's nonce, as every script does).
pub const TELEGRAM_SCRIPT: &str = "https://telegram.org/js/telegram-web-app.js";

/// A page's policy: scripts from this site or with `nonce`, WebAssembly
/// compiled from them; styles from this site (inline `style` attributes
/// allowed: they run nothing); images from this site, `data:` (wallet
/// icons) and `blob:` (previews of a picture before upload); connections
/// to this site only (server functions, the live socket); no plugins, no
/// framing, forms and `<base>` only to this site. (Not even the Mini App
/// may be framed: in Telegram's web client, a frame of another site, the
/// browser would neither keep nor send its session cookies.)
pub fn for_page(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Whether the page being rendered is the Mini App's.
pub fn is_mini_app() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| parts.uri.path() == MINI_APP_PATH)
}

/// Everything that is not a page (JSON, pictures, the client's files):
/// nothing in it may run or be framed.
pub const NOT_A_PAGE: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// The service worker (`/sw.js`): its policy governs what the worker
/// itself may fetch, which is this site and nothing else.
pub const SERVICE_WORKER: &str = "default-src 'self'; frame-ancestors 'none'";

/// Sets this response's page policy with its nonce; called by the shell.
pub fn set_for_page() {
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&for_page(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

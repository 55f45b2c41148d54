//! HTTP side of authentication: session cookies, the current-account
//! extractor and the CSRF guard. The rules themselves live in
//! `meritree_platform::{accounts, sessions}`.

pub mod csrf;
mod current;

pub use current::CurrentAccount;

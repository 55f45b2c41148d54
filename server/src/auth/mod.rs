//! HTTP side of authentication: reading the request for the platform's
//! front door, and the CSRF guard. The rules themselves live in
//! `meritree_platform::{access, accounts, sessions}`.

pub mod csrf;
mod current;

pub use current::Caller;

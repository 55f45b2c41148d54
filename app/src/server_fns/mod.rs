//! Server functions, one module per domain. Each runs on the server (feature
//! `ssr`) and is an HTTP call from the browser; bodies reach the platform's
//! services through the `Platform` the server puts in context.

pub mod admin;
pub mod ai;
pub mod api_keys;
pub mod api_reference;
pub mod auth;
pub mod compute;
#[cfg(feature = "ssr")]
pub(crate) mod door;
pub mod email;
pub mod error;
pub mod notifications;
pub mod rewards;
pub mod rounds;
pub mod sessions;
pub mod status;
pub mod telegram;
pub mod totp;
pub mod wallet;
pub mod work;

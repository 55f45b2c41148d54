//! Meritree's I/O-free domain.
//!
//! Everything here compiles for both the server (x86_64) and the browser
//! (wasm32), so the two sides share one definition of every type and rule.
//! Nothing in this crate touches the network, the disk or the clock.

pub mod accounts;
pub mod ai;
pub mod api_reference;
pub mod audit;
pub mod claims;
pub mod compute;
pub mod eip712;
pub mod encoding;
pub mod error_code;
pub mod eth;
pub mod live;
pub mod merkle;
pub mod notifications;
pub mod points;
pub mod profile;
pub mod push;
pub mod rate_limit;
pub mod rounds;
pub mod settlement;
pub mod siwe;
pub mod status;
pub mod submissions;
pub mod telegram;
pub mod totp;
pub mod wallet;

pub use error_code::ErrorCode;

/// The platform's version, as shown on the status page and in `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! Meritree's AI gateway core: one `Provider` trait, adapters that speak the
//! upstreams' real wire formats, and a `Router` that retries, fails over and
//! keeps a circuit breaker per provider. Nothing here knows about HTTP
//! serving, accounts or configuration files; the server wires it up.

pub mod config;
pub mod error;
pub mod gateway;
pub mod pricing;
pub mod providers;
pub mod router;
pub mod sse;
pub mod types;

pub use error::ProviderError;
pub use gateway::Gateway;
pub use providers::local::LocalProvider;
pub use providers::{ChatStream, HttpConfig, Provider, Timeouts};
pub use router::{Candidate, Router};
pub use types::*;

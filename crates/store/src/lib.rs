//! Meritree's persistence: one API over SQLite (the embedded default) and
//! PostgreSQL (for scale-out).
//!
//! Repositories write their SQL once where both backends accept it (see
//! [`with_pool!`]) and per backend where they differ. Migrations live in
//! `migrations/sqlite` and `migrations/postgres`, are embedded in the binary
//! and applied at start.

pub mod accounts;
pub mod ai_usage;
pub mod api_keys;
pub mod audit;
pub mod chain_txs;
mod checkpoints;
pub mod competitions;
pub mod compute;
mod database;
pub mod email_tokens;
mod error;
pub mod evaluations;
pub mod gauges;
pub mod images;
pub mod instance;
pub mod leases;
pub mod nonces;
pub mod notifications;
pub mod points;
pub mod push_subscriptions;
pub mod rounds;
pub mod secrets;
pub mod session_proofs;
pub mod sessions;
mod sql;
pub mod submissions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod totp;

pub use database::{Backend, Database, DatabaseTarget, PoolOptions};
pub use error::StoreError;

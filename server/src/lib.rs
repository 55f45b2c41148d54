//! The `meritree` binary's library: configuration, start-up, telemetry and
//! the HTTP routes. Kept as a library so the black-box tests in `tests/` can
//! start the real application on port 0.

/// Every binary built on this library (the server, its benchmarks and
/// tests) allocates with mimalloc: the evaluation pipeline's many small,
/// short-lived allocations across threads cost a tenth of its CPU in
/// glibc's allocator (docs/decisions/0020).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod ai;
pub mod auth;
pub mod backup;
pub mod chain;
pub mod chain_deploy;
pub mod cli;
pub mod configuration;
pub mod error;
pub mod node;
pub mod points;
pub mod routes;
pub mod settlement;
pub mod startup;
pub mod telemetry;
pub mod verify_round;
pub mod web_client;

//! Black-box tests: the real application on port 0 with a fresh database,
//! driven over HTTP. Every test runs against SQLite and PostgreSQL.

mod admin_accounts;
mod ai;
mod api_keys;
mod audit;
mod auth;
mod backup;
mod binary;
mod chain_crash;
mod chain_deploy;
mod compute;
mod contract_wallet;
mod crash;
mod email;
mod errors;
mod fake_backend;
mod fake_judge;
mod front_door;
mod headers;
mod health;
mod helpers;
mod images;
mod mail_sink;
mod metrics;
mod nodes;
mod pages;
mod points;
mod rate_limits;
mod rounds;
mod scale;
mod sessions;
mod settlement;
mod staking;
mod totp;
mod wallet;
mod work;

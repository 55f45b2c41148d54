//! Reusable pieces of the UI.

pub mod embedded_wallet;
pub mod health_badge;
pub mod site_header;

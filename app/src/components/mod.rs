//! Reusable pieces of the UI.

pub mod embedded_wallet;
pub mod health_badge;
pub mod server_error;
pub mod site_header;

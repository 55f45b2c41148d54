//! Reusable pieces of the UI.

pub mod health_badge;
pub mod notification_bell;
pub mod outdated_client;
pub mod scroll_region;
pub mod server_error;
pub mod site_header;
pub mod time;
pub mod wallet;

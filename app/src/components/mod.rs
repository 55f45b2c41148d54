//! Reusable pieces of the UI.

pub mod health_badge;
pub mod site_header;

use leptos::prelude::*;
use meritree_core::status::StatusReport;

/// `POST /api/status/check`: checks every component of the platform now.
#[server(endpoint = "status/check")]
pub async fn check_status() -> Result<StatusReport, super::error::AppError> {
    Ok(super::door::platform()?.status().await)
}

use leptos::prelude::*;
use meritree_core::status::StatusReport;

/// `POST /api/status/check`: checks every component of the platform now.
#[server(endpoint = "status/check")]
pub async fn check_status() -> Result<StatusReport, ServerFnError> {
    let platform = use_context::<meritree_platform::Platform>()
        .ok_or_else(|| ServerFnError::new("the platform is not in the request context"))?;
    Ok(platform.status().await)
}

//! The public record of settlement rounds: the same service as `/api/v1/rounds`.

use leptos::prelude::*;
use meritree_core::rounds::RoundsPage;

use super::error::AppError;

/// `POST /api/rounds/list`: the newest rounds, public.
#[server(endpoint = "rounds/list")]
pub async fn list_rounds() -> Result<RoundsPage, AppError> {
    let platform = super::auth::ssr::platform()?;
    Ok(platform.rounds(Some(50), None).await?)
}

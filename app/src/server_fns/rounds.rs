//! The public record of settlement rounds: the same service as `/api/v1/rounds`.

use leptos::prelude::*;
pub use meritree_core::rounds::PublicRound;

use super::error::AppError;

/// `POST /api/rounds/list`: the newest rounds, public.
#[server(endpoint = "rounds/list")]
pub async fn list_rounds() -> Result<Vec<PublicRound>, AppError> {
    Ok(super::door::platform()?.rounds().list_public(50).await?)
}

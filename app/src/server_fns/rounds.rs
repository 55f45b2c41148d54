//! The public record of settlement rounds: the same service as `/api/v1/rounds`.

use leptos::prelude::*;
use meritree_core::rounds::RoundView;
use serde::{Deserialize, Serialize};

use super::error::AppError;

/// A round as the public page lists it: with the hash of its `setRoot`
/// transaction, which anyone can look up on chain (the API gives the
/// platform's own id for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRound {
    pub round: RoundView,
    pub publish_tx_hash: Option<String>,
}

/// `POST /api/rounds/list`: the newest rounds, public.
#[server(endpoint = "rounds/list")]
pub async fn list_rounds() -> Result<Vec<PublicRound>, AppError> {
    use meritree_platform::rounds::RoundsError;

    let platform = super::door::platform()?;
    let page = platform.rounds().list(Some(50), None).await?;
    let mut rounds = Vec::with_capacity(page.rounds.len());
    for round in page.rounds {
        let publish_tx_hash = match &round.publish_tx {
            Some(id) => platform
                .chain()
                .transaction_hash(id)
                .await
                .map_err(RoundsError::from)?,
            None => None,
        };
        rounds.push(PublicRound {
            round,
            publish_tx_hash,
        });
    }
    Ok(rounds)
}

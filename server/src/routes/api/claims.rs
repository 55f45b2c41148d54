//! Claiming on-chain rewards without gas: the platform's relayer sends the
//! transaction.

use std::str::FromStr;

use alloy::primitives::{Address, Bytes, U256};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use meritree_core::claims::{ClaimView, Claimable};
use meritree_core::ErrorCode;
use meritree_platform::chain::ClaimToRequest;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::CurrentAccount;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user/claimable", get(claimable))
        .route("/user/claims", axum::routing::post(create_claim))
        .route("/user/claims/{id}", get(claim))
}

/// `GET /api/v1/user/claimable`: the newest published amount for the
/// account's wallet, what is already paid, the proof, and what signing a
/// `ClaimTo` needs.
async fn claimable(
    State(platform): State<Platform>,
    CurrentAccount(me): CurrentAccount,
) -> Result<Json<Claimable>, ApiError> {
    Ok(Json(platform.claimable(&me.account_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClaim {
    /// The client's key for this claim: a retry with it returns the same claim.
    idempotency_key: String,
    /// For `claimTo`: where to pay, until when (Unix seconds), and the
    /// wallet's EIP-712 signature of `ClaimTo`.
    to: Option<String>,
    deadline: Option<String>,
    signature: Option<String>,
}

/// `POST /api/v1/user/claims`: relays a claim of everything claimable (202;
/// poll `GET /api/v1/user/claims/{id}` for pending → confirmed).
async fn create_claim(
    State(platform): State<Platform>,
    CurrentAccount(me): CurrentAccount,
    ApiJson(body): ApiJson<NewClaim>,
) -> Result<(StatusCode, Json<ClaimView>), ApiError> {
    let claim_to = match (body.to, body.deadline, body.signature) {
        (None, None, None) => None,
        (Some(to), Some(deadline), Some(signature)) => Some(ClaimToRequest {
            to: Address::from_str(to.trim()).map_err(|_| invalid("`to` is not an address"))?,
            deadline: U256::from_str(deadline.trim())
                .map_err(|_| invalid("`deadline` is not a whole number of seconds"))?,
            signature: Bytes::from_str(signature.trim())
                .map_err(|_| invalid("`signature` is not hex"))?,
        }),
        _ => {
            return Err(invalid(
                "claiming to another address needs `to`, `deadline` and `signature`",
            ))
        }
    };
    let claim = platform
        .request_claim(&me.account_id, &body.idempotency_key, claim_to)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(claim)))
}

/// `GET /api/v1/user/claims/{id}`: one of the account's claims.
async fn claim(
    State(platform): State<Platform>,
    CurrentAccount(me): CurrentAccount,
    Path(id): Path<String>,
) -> Result<Json<ClaimView>, ApiError> {
    Ok(Json(platform.claim(&me.account_id, &id).await?))
}

fn invalid(message: &'static str) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

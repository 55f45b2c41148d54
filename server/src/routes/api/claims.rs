//! Claiming on-chain rewards without gas: the platform's relayer sends the
//! transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use meritree_core::claims::{ClaimView, Claimable};
use meritree_platform::access::AuthCheck;
use meritree_platform::chain::ClaimToRequest;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claimable))
        .routes(routes!(create_claim))
        .routes(routes!(claim))
}

/// `GET /api/v1/user/claimable`: the newest published amount for the
/// account's wallet, what is already paid, the proof, and what signing a
/// `ClaimTo` needs.
#[utoipa::path(get, path = "/user/claimable", responses((status = 200, body = Claimable)))]
async fn claimable(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Claimable>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.chain().claimable(&me.account_id).await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
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
#[utoipa::path(post, path = "/user/claims", request_body = NewClaim, responses((status = 202, body = ClaimView)))]
async fn create_claim(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<NewClaim>,
) -> Result<(StatusCode, Json<ClaimView>), ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let claim_to = ClaimToRequest::parse(
        body.to.as_deref(),
        body.deadline.as_deref(),
        body.signature.as_deref(),
    )?;
    let claim = platform
        .chain()
        .request_claim(&me.account_id, &body.idempotency_key, claim_to)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(claim)))
}

/// `GET /api/v1/user/claims/{id}`: one of the account's claims.
#[utoipa::path(get, path = "/user/claims/{id}", params(("id" = String, Path)), responses((status = 200, body = ClaimView)))]
async fn claim(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<String>,
) -> Result<Json<ClaimView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.chain().claim(&me.account_id, &id).await?))
}

//! A member's rewards from the rewards page: the same services as
//! `/api/v1/user/rewards`, `/api/v1/user/claimable` and `/api/v1/user/claims`.

use leptos::prelude::*;
use meritree_core::claims::{ClaimView, Claimable};
use meritree_core::rounds::RewardsView;

use super::error::AppError;

/// `POST /api/rewards/overview`: points not yet settled, settlements per round.
#[server(endpoint = "rewards/overview")]
pub async fn rewards_overview() -> Result<RewardsView, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    Ok(platform.rounds().rewards_of(&me.account_id).await?)
}

/// `POST /api/rewards/claimable`: what a claim pays now; `None` when there is
/// nothing yet (no wallet, or no published round for it).
#[server(endpoint = "rewards/claimable")]
pub async fn claimable_rewards() -> Result<Option<Claimable>, AppError> {
    use meritree_core::ErrorCode;
    use meritree_platform::access::AuthCheck;
    use meritree_platform::error::PublicError;

    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    match platform.chain().claimable(&me.account_id).await {
        Ok(claimable) => Ok(Some(claimable)),
        Err(err) if matches!(err.code(), ErrorCode::NothingToClaim | ErrorCode::NoWallet) => {
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /api/rewards/claim`: the platform sends the claim and pays its gas.
#[server(endpoint = "rewards/claim")]
pub async fn start_claim(idempotency_key: String) -> Result<ClaimView, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    Ok(platform
        .chain()
        .request_claim(&me.account_id, &idempotency_key, None)
        .await?)
}

/// `POST /api/rewards/claim_to`: the platform sends a claim paying `to`, as
/// the wallet signed (EIP-712 `ClaimTo`), and pays its gas.
#[server(endpoint = "rewards/claim_to")]
pub async fn start_claim_to(
    idempotency_key: String,
    to: String,
    deadline: String,
    signature: String,
) -> Result<ClaimView, AppError> {
    use meritree_platform::access::AuthCheck;
    use meritree_platform::chain::ClaimToRequest;

    let (platform, me) = super::door::authorize(AuthCheck::session()).await?;
    let claim_to = ClaimToRequest::parse(Some(&to), Some(&deadline), Some(&signature))?;
    Ok(platform
        .chain()
        .request_claim(&me.account_id, &idempotency_key, claim_to)
        .await?)
}

/// `POST /api/rewards/claim_progress`: one of the member's claims, now.
#[server(endpoint = "rewards/claim_progress")]
pub async fn claim_progress(id: String) -> Result<ClaimView, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    Ok(platform.chain().claim(&me.account_id, &id).await?)
}

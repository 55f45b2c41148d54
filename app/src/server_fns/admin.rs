//! The admin console's calls: the same services as the `/api/v1/admin/…`
//! routes, each behind `AuthCheck::admin()` (an admin's session with a
//! fresh proof of identity).

use leptos::prelude::*;
use meritree_core::accounts::{AccountId, ManagedAccount};
use meritree_core::ai::DailyModelSpend;
use meritree_core::audit::{AuditPage, AuditVerification};
use meritree_core::settlement::{ChainOverview, OutboxEntry};
use meritree_core::status::AiProviderReport;
use meritree_core::submissions::{DeadEvaluation, SubmissionId, SubmissionView};

use super::error::AppError;

/// `POST /api/admin/review_queue`: work held for a moderator.
#[server(endpoint = "admin/review_queue")]
pub async fn review_queue() -> Result<Vec<SubmissionView>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.submissions().review_queue().await?)
}

/// `POST /api/admin/moderate`: approves held work, or rejects it with a
/// reason its author sees.
#[server(endpoint = "admin/moderate")]
pub async fn moderate(
    id: SubmissionId,
    approve: bool,
    #[server(default)] reason: Option<String>,
) -> Result<SubmissionView, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::admin()).await?;
    let reason = reason.filter(|r| !r.trim().is_empty());
    Ok(platform
        .submissions()
        .moderate(&me.account_id, &id, approve, reason.as_deref())
        .await?)
}

/// `POST /api/admin/dead_evaluations`: evaluations that ran out of retries.
#[server(endpoint = "admin/dead_evaluations")]
pub async fn dead_evaluations() -> Result<Vec<DeadEvaluation>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.submissions().dead_letters().await?)
}

/// `POST /api/admin/retry_evaluation`: requeues a dead evaluation.
#[server(endpoint = "admin/retry_evaluation")]
pub async fn retry_evaluation(id: SubmissionId) -> Result<(), AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform
        .submissions()
        .retry_evaluation(&me.account_id, &id)
        .await?)
}

/// `POST /api/admin/ai_providers`: each upstream's health and breaker.
#[server(endpoint = "admin/ai_providers")]
pub async fn ai_providers() -> Result<Vec<AiProviderReport>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.ai_providers())
}

/// `POST /api/admin/ai_spending`: every account's spending per day and
/// model over the last `days` days.
#[server(endpoint = "admin/ai_spending")]
pub async fn ai_spending(days: u32) -> Result<Vec<DailyModelSpend>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.ai().daily_spending(days).await?)
}

/// `POST /api/admin/audit_entries`: audit entries after `after`, oldest first.
#[server(endpoint = "admin/audit_entries")]
pub async fn audit_entries(#[server(default)] after: Option<i64>) -> Result<AuditPage, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.audit().page(after, None).await?)
}

/// `POST /api/admin/verify_audit`: the whole chain checked.
#[server(endpoint = "admin/verify_audit")]
pub async fn verify_audit() -> Result<AuditVerification, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.audit().verify().await?)
}

/// `POST /api/admin/accounts`: accounts matching `query`.
#[server(endpoint = "admin/accounts")]
pub async fn find_accounts(query: String) -> Result<Vec<ManagedAccount>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.accounts().search(&query).await?)
}

/// `POST /api/admin/change_role`: gives an account a role; its sessions end.
#[server(endpoint = "admin/change_role")]
pub async fn change_role(id: AccountId, role: String) -> Result<ManagedAccount, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform
        .accounts()
        .change_role(&me.account_id, &id, &role)
        .await?)
}

/// `POST /api/admin/set_disabled`: disables an account, or enables it.
#[server(endpoint = "admin/set_disabled")]
pub async fn set_disabled(id: AccountId, disabled: bool) -> Result<ManagedAccount, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::admin()).await?;
    let accounts = platform.accounts();
    Ok(match disabled {
        true => accounts.disable(&me.account_id, &id).await?,
        false => accounts.enable(&me.account_id, &id).await?,
    })
}

/// `POST /api/admin/end_sessions`: ends every session of an account.
#[server(endpoint = "admin/end_sessions")]
pub async fn end_sessions(id: AccountId) -> Result<u64, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform
        .accounts()
        .end_sessions_of(&me.account_id, &id)
        .await?)
}

/// `POST /api/admin/chain`: the distributor, the platform key, the outbox.
#[server(endpoint = "admin/chain")]
pub async fn chain_state() -> Result<ChainOverview, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, _) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform.chain().overview().await?)
}

/// `POST /api/admin/claims_paused`: queues pausing or resuming claims.
#[server(endpoint = "admin/claims_paused")]
pub async fn set_claims_paused(
    paused: bool,
    idempotency_key: String,
) -> Result<OutboxEntry, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::admin()).await?;
    Ok(platform
        .chain()
        .set_claims_paused(&me.account_id, paused, &idempotency_key)
        .await?)
}

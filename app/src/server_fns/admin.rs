//! The admin console's calls: the same services as the `/api/v1/admin/…`
//! routes, each behind `AuthCheck::admin()` (an admin's session with a
//! fresh proof of identity).

use leptos::prelude::*;
use meritree_core::ai::DailyModelSpend;
use meritree_core::audit::{AuditPage, AuditVerification};
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

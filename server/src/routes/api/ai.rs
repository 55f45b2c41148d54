//! An account's AI spending over HTTP: what it used, and its budgets. A
//! member limits what each of their API keys may spend; the account's own
//! budget is the platform's limit on the member, so only admins set it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::accounts::AuthError;
use meritree_platform::ai::{
    AiBudget, AiError, AiUsageSummary, BudgetPeriod, BudgetScope, BudgetStatus,
};
use meritree_platform::principal::Principal;
use meritree_platform::{clock, Platform};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user/ai/usage", get(my_usage))
        .route("/user/ai/budgets", get(my_budgets))
        .route(
            "/user/api-keys/{id}/ai-budgets/{period}",
            put(set_key_budget).delete(delete_key_budget),
        )
        .route(
            "/admin/accounts/{id}/ai-budgets/{period}",
            put(set_account_budget).delete(delete_account_budget),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    /// Unix seconds; default: the start of the current UTC month.
    since: Option<i64>,
}

/// `GET /api/v1/user/ai/usage?since=`: requests, tokens and cost per
/// provider and model since `since`, costliest first, with the total.
async fn my_usage(
    State(platform): State<Platform>,
    Caller(request): Caller,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<AiUsageSummary>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    let Query(query) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    let since = query
        .since
        .unwrap_or_else(|| BudgetPeriod::Month.start(clock::unix_secs()));
    let summary = platform
        .ai()
        .usage_summary(&me.account_id, since)
        .await
        .map_err(AiError::from)?;
    Ok(Json(summary))
}

/// `GET /api/v1/user/ai/budgets`: the budgets on the account and on each of
/// its live API keys, with what the current period has spent and when it
/// resets.
async fn my_budgets(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<BudgetStatus>>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    let statuses = platform
        .ai()
        .budget_statuses(&me.account_id, clock::unix_secs())
        .await
        .map_err(AiError::from)?;
    Ok(Json(statuses))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLimit {
    /// Billionths of a US dollar per period; 0 allows nothing.
    limit_nanos: u64,
}

fn period(text: &str) -> Result<BudgetPeriod, ApiError> {
    BudgetPeriod::parse(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "the budget period is `day` or `month`",
        )
    })
}

/// The budget of one of `me`'s keys (the door already required a session:
/// a program must not lift the cap its owner put on its key).
async fn own_key(
    platform: &Platform,
    me: &Principal,
    key_id: &str,
) -> Result<BudgetScope, ApiError> {
    if platform
        .ai()
        .owns_api_key(&me.account_id, key_id)
        .await
        .map_err(AiError::from)?
    {
        Ok(BudgetScope::ApiKey(key_id.to_owned()))
    } else {
        Err(ApiError::new(ErrorCode::NotFound, "no such API key"))
    }
}

async fn set_budget(
    platform: &Platform,
    scope: BudgetScope,
    period: BudgetPeriod,
    limit_nanos: u64,
) -> Result<Json<AiBudgetView>, ApiError> {
    let budget = platform
        .ai()
        .set_budget(&scope, period, limit_nanos)
        .await
        .map_err(AiError::from)?;
    tracing::info!(scope = scope.kind(), id = scope.id(), %period, limit_nanos, "AI budget set");
    Ok(Json(AiBudgetView::from(budget)))
}

async fn delete_budget(
    platform: &Platform,
    scope: BudgetScope,
    period: BudgetPeriod,
) -> Result<StatusCode, ApiError> {
    if platform
        .ai()
        .delete_budget(&scope, period)
        .await
        .map_err(AiError::from)?
    {
        tracing::info!(scope = scope.kind(), id = scope.id(), %period, "AI budget removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::NotFound,
            "no budget for this period",
        ))
    }
}

/// `PUT /api/v1/user/api-keys/{id}/ai-budgets/{day|month}`: limits what one
/// of the account's keys may spend per UTC day or month, replacing any
/// earlier limit.
async fn set_key_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((key_id, period_name)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewLimit>,
) -> Result<Json<AiBudgetView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let period = period(&period_name)?;
    let scope = own_key(&platform, &me, &key_id).await?;
    set_budget(&platform, scope, period, body.limit_nanos).await
}

/// `DELETE /api/v1/user/api-keys/{id}/ai-budgets/{day|month}`: lifts the
/// key's limit (204; 404 when it had none).
async fn delete_key_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((key_id, period_name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let period = period(&period_name)?;
    let scope = own_key(&platform, &me, &key_id).await?;
    delete_budget(&platform, scope, period).await
}

async fn admin_scope(platform: &Platform, account_id: &str) -> Result<BudgetScope, ApiError> {
    match platform.accounts().account(&account_id.into()).await {
        Ok(_) => {}
        Err(AuthError::Unauthenticated) => {
            return Err(ApiError::new(ErrorCode::NotFound, "no such account"))
        }
        Err(other) => return Err(other.into()),
    }
    Ok(BudgetScope::Account(account_id.to_owned()))
}

/// `PUT /api/v1/admin/accounts/{id}/ai-budgets/{day|month}` (admins only):
/// limits what an account spends in all, with any key or none.
async fn set_account_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((account_id, period_name)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewLimit>,
) -> Result<Json<AiBudgetView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let _admin = me;
    let scope = admin_scope(&platform, &account_id).await?;
    set_budget(&platform, scope, period(&period_name)?, body.limit_nanos).await
}

/// `DELETE /api/v1/admin/accounts/{id}/ai-budgets/{day|month}` (admins
/// only): lifts the account's limit (204; 404 when it had none).
async fn delete_account_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((account_id, period_name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let _admin = me;
    let scope = admin_scope(&platform, &account_id).await?;
    delete_budget(&platform, scope, period(&period_name)?).await
}

/// A budget as set.
#[derive(serde::Serialize)]
struct AiBudgetView {
    scope: &'static str,
    id: String,
    period: &'static str,
    limit_nanos: u64,
    updated_at: i64,
}

impl From<AiBudget> for AiBudgetView {
    fn from(budget: AiBudget) -> Self {
        Self {
            scope: budget.scope.kind(),
            id: budget.scope.id().to_owned(),
            period: budget.period.as_str(),
            limit_nanos: budget.limit_nanos,
            updated_at: budget.updated_at,
        }
    }
}

//! An account's AI spending over HTTP: what it used, and its budgets. A
//! member limits what each of their API keys may spend; the account's own
//! budget is the platform's limit on the member, so only admins set it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use meritree_core::accounts::ApiKeyId;
use meritree_core::ErrorCode;
use meritree_platform::access::AuthCheck;
use meritree_platform::ai::{
    AiBudget, AiError, AiUsageSummary, BudgetPeriod, BudgetStatus, BudgetTarget, DailyModelSpend,
};
use meritree_platform::{clock, Platform};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_usage))
        .routes(routes!(my_budgets))
        .routes(routes!(set_key_budget, delete_key_budget))
        .routes(routes!(set_account_budget, delete_account_budget))
        .routes(routes!(daily_spending))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SpendingQuery {
    /// Default 14.
    days: Option<u32>,
}

/// `GET /api/v1/admin/ai/spending?days=` (admins only): every account's
/// requests, tokens and cost per UTC day and model over the last `days`
/// days (1 to 92), today included.
#[utoipa::path(get, path = "/admin/ai/spending", params(SpendingQuery), responses((status = 200, body = [DailyModelSpend])))]
async fn daily_spending(
    State(platform): State<Platform>,
    Caller(request): Caller,
    query: Result<Query<SpendingQuery>, QueryRejection>,
) -> Result<Json<Vec<DailyModelSpend>>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    let Query(query) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    Ok(Json(
        platform
            .ai()
            .daily_spending(query.days.unwrap_or(14))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    /// Unix seconds; default: the start of the current UTC month.
    since: Option<i64>,
}

/// `GET /api/v1/user/ai/usage?since=`: requests, tokens and cost per
/// provider and model (and serving node, for the compute network) since
/// `since`, costliest first, with the total.
#[utoipa::path(get, path = "/user/ai/usage", params(UsageQuery), responses((status = 200, body = AiUsageSummary)))]
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
#[utoipa::path(get, path = "/user/ai/budgets", responses((status = 200, body = [BudgetStatus])))]
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

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLimit {
    /// Billionths of a US dollar per period; 0 allows nothing.
    limit_nanos: u64,
}

/// `PUT /api/v1/user/api-keys/{id}/ai-budgets/{day|month}` (a session: a
/// program must not lift the cap its owner put on its key): limits what one
/// of the account's keys may spend per UTC day or month, replacing any
/// earlier limit.
#[utoipa::path(put, path = "/user/api-keys/{id}/ai-budgets/{period}", params(("id" = String, Path), ("period" = String, Path, pattern = "^(day|month)$")), request_body = NewLimit, responses((status = 200, body = AiBudgetView)))]
async fn set_key_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((key_id, period)): Path<(ApiKeyId, String)>,
    ApiJson(body): ApiJson<NewLimit>,
) -> Result<Json<AiBudgetView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let target = BudgetTarget::OwnKey {
        owner: &me.account_id,
        key_id: &key_id,
    };
    let budget = platform
        .ai()
        .limit(target, &period, body.limit_nanos)
        .await?;
    Ok(Json(AiBudgetView::from(budget)))
}

/// `DELETE /api/v1/user/api-keys/{id}/ai-budgets/{day|month}`: lifts the
/// key's limit (204; 404 when it had none).
#[utoipa::path(delete, path = "/user/api-keys/{id}/ai-budgets/{period}", params(("id" = String, Path), ("period" = String, Path, pattern = "^(day|month)$")), responses((status = 204)))]
async fn delete_key_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((key_id, period)): Path<(ApiKeyId, String)>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::session()).await?;
    let target = BudgetTarget::OwnKey {
        owner: &me.account_id,
        key_id: &key_id,
    };
    platform.ai().lift(target, &period).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/admin/accounts/{id}/ai-budgets/{day|month}` (admins only):
/// limits what an account spends in all, with any key or none.
#[utoipa::path(put, path = "/admin/accounts/{id}/ai-budgets/{period}", params(("id" = String, Path), ("period" = String, Path, pattern = "^(day|month)$")), request_body = NewLimit, responses((status = 200, body = AiBudgetView)))]
async fn set_account_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((account_id, period)): Path<(String, String)>,
    ApiJson(body): ApiJson<NewLimit>,
) -> Result<Json<AiBudgetView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let budget = platform
        .ai()
        .limit_account(
            &me.account_id,
            &account_id.into(),
            &period,
            body.limit_nanos,
        )
        .await?;
    Ok(Json(AiBudgetView::from(budget)))
}

/// `DELETE /api/v1/admin/accounts/{id}/ai-budgets/{day|month}` (admins
/// only): lifts the account's limit (204; 404 when it had none).
#[utoipa::path(delete, path = "/admin/accounts/{id}/ai-budgets/{period}", params(("id" = String, Path), ("period" = String, Path, pattern = "^(day|month)$")), responses((status = 204)))]
async fn delete_account_budget(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path((account_id, period)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    platform
        .ai()
        .lift_account(&me.account_id, &account_id.into(), &period)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A budget as set.
#[derive(utoipa::ToSchema, serde::Serialize)]
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

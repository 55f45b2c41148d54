//! Spending limits on AI requests: per account and per API key, per UTC day
//! and month, checked before a request is sent upstream.
//!
//! # Concurrency
//!
//! [`Platform::check_ai_budget`] reads what was spent so far; a request's
//! cost is only recorded once its answer is in (the output's length is not
//! known before). So requests in flight together can each pass the check
//! and together overshoot a limit, each by at most its own cost: the first
//! request recorded after the limit is reached makes every later check
//! fail. That is accepted: a strict limit would have to reserve a guessed
//! cost up front, or serialise an account's requests behind a lock held
//! for a whole upstream call (seconds); the overshoot is bounded by the
//! caller's own concurrency (which its rate limit bounds) times one
//! request's cost. Limits and spending are read through the budget cache
//! ([`super::budget_cache`]), which adds what other instances spent in the
//! last second to that bound.

use super::{Ai, AiError};
use meritree_core::accounts::{AccountId, ApiKeyId};
use std::fmt;

pub use meritree_core::ai::BudgetStatus;
use meritree_store::ai_usage::{self as store, BudgetRecord, Scope};
use meritree_store::{api_keys, StoreError};

use super::calendar;
use crate::clock;
use crate::invalidation::Invalidation;

/// Whose spending a budget limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BudgetScope {
    /// Everything the account spends, with any key or none.
    Account(String),
    /// What is spent with this API key.
    ApiKey(String),
}

impl BudgetScope {
    fn store(&self) -> Scope<'_> {
        match self {
            BudgetScope::Account(id) => Scope::Account(id),
            BudgetScope::ApiKey(id) => Scope::ApiKey(id),
        }
    }

    /// `account` or `api_key`, as stored.
    pub fn kind(&self) -> &'static str {
        self.store().kind()
    }

    pub fn id(&self) -> &str {
        match self {
            BudgetScope::Account(id) | BudgetScope::ApiKey(id) => id,
        }
    }

    fn from_stored(kind: &str, id: &str) -> Option<Self> {
        match kind {
            "account" => Some(BudgetScope::Account(id.to_owned())),
            "api_key" => Some(BudgetScope::ApiKey(id.to_owned())),
            _ => None,
        }
    }
}

/// The calendar period a budget covers, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetPeriod {
    /// From midnight UTC to the next.
    Day,
    /// From the first of the month at midnight UTC to the next first.
    Month,
}

impl BudgetPeriod {
    pub const ALL: [BudgetPeriod; 2] = [BudgetPeriod::Day, BudgetPeriod::Month];

    /// `day` or `month`, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Month => "month",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// When the period holding the unix time `now` began.
    pub fn start(self, now: i64) -> i64 {
        match self {
            BudgetPeriod::Day => calendar::day_start(now),
            BudgetPeriod::Month => calendar::month_start(now),
        }
    }

    /// When the period holding `now` ends, which is when the next begins.
    pub fn end(self, now: i64) -> i64 {
        match self {
            BudgetPeriod::Day => calendar::next_day_start(now),
            BudgetPeriod::Month => calendar::next_month_start(now),
        }
    }

    const fn adjective(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "daily",
            BudgetPeriod::Month => "monthly",
        }
    }
}

impl fmt::Display for BudgetPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit on what a scope may spend per period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiBudget {
    pub scope: BudgetScope,
    pub period: BudgetPeriod,
    /// Billionths of a US dollar. 0 allows nothing.
    pub limit_nanos: u64,
    pub updated_at: i64,
}

impl AiBudget {
    /// `None` for a row this build cannot read (the table's checks keep
    /// them out).
    fn from_record(record: BudgetRecord) -> Option<Self> {
        let parsed = BudgetScope::from_stored(&record.scope_kind, &record.scope_id)
            .zip(BudgetPeriod::parse(&record.period));
        let Some((scope, period)) = parsed else {
            tracing::warn!(
                ?record,
                "ignoring an AI budget of an unknown kind or period"
            );
            return None;
        };
        Some(Self {
            scope,
            period,
            limit_nanos: u64::try_from(record.limit_nanos).unwrap_or(0),
            updated_at: record.updated_at,
        })
    }
}

/// A budget that is spent: the request must not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded {
    pub scope: BudgetScope,
    pub period: BudgetPeriod,
    pub limit_nanos: u64,
    /// What was spent in the current period; at least `limit_nanos`.
    pub spent_nanos: u64,
    /// When the period ends (unix seconds) and the budget is available again.
    pub resets_at: i64,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = match self.scope {
            BudgetScope::Account(_) => "this account",
            BudgetScope::ApiKey(_) => "this API key",
        };
        write!(
            f,
            "the {} AI budget of {whose} is spent ({} of {} nano-dollars); it resets at {}",
            self.period.adjective(),
            self.spent_nanos,
            self.limit_nanos,
            calendar::format_utc(self.resets_at),
        )
    }
}

impl std::error::Error for BudgetExceeded {}

/// Why [`Platform::check_ai_budget`] did not admit a request.
#[derive(Debug, thiserror::Error)]
pub enum BudgetCheckError {
    #[error(transparent)]
    Exceeded(#[from] BudgetExceeded),
    /// The budgets or the spending could not be read: the request is not
    /// admitted (nothing is sent that might not be accounted for).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn to_nanos(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Ai<'_> {
    /// Sets the limit of `scope` for `period`, replacing any earlier one.
    /// Limits above `i64::MAX` n$ (about 9.2 billion dollars) are stored as
    /// that.
    pub async fn set_budget(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
        limit_nanos: u64,
    ) -> Result<AiBudget, StoreError> {
        let limit = i64::try_from(limit_nanos).unwrap_or(i64::MAX);
        let record = store::set_budget(
            self.db(),
            scope.store(),
            period.as_str(),
            limit,
            clock::unix_secs(),
        )
        .await?;
        self.budgets_changed(scope);
        Ok(AiBudget {
            scope: scope.clone(),
            period,
            limit_nanos: to_nanos(record.limit_nanos),
            updated_at: record.updated_at,
        })
    }

    /// Removes the limit; whether there was one.
    pub async fn delete_budget(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
    ) -> Result<bool, StoreError> {
        let deleted = store::delete_budget(self.db(), scope.store(), period.as_str()).await?;
        self.budgets_changed(scope);
        Ok(deleted)
    }

    /// The limits set on `scope`, day before month.
    pub async fn budgets(&self, scope: &BudgetScope) -> Result<Vec<AiBudget>, StoreError> {
        let records = store::budgets(self.db(), scope.store()).await?;
        Ok(records
            .into_iter()
            .filter_map(AiBudget::from_record)
            .collect())
    }

    /// Every budget on the account and on its live API keys, account first,
    /// with what the period holding `now` has spent of each.
    pub async fn budget_statuses(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> Result<Vec<BudgetStatus>, StoreError> {
        let mut scopes = vec![BudgetScope::Account(account_id.to_string())];
        for key in api_keys::list(self.db(), account_id, now).await? {
            scopes.push(BudgetScope::ApiKey(key.id));
        }
        let mut statuses = Vec::new();
        for scope in scopes {
            for budget in self.budgets(&scope).await? {
                statuses.push(BudgetStatus {
                    scope: scope.kind().to_owned(),
                    api_key_id: match &scope {
                        BudgetScope::ApiKey(id) => Some(id.clone()),
                        BudgetScope::Account(_) => None,
                    },
                    period: budget.period.as_str().to_owned(),
                    limit_nanos: budget.limit_nanos,
                    spent_nanos: self.spent(&scope, budget.period, now).await?,
                    resets_at: budget.period.end(now),
                });
            }
        }
        Ok(statuses)
    }

    /// Whether `key_id` is one of the account's live API keys: a key's
    /// budget is its owner's to set.
    pub async fn owns_api_key(
        &self,
        account_id: &AccountId,
        key_id: &ApiKeyId,
    ) -> Result<bool, StoreError> {
        Ok(
            api_keys::list(self.db(), account_id, crate::clock::unix_secs())
                .await?
                .iter()
                .any(|key| key.id == key_id.as_str()),
        )
    }

    /// What `scope` spent in the `period` holding `now`, in n$.
    pub async fn spent(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.flush_usage().await?;
        let spent = store::spent_since(self.db(), scope.store(), period.start(now)).await?;
        Ok(to_nanos(spent))
    }

    /// Admits a request of `account_id` (with `api_key_id` when a program
    /// sent it) at the unix time `now`, or says which budget is spent:
    /// every limit on the account and on the key, for the day and for the
    /// month holding `now`, is checked, and a budget is spent when what
    /// was spent in its period is at least its limit. When several are,
    /// the one that resets last is returned (nothing is admitted before
    /// then). Call it before anything is sent upstream; see the module
    /// documentation for what concurrent requests may overshoot.
    pub async fn check_budget(
        &self,
        account_id: &AccountId,
        api_key_id: Option<&str>,
        now: i64,
    ) -> Result<(), BudgetCheckError> {
        let budgets = self.applicable_budgets(account_id, api_key_id).await?;
        let mut refusal: Option<BudgetExceeded> = None;
        for budget in budgets {
            let spent = self.spent_now(&budget.scope, budget.period, now).await?;
            if spent < budget.limit_nanos {
                continue;
            }
            let resets_at = budget.period.end(now);
            if refusal.as_ref().is_none_or(|r| resets_at > r.resets_at) {
                refusal = Some(BudgetExceeded {
                    scope: budget.scope,
                    period: budget.period,
                    limit_nanos: budget.limit_nanos,
                    spent_nanos: spent,
                    resets_at,
                });
            }
        }
        match refusal {
            Some(exceeded) => Err(exceeded.into()),
            None => Ok(()),
        }
    }
}

impl Ai<'_> {
    /// The limits on a request of `account_id` with `api_key_id`: from the
    /// budget cache, else read (and cached unless a budget changed while
    /// they were read).
    async fn applicable_budgets(
        &self,
        account_id: &AccountId,
        api_key_id: Option<&str>,
    ) -> Result<Vec<AiBudget>, StoreError> {
        let cache = self.budget_cache();
        let max_age = self.freshness().max_age();
        if let Some(budgets) = cache.limits(account_id.as_str(), api_key_id, max_age) {
            return Ok(budgets);
        }
        let generation = self.freshness().generation();
        let read_at = std::time::Instant::now();
        let budgets: Vec<AiBudget> = store::applicable_budgets(self.db(), account_id, api_key_id)
            .await?
            .into_iter()
            .filter_map(AiBudget::from_record)
            .collect();
        cache.store_limits(
            account_id.as_str(),
            api_key_id,
            budgets.clone(),
            read_at,
            || self.freshness().unchanged_since(generation),
        );
        Ok(budgets)
    }

    /// What `scope` spent in the `period` holding `now`, as the budget
    /// check sees it: the cached figure, read again once a second.
    async fn spent_now(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
        now: i64,
    ) -> Result<u64, StoreError> {
        let start = period.start(now);
        match self.budget_cache().spent(scope, period, start) {
            Ok(spent) => Ok(spent),
            Err(read) => {
                let stored = self.spent(scope, period, now).await?;
                Ok(self
                    .budget_cache()
                    .store_spent(scope, period, start, read, stored))
            }
        }
    }

    fn budgets_changed(&self, scope: &BudgetScope) {
        self.invalidate(match scope {
            BudgetScope::Account(id) => Invalidation::AccountBudgets {
                account_id: id.clone(),
            },
            BudgetScope::ApiKey(id) => Invalidation::KeyBudgets {
                api_key_id: id.clone(),
            },
        });
    }
}

/// Whose budget a change is for. Which callers may name which target is
/// the door's `AuthCheck` (a key's owner from a session; admins for an
/// account); that the target exists and is the caller's is checked here.
#[derive(Debug, Clone, Copy)]
pub enum BudgetTarget<'a> {
    /// One of `owner`'s live API keys.
    OwnKey {
        owner: &'a AccountId,
        key_id: &'a ApiKeyId,
    },
    /// A whole account.
    Account(&'a AccountId),
}

impl Ai<'_> {
    /// Sets the limit of `target` for `period` (`day` or `month`),
    /// replacing any earlier one.
    #[tracing::instrument(skip_all)]
    pub async fn limit(
        &self,
        target: BudgetTarget<'_>,
        period: &str,
        limit_nanos: u64,
    ) -> Result<AiBudget, AiError> {
        let period = BudgetPeriod::parse(period).ok_or(AiError::InvalidPeriod)?;
        let scope = self.scope_of(target).await?;
        let budget = self.set_budget(&scope, period, limit_nanos).await?;
        tracing::info!(scope = scope.kind(), id = scope.id(), %period, limit_nanos, "AI budget set");
        Ok(budget)
    }

    /// An admin's limit on what `account` spends in all: [`Self::limit`],
    /// audited.
    pub async fn limit_account(
        &self,
        admin: &AccountId,
        account: &AccountId,
        period: &str,
        limit_nanos: u64,
    ) -> Result<AiBudget, AiError> {
        let budget = self
            .limit(BudgetTarget::Account(account), period, limit_nanos)
            .await?;
        self.audit_budget(admin, account, period, Some(limit_nanos))
            .await?;
        Ok(budget)
    }

    /// An admin lifting `account`'s limit: [`Self::lift`], audited.
    pub async fn lift_account(
        &self,
        admin: &AccountId,
        account: &AccountId,
        period: &str,
    ) -> Result<(), AiError> {
        self.lift(BudgetTarget::Account(account), period).await?;
        self.audit_budget(admin, account, period, None).await?;
        Ok(())
    }

    async fn audit_budget(
        &self,
        admin: &AccountId,
        account: &AccountId,
        period: &str,
        limit_nanos: Option<u64>,
    ) -> Result<(), StoreError> {
        self.audit()
            .record(
                admin.as_str(),
                meritree_core::audit::AuditAction::AiBudgetChanged,
                account.as_str(),
                None,
                Some(serde_json::json!({ "period": period, "limit_nanos": limit_nanos })),
            )
            .await
            .map(drop)
    }

    /// Lifts the limit of `target` for `period`.
    #[tracing::instrument(skip_all)]
    pub async fn lift(&self, target: BudgetTarget<'_>, period: &str) -> Result<(), AiError> {
        let period = BudgetPeriod::parse(period).ok_or(AiError::InvalidPeriod)?;
        let scope = self.scope_of(target).await?;
        if !self.delete_budget(&scope, period).await? {
            return Err(AiError::NoSuchBudget);
        }
        tracing::info!(scope = scope.kind(), id = scope.id(), %period, "AI budget removed");
        Ok(())
    }

    async fn scope_of(&self, target: BudgetTarget<'_>) -> Result<BudgetScope, AiError> {
        match target {
            BudgetTarget::OwnKey { owner, key_id } => {
                if self.owns_api_key(owner, key_id).await? {
                    Ok(BudgetScope::ApiKey(key_id.to_string()))
                } else {
                    Err(AiError::NoSuchKey)
                }
            }
            BudgetTarget::Account(account_id) => {
                if meritree_store::accounts::find_by_id(self.db(), account_id)
                    .await?
                    .is_none()
                {
                    return Err(AiError::NoSuchAccount);
                }
                Ok(BudgetScope::Account(account_id.to_string()))
            }
        }
    }
}

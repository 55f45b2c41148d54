//! Recording what each AI request used and cost, and summing it up per
//! account.

use super::Ai;
use meritree_core::accounts::AccountId;
pub use meritree_core::ai::{
    AiUsageSummary, DailyModelSpend, ModelUsage, UsageTotals, MAX_SPENDING_DAYS,
};
use meritree_store::ai_usage::{self as store, ModelTotals, NewUsage, UsageStatus};
use meritree_store::StoreError;

use super::usage_writer::UsageJob;
use crate::clock;

/// One gateway request's usage, as the gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// The gateway's id for the request: recording it twice records once.
    pub request_id: String,
    pub account_id: String,
    /// The key a program sent the request with; `None` for a session.
    pub api_key_id: Option<String>,
    /// Who answered, and the upstream model.
    pub provider: String,
    pub model: String,
    /// The name the caller asked for (a route, an alias or a model).
    pub public_model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Billionths of a US dollar. Recorded as 0 when `cached`.
    pub cost_nanos: u64,
    /// Answered from the response cache: nothing was sent upstream.
    pub cached: bool,
    /// Whether the request succeeded (a failed stream still records what it
    /// used).
    pub ok: bool,
    /// The compute node that answered, for the `nodes` provider; looked up
    /// when the usage is recorded.
    pub served_by: Option<String>,
}

impl UsageRecord {
    /// The row to store under the row id `id` at the unix time `now`.
    pub(crate) fn row<'a>(&'a self, id: &'a str, now: i64) -> NewUsage<'a> {
        NewUsage {
            id,
            request_id: &self.request_id,
            account_id: &self.account_id,
            api_key_id: self.api_key_id.as_deref(),
            provider: &self.provider,
            model: &self.model,
            public_model: &self.public_model,
            input_tokens: stored(self.input_tokens),
            output_tokens: stored(self.output_tokens),
            // A cache hit sent nothing upstream, so it costs nothing.
            cost_nanos: if self.cached {
                0
            } else {
                stored(self.cost_nanos)
            },
            cached: self.cached,
            status: if self.ok {
                UsageStatus::Ok
            } else {
                UsageStatus::Error
            },
            served_by: self.served_by.as_deref(),
            now,
        }
    }
}

fn model_usage(row: ModelTotals) -> ModelUsage {
    let n = |value: i64| u64::try_from(value).unwrap_or(0);
    ModelUsage {
        totals: UsageTotals {
            requests: n(row.requests),
            cached_requests: n(row.cached_requests),
            failed_requests: n(row.failed_requests),
            input_tokens: n(row.input_tokens),
            output_tokens: n(row.output_tokens),
            cost_nanos: n(row.cost_nanos),
        },
        provider: row.provider,
        model: row.model,
        served_by: row.served_by,
    }
}

/// The store keeps signed 64-bit integers; nothing real comes near the
/// limit (9.2e18 tokens, or 9.2 billion dollars in one request).
fn stored(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Ai<'_> {
    /// Records one request's usage now. Recording the same `request_id`
    /// again is a no-op, so a failed write may be retried.
    pub async fn record_usage(&self, record: UsageRecord) -> Result<(), StoreError> {
        self.record_usage_at(record, clock::unix_secs())
            .await
            .map(drop)
    }

    /// [`Self::record_usage`] at the unix time `now`; whether this call
    /// wrote the record (`false`: the request id was recorded before).
    pub async fn record_usage_at(
        &self,
        mut record: UsageRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.look_up_node(&mut record).await?;
        let job = UsageJob::new(record.clone(), now);
        let written = self.usage_writer().write(job).await?;
        if written {
            self.counted(&record, now);
        }
        Ok(written)
    }

    /// Queues the usage of a request the gateway has just answered, with a
    /// request id of its own making (so never recorded before), and
    /// returns without waiting for the commit: the answer does not wait
    /// for the disk. Budgets count it at once; reads of usage
    /// ([`Self::usage_summary`], [`Self::spent`], [`Self::daily_spending`])
    /// flush the queue first, so they see it. A crash loses what is
    /// queued and not yet committed: at most one batch, a few milliseconds
    /// of requests (decision 0035).
    pub(crate) async fn queue_usage(&self, mut record: UsageRecord) -> Result<(), StoreError> {
        self.look_up_node(&mut record).await?;
        let now = clock::unix_secs();
        self.usage_writer()
            .queue(UsageJob::new(record.clone(), now))
            .await?;
        self.counted(&record, now);
        Ok(())
    }

    /// Once every usage record queued so far is committed.
    pub async fn flush_usage(&self) -> Result<(), StoreError> {
        self.usage_writer().flush().await
    }

    /// Which compute node answered, for the `nodes` provider.
    async fn look_up_node(&self, record: &mut UsageRecord) -> Result<(), StoreError> {
        if record.provider == meritree_ai::gateway::NODES && record.served_by.is_none() {
            record.served_by =
                meritree_store::compute::served_by(self.db(), &record.request_id).await?;
        }
        Ok(())
    }

    /// A newly recorded request, added to the budgets and the metrics.
    fn counted(&self, record: &UsageRecord, now: i64) {
        let cost = if record.cached { 0 } else { record.cost_nanos };
        self.budget_cache()
            .add_spent(&record.account_id, record.api_key_id.as_deref(), cost, now);
        self.metrics().ai_request(record);
    }

    /// What the account's AI requests used this UTC month, and every budget
    /// on the account and its keys.
    pub async fn spending(
        &self,
        account_id: &AccountId,
    ) -> Result<meritree_core::ai::AiSpending, super::AiError> {
        let now = clock::unix_secs();
        let since = super::BudgetPeriod::Month.start(now);
        Ok(meritree_core::ai::AiSpending {
            usage: self.usage_summary(account_id, since).await?,
            budgets: self.budget_statuses(account_id, now).await?,
        })
    }

    /// Every account's spending per UTC day and model over the last `days`
    /// days, today included (1 to [`MAX_SPENDING_DAYS`]).
    pub async fn daily_spending(&self, days: u32) -> Result<Vec<DailyModelSpend>, super::AiError> {
        if !(1..=MAX_SPENDING_DAYS).contains(&days) {
            return Err(super::AiError::InvalidSpan);
        }
        self.flush_usage().await?;
        let today = super::BudgetPeriod::Day.start(clock::unix_secs());
        let since = today - (i64::from(days) - 1) * 86_400;
        let n = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok(store::daily_totals(self.db(), since)
            .await?
            .into_iter()
            .map(|row| DailyModelSpend {
                day: row.day,
                provider: row.provider,
                model: row.model,
                requests: n(row.requests),
                failed_requests: n(row.failed_requests),
                input_tokens: n(row.input_tokens),
                output_tokens: n(row.output_tokens),
                cost_nanos: n(row.cost_nanos),
            })
            .collect())
    }

    /// What the account's requests used from `since` (unix seconds,
    /// inclusive) on.
    pub async fn usage_summary(
        &self,
        account_id: &AccountId,
        since: i64,
    ) -> Result<AiUsageSummary, StoreError> {
        self.flush_usage().await?;
        let models: Vec<ModelUsage> = store::summary(self.db(), account_id, since)
            .await?
            .into_iter()
            .map(model_usage)
            .collect();
        let mut total = UsageTotals::default();
        for model in &models {
            total.add(&model.totals);
        }
        Ok(AiUsageSummary {
            since,
            models,
            total,
        })
    }
}

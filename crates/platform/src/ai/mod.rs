//! The AI gateway's platform side, what needs accounts: requests end to end
//! (`requests`), usage and cost recorded per request (`usage`), spending
//! limits checked before a request is sent (`budgets`, read through
//! `budget_cache`), and the
//! exact-match response cache (`cache`). Talking to models is
//! `meritree_ai`'s job.

pub mod answer_events;
pub mod budget_cache;
pub mod budgets;
pub mod cache;
mod calendar;
pub mod requests;
#[cfg(test)]
mod tests;
pub mod usage;
pub(crate) mod usage_writer;

pub use self::answer_events::AnswerEvent;
pub use self::budgets::{
    AiBudget, BudgetCheckError, BudgetExceeded, BudgetPeriod, BudgetScope, BudgetStatus,
    BudgetTarget,
};
pub use self::cache::{CacheError, MemoryCache, RedisCache, ResponseCache};
pub use self::requests::{AiCaller, AiError, ChatAnswer, ChatStreamAnswer, EmbedAnswer};
pub use self::usage::{AiUsageSummary, DailyModelSpend, ModelUsage, UsageRecord, UsageTotals};

service!(
    /// AI for accounts: requests through the gateway, budgets, usage, the response cache.
    Ai,
    ai
);

/// A budget check that could not admit a request: spent, or unreadable.
impl From<BudgetCheckError> for AiError {
    fn from(error: BudgetCheckError) -> Self {
        match error {
            BudgetCheckError::Exceeded(exceeded) => AiError::Budget(exceeded),
            BudgetCheckError::Store(error) => AiError::Store(error),
        }
    }
}

/// A new id for a gateway request or its usage row. Time-ordered (UUIDv7):
/// the usage table's unique indexes on both then grow at one end, where a
/// random id rewrote a random index page per row, most of what SQLite spent
/// on a gateway request. Nothing is kept secret by these ids.
pub(crate) fn time_ordered_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

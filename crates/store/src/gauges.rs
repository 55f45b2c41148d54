//! How many rows of each kind are in each state, for the metrics endpoint:
//! queue depths (the outbox, evaluation jobs, compute tasks) and rounds.
//! Every column counted is indexed or the table is small.

use crate::{with_pool, Database, StoreError};

/// What can be counted by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The platform's chain transactions (the outbox).
    ChainTxs,
    Rounds,
    EvaluationJobs,
    ComputeTasks,
    ComputeNodes,
}

impl Counted {
    pub const ALL: [Counted; 5] = [
        Counted::ChainTxs,
        Counted::Rounds,
        Counted::EvaluationJobs,
        Counted::ComputeTasks,
        Counted::ComputeNodes,
    ];

    fn sql(self) -> &'static str {
        match self {
            Counted::ChainTxs => "SELECT status, COUNT(*) FROM chain_txs GROUP BY status",
            Counted::Rounds => "SELECT status, COUNT(*) FROM rounds GROUP BY status",
            Counted::EvaluationJobs => "SELECT state, COUNT(*) FROM evaluation_jobs GROUP BY state",
            Counted::ComputeTasks => "SELECT status, COUNT(*) FROM compute_tasks GROUP BY status",
            Counted::ComputeNodes => "SELECT status, COUNT(*) FROM compute_nodes GROUP BY status",
        }
    }
}

/// `(state, rows)` for every state that has rows.
pub async fn by_state(db: &Database, what: Counted) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(what.sql()).fetch_all(pool).await)?)
}

//! Task transitions through group commit: under load the dispatcher leases
//! hundreds of tasks a pass and every node starts and finishes its own, and
//! each compare-and-set must not be a transaction of its own. Grouping
//! changes no outcome: each write is still checked against the state and
//! lease it was computed from.

use meritree_store::compute::{self as store, TaskWrite};
use meritree_store::{Database, StoreError};

use crate::group_commit::{GroupCommit, Sink};

/// Whether each transition was written (`false`: another got there first).
pub(crate) struct TransitionSink(pub Database);

impl Sink for TransitionSink {
    type Job = TaskWrite;
    type Done = bool;

    async fn batch(&self, jobs: &[TaskWrite]) -> Result<Vec<bool>, StoreError> {
        store::apply_batch(&self.0, jobs).await
    }

    async fn one(&self, job: &TaskWrite) -> Result<bool, StoreError> {
        store::apply(&self.0, job).await
    }
}

pub(crate) type TransitionWriter = GroupCommit<TransitionSink>;

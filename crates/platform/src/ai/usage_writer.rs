//! Usage records through group commit: every AI request writes one row,
//! and thousands a second must not each be a transaction of their own.

use meritree_store::ai_usage::{self as store, NewUsage};
use meritree_store::{Database, StoreError};

use super::usage::UsageRecord;
use crate::group_commit::{GroupCommit, Sink};

/// A record on its way to the writer, with its row id and time.
pub(crate) struct UsageJob {
    pub record: UsageRecord,
    pub id: String,
    pub now: i64,
}

impl UsageJob {
    /// `record` under a new row id, at the unix time `now`.
    pub fn new(record: UsageRecord, now: i64) -> Self {
        Self {
            record,
            id: super::time_ordered_id(),
            now,
        }
    }

    fn row(&self) -> NewUsage<'_> {
        self.record.row(&self.id, self.now)
    }
}

/// Whether each record was written (`false`: its request id was recorded
/// before).
pub(crate) struct UsageSink(pub Database);

impl Sink for UsageSink {
    type Job = UsageJob;
    type Done = bool;

    async fn batch(&self, jobs: &[UsageJob]) -> Result<Vec<bool>, StoreError> {
        let rows: Vec<NewUsage<'_>> = jobs.iter().map(UsageJob::row).collect();
        store::insert_batch(&self.0, &rows).await
    }

    async fn one(&self, job: &UsageJob) -> Result<bool, StoreError> {
        store::insert(&self.0, job.row()).await
    }
}

pub(crate) type UsageWriter = GroupCommit<UsageSink>;

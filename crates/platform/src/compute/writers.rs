//! The compute network's writes through group commit: under load the
//! dispatcher leases hundreds of tasks a pass, every node starts and
//! finishes its own and heartbeats every few seconds, and members submit
//! as fast as they like; none of these may be a transaction of its own.
//! Grouping changes no outcome: a transition is still checked against the
//! state and lease it was computed from, a submission against its key and
//! the submitter's open tasks, a reward against the one recorded before.

use meritree_store::compute::{self as store, Heartbeat, Inserted, RewardWrite, TaskWrite};
use meritree_store::{Database, StoreError};

use crate::group_commit::{GroupCommit, Sink};

/// Every writer of the compute network, each on its own queue.
#[derive(Debug, Clone)]
pub(crate) struct ComputeWriters {
    pub transitions: GroupCommit<TransitionSink>,
    pub submissions: GroupCommit<SubmissionSink>,
    pub rewards: GroupCommit<RewardSink>,
    pub heartbeats: GroupCommit<HeartbeatSink>,
}

impl ComputeWriters {
    /// Starts the writers on the current Tokio runtime.
    pub fn spawn(db: &Database) -> Self {
        Self {
            transitions: GroupCommit::spawn(TransitionSink(db.clone())),
            submissions: GroupCommit::spawn(SubmissionSink(db.clone())),
            rewards: GroupCommit::spawn(RewardSink(db.clone())),
            heartbeats: GroupCommit::spawn(HeartbeatSink(db.clone())),
        }
    }
}

/// Whether each transition was written (`false`: another got there first).
pub(crate) struct TransitionSink(Database);

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

/// A submitted task, owned while it waits for the writer.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    pub id: String,
    pub account_id: String,
    pub idempotency_key: String,
    pub kind: &'static str,
    pub model: String,
    pub input: String,
    pub max_attempts: i64,
    pub open_limit: i64,
    pub now: i64,
}

impl Submission {
    fn stored(&self) -> store::NewTask<'_> {
        store::NewTask {
            id: &self.id,
            account_id: Some(&self.account_id),
            idempotency_key: &self.idempotency_key,
            request_id: None,
            kind: self.kind,
            model: &self.model,
            input: &self.input,
            max_attempts: self.max_attempts,
            verifies: None,
            exclude_operator: None,
            open_limit: Some(self.open_limit),
            now: self.now,
        }
    }
}

pub(crate) struct SubmissionSink(Database);

impl Sink for SubmissionSink {
    type Job = Submission;
    type Done = Inserted;

    async fn batch(&self, jobs: &[Submission]) -> Result<Vec<Inserted>, StoreError> {
        let tasks: Vec<_> = jobs.iter().map(Submission::stored).collect();
        store::insert_tasks(&self.0, &tasks).await
    }

    async fn one(&self, job: &Submission) -> Result<Inserted, StoreError> {
        store::insert_task(&self.0, job.stored()).await
    }
}

/// Whether each reward was recorded (`false`: it had been before).
pub(crate) struct RewardSink(Database);

impl Sink for RewardSink {
    type Job = RewardWrite;
    type Done = bool;

    async fn batch(&self, jobs: &[RewardWrite]) -> Result<Vec<bool>, StoreError> {
        store::record_rewards(&self.0, jobs).await
    }

    async fn one(&self, job: &RewardWrite) -> Result<bool, StoreError> {
        store::record_reward(&self.0, job).await
    }
}

pub(crate) struct HeartbeatSink(Database);

impl Sink for HeartbeatSink {
    type Job = Heartbeat;
    type Done = ();

    async fn batch(&self, jobs: &[Heartbeat]) -> Result<Vec<()>, StoreError> {
        store::record_heartbeats(&self.0, jobs).await?;
        Ok(vec![(); jobs.len()])
    }

    async fn one(&self, job: &Heartbeat) -> Result<(), StoreError> {
        store::record_heartbeats(&self.0, std::slice::from_ref(job)).await
    }
}

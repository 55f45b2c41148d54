//! The compute network's services: AI tasks submitted by members and the
//! platform, leased to community nodes, returned, checked and paid.
//!
//! A task's life is [`meritree_core::compute::state`]'s state machine; each
//! step here reads the task, computes the next state there, and writes it
//! as a compare-and-set on the status and lease it read
//! ([`meritree_store::compute::apply_batch`]). Nodes connect to one instance
//! ([`dispatch`]), which leases them tasks for the models they serve;
//! [`reaper`] returns the tasks of nodes that went silent.

pub mod dispatch;
pub mod provider;
pub mod reaper;
mod review;
mod session;
pub mod staking;
mod verification;
pub(crate) mod writers;

use meritree_core::accounts::{AccountId, Role};
use meritree_core::compute::{
    NetworkHealth, NewTask, NodeId, NodeRegistration, NodeStatus, NodeView, NodesStats, RuleError,
    TaskId, TaskInput, TaskKind, TaskOutput, TaskState, TaskStatus, TaskView, Transition,
    TransitionError, Verdict, MAX_NODES_PER_OPERATOR,
};
use meritree_core::live::{Audience, LiveEvent};
use meritree_core::points::PointsReason;
use meritree_core::ErrorCode;
use meritree_store::compute::{
    self as store, Inserted, NodeRecord, RewardWrite, TaskRecord, TaskWrite,
};
use meritree_store::StoreError;

pub use dispatch::ComputeState;
pub use provider::NodesProvider;
pub use session::{NodeLink, NodeReport};
pub use staking::Staking;

use crate::clock;
use crate::error::{store_error_code, PublicError};
use crate::notifications::Notice;
use crate::points::PointsPosting;
use crate::principal::Principal;
use meritree_core::notifications::NotificationKind;
use writers::Submission;

service!(
    /// The compute network: tasks, nodes and what they earn.
    Compute,
    compute
);

/// How the network leases and pays, from the `[compute]` configuration.
#[derive(Debug, Clone)]
pub struct ComputePolicy {
    /// How long a task's lease lasts past the node's last heartbeat.
    pub lease_secs: u64,
    /// How often nodes must send a heartbeat.
    pub heartbeat_secs: u64,
    /// Failures after which a task fails for good.
    pub max_attempts: u32,
    /// Points a node's operator earns per completed task...
    pub reward_per_task: i64,
    /// ...and per 1,000 tokens it processed.
    pub reward_per_1k_tokens: i64,
    /// Thousandths of completed tasks checked by a second node.
    pub verify_per_mille: u32,
    /// Seconds a check waits for another node before its task is paid
    /// unchecked.
    pub verify_timeout_secs: u64,
    /// Cosine at or above which two embeddings agree...
    pub embedding_agreement: f32,
    /// ...and two chat answers' embeddings do.
    pub chat_agreement: f32,
    /// Seconds a task may run on a node, heartbeats or not.
    pub max_task_secs: u64,
    /// Tasks one member may have waiting or running at once.
    pub max_open_tasks: u32,
    /// How often a connected node's credential is checked again.
    pub credential_recheck_secs: u64,
}

impl Default for ComputePolicy {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            heartbeat_secs: 5,
            max_attempts: 3,
            reward_per_task: 1,
            reward_per_1k_tokens: 1,
            verify_per_mille: 50,
            verify_timeout_secs: 600,
            embedding_agreement: 0.99,
            chat_agreement: 0.8,
            max_task_secs: 600,
            max_open_tasks: 100,
            credential_recheck_secs: 60,
        }
    }
}

impl ComputePolicy {
    /// What the operator earns for `output`.
    pub fn reward(&self, output: &TaskOutput) -> i64 {
        let tokens = i64::try_from(output.tokens()).unwrap_or(i64::MAX);
        self.reward_per_task
            .saturating_add(self.reward_per_1k_tokens.saturating_mul(tokens) / 1_000)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("{0}")]
    InvalidTask(RuleError),
    #[error("{0}")]
    InvalidNode(RuleError),
    #[error("no such task")]
    NoSuchTask,
    #[error("no such node")]
    NoSuchNode,
    #[error("only node operators run nodes: ask an admin for the node_operator role")]
    NotOperator,
    #[error("this node belongs to another operator")]
    NotYourNode,
    #[error("{0}")]
    Transition(TransitionError),
    #[error("the operator's stake is {have}; the network asks for at least {need}")]
    StakeTooLow { have: String, need: String },
    #[error("no node online serves this model")]
    NoNodeOnline,
    #[error("no model {0:?} on the compute network (see GET /v1/models for nodes/…)")]
    UnknownModel(String),
    #[error("{0} tasks are waiting or running: wait for some to finish")]
    TooManyOpenTasks(u32),
    #[error("the stake could not be read from the chain")]
    StakeUnknown,
    #[error("{0}")]
    InvalidReview(meritree_core::compute::review::ReviewError),
    #[error("the node is not flagged for review")]
    NotFlagged,
    #[error("{0}")]
    SlashRefused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database holds a task this build cannot read.
    #[error("task {0} is stored in a shape this build does not read")]
    Corrupt(String),
}

impl PublicError for ComputeError {
    fn code(&self) -> ErrorCode {
        match self {
            ComputeError::InvalidTask(_) => ErrorCode::InvalidTask,
            ComputeError::InvalidNode(_) => ErrorCode::InvalidNode,
            ComputeError::NoSuchTask | ComputeError::NoSuchNode => ErrorCode::NotFound,
            ComputeError::NotOperator | ComputeError::NotYourNode => ErrorCode::Forbidden,
            ComputeError::Transition(TransitionError::LeaseLost) => ErrorCode::LeaseLost,
            ComputeError::Transition(TransitionError::Finished(_)) => ErrorCode::TaskFinished,
            ComputeError::Transition(TransitionError::NotAllowed { .. }) => ErrorCode::LeaseLost,
            ComputeError::StakeTooLow { .. } => ErrorCode::StakeTooLow,
            ComputeError::StakeUnknown => ErrorCode::ChainUnavailable,
            ComputeError::InvalidReview(_) => ErrorCode::InvalidReview,
            ComputeError::NotFlagged => ErrorCode::NotFlagged,
            ComputeError::SlashRefused(_) => ErrorCode::SlashRefused,
            ComputeError::NoNodeOnline => ErrorCode::UpstreamUnavailable,
            ComputeError::UnknownModel(_) => ErrorCode::ModelNotFound,
            ComputeError::TooManyOpenTasks(_) => ErrorCode::TooManyTasks,
            ComputeError::Store(err) => store_error_code(err),
            ComputeError::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

/// A submitted task, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub task: TaskView,
    pub created: bool,
}

impl Compute<'_> {
    /// Queues a task for the network, once per submitter and key.
    #[tracing::instrument(skip_all, fields(account = %me.account_id))]
    pub async fn submit(&self, me: &Principal, task: NewTask) -> Result<Submitted, ComputeError> {
        task.validate().map_err(ComputeError::InvalidTask)?;
        // Only models the network offers: an invented model only the
        // submitter's accomplice serves would be a way to mint points.
        if !self.offers(task.input.model()) {
            return Err(ComputeError::UnknownModel(task.input.model().to_owned()));
        }
        let limit = self.compute_policy().max_open_tasks;
        let inserted = self
            .compute_writers()
            .submissions
            .write(Submission {
                id: uuid::Uuid::new_v4().to_string(),
                account_id: me.account_id.to_string(),
                idempotency_key: task.idempotency_key.to_string(),
                kind: task.input.kind().as_str(),
                model: task.input.model().to_owned(),
                input: serde_json::to_string(&task.input).expect("inputs serialise"),
                max_attempts: i64::from(self.compute_policy().max_attempts),
                open_limit: i64::from(limit),
                now: clock::unix_secs(),
            })
            .await?;
        let (record, created) = match inserted {
            Inserted::Created(record) => (record, true),
            Inserted::Replayed(record) => (record, false),
            Inserted::AtLimit => return Err(ComputeError::TooManyOpenTasks(limit)),
        };
        let task = task_view(&record)?;
        if created {
            tracing::info!(task = %task.id, model = %task.model, "task submitted");
            self.announce_task(record.account_id.as_deref(), &task);
            self.compute_state().wake();
        }
        Ok(Submitted { task, created })
    }

    /// Whether `model` is one the gateway lists for the nodes (`[ai.nodes]`).
    fn offers(&self, model: &str) -> bool {
        self.gateway().is_some_and(|gateway| {
            gateway
                .models()
                .iter()
                .any(|m| m.provider == meritree_ai::gateway::NODES && m.settings.name == model)
        })
    }

    /// A task, for its submitter or an admin; anyone else is told there is
    /// no such task.
    pub async fn get(&self, me: &Principal, id: &TaskId) -> Result<TaskView, ComputeError> {
        let record = self.owned_task(me, id).await?;
        task_view(&record)
    }

    /// Cancels a task that has not completed; a cancelled task stays so.
    #[tracing::instrument(skip_all, fields(task = %id))]
    pub async fn cancel(&self, me: &Principal, id: &TaskId) -> Result<TaskView, ComputeError> {
        let record = self.owned_task(me, id).await?;
        task_view(&self.cancel_record(record).await?)
    }

    /// Cancels the task as read, and tells the node holding it to stop.
    pub(crate) async fn cancel_record(
        &self,
        record: TaskRecord,
    ) -> Result<TaskRecord, ComputeError> {
        let holder = record.node_id.clone();
        let lease = record.lease.unsigned_abs();
        let (record, changed) = self.transition(record, &Transition::Cancel, None).await?;
        if let (true, Some(node)) = (changed, holder) {
            let id = TaskId::from(record.id.clone());
            self.compute_state()
                .abandon(&NodeId::from(node), &id, lease);
        }
        Ok(record)
    }

    /// The nodes online now (on any instance) that serve `model`.
    pub(crate) async fn online_serving(
        &self,
        model: &str,
    ) -> Result<Vec<NodeRecord>, ComputeError> {
        let online = store::nodes_in(self.db(), NodeStatus::Online.as_str(), 1_000).await?;
        Ok(online
            .into_iter()
            .filter(|node| {
                serde_json::from_str::<Vec<String>>(&node.models)
                    .is_ok_and(|models| models.iter().any(|m| m == model))
            })
            .collect())
    }

    async fn owned_task(&self, me: &Principal, id: &TaskId) -> Result<TaskRecord, ComputeError> {
        let record = store::get_task(self.db(), id)
            .await?
            .ok_or(ComputeError::NoSuchTask)?;
        if record.account_id.as_deref() != Some(me.account_id.as_str()) && me.role != Role::Admin {
            return Err(ComputeError::NoSuchTask);
        }
        Ok(record)
    }

    /// Registers a node for the calling operator (or updates the one of
    /// that name).
    #[tracing::instrument(skip_all, fields(account = %me.account_id))]
    pub async fn register_node(
        &self,
        me: &Principal,
        registration: NodeRegistration,
    ) -> Result<NodeView, ComputeError> {
        require_operator(me)?;
        registration.validate().map_err(ComputeError::InvalidNode)?;
        self.check_stake(&me.account_id).await?;
        let mine = store::nodes_of(self.db(), &me.account_id).await?;
        if mine.len() >= MAX_NODES_PER_OPERATOR && !mine.iter().any(|n| n.name == registration.name)
        {
            return Err(ComputeError::InvalidNode(RuleError::TooManyNodes));
        }
        let models = serde_json::to_string(&registration.models).expect("names serialise");
        let id = NodeId::from(uuid::Uuid::new_v4().to_string());
        let record = store::register_node(
            self.db(),
            store::NewNode {
                id: &id,
                account_id: &me.account_id,
                name: &registration.name,
                models: &models,
                capacity: i64::from(registration.capacity),
                now: clock::unix_secs(),
            },
        )
        .await?;
        tracing::info!(node = %record.id, name = %record.name, "node registered");
        self.node_view(record)
    }

    /// A node as anyone sees it.
    pub async fn node(&self, id: &NodeId) -> Result<NodeView, ComputeError> {
        let record = store::get_node(self.db(), id)
            .await?
            .ok_or(ComputeError::NoSuchNode)?;
        self.node_view(record)
    }

    /// The calling operator's nodes.
    pub async fn my_nodes(&self, me: &Principal) -> Result<Vec<NodeView>, ComputeError> {
        store::nodes_of(self.db(), &me.account_id)
            .await?
            .into_iter()
            .map(|record| self.node_view(record))
            .collect()
    }

    /// Nodes online now, most reputable first.
    pub async fn online_nodes(&self, limit: u32) -> Result<Vec<NodeView>, ComputeError> {
        store::nodes_in(self.db(), NodeStatus::Online.as_str(), limit)
            .await?
            .into_iter()
            .map(|record| self.node_view(record))
            .collect()
    }

    /// Nodes by status, and the online ones.
    pub async fn nodes_stats(&self) -> Result<NodesStats, ComputeError> {
        let counts = store::node_counts(self.db()).await?;
        let count = |status: NodeStatus| {
            counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| n.unsigned_abs())
        };
        Ok(NodesStats {
            online: count(NodeStatus::Online),
            maintenance: count(NodeStatus::Maintenance),
            offline: count(NodeStatus::Offline),
            nodes: self.online_nodes(100).await?,
        })
    }

    /// Whether the network can take tasks now.
    pub async fn health(&self) -> Result<NetworkHealth, ComputeError> {
        let stats = self.network_stats().await?;
        Ok(NetworkHealth {
            status: if stats.active_nodes > 0 {
                "ok"
            } else {
                "no_nodes"
            }
            .to_owned(),
            active_nodes: stats.active_nodes,
            pending_tasks: stats.pending_tasks,
            connected_here: self.compute_state().connected() as u64,
        })
    }

    /// Refuses an operator whose stake is below the network's minimum.
    /// With no minimum configured (the embedded default), staking is off.
    pub(crate) async fn check_stake(&self, account: &AccountId) -> Result<(), ComputeError> {
        let Some(staking) = self.staking() else {
            return Ok(());
        };
        staking.check(self, account).await
    }

    fn node_view(&self, record: NodeRecord) -> Result<NodeView, ComputeError> {
        let id = NodeId::from(record.id.clone());
        let models: Vec<String> =
            serde_json::from_str(&record.models).map_err(|_| ComputeError::Corrupt(record.id))?;
        let status = NodeStatus::parse(&record.status).unwrap_or(NodeStatus::Offline);
        Ok(NodeView {
            running: self.compute_state().running(&id),
            id,
            name: record.name,
            operator: record.handle,
            models,
            capacity: u32::try_from(record.capacity).unwrap_or(0),
            status,
            reputation: u32::try_from(record.reputation).unwrap_or(0),
            tasks_completed: record.tasks_completed.unsigned_abs(),
            tasks_failed: record.tasks_failed.unsigned_abs(),
            earned: record.earned,
            checks: record.checks.unsigned_abs(),
            mismatches: record.mismatches.unsigned_abs(),
            flagged: record.flagged != 0,
            last_seen: record.last_seen,
            registered_at: record.created_at,
        })
    }

    /// Applies `transition` to the task as read; writes it when it changes
    /// something. Answers the task as it now stands and whether this call
    /// moved it; `output` goes with a completion.
    pub(crate) async fn transition(
        &self,
        record: TaskRecord,
        transition: &Transition,
        output: Option<&TaskOutput>,
    ) -> Result<(TaskRecord, bool), ComputeError> {
        let now = clock::unix_secs();
        let current = task_state(&record)?;
        let next = current
            .apply(transition)
            .map_err(ComputeError::Transition)?;
        if next == current {
            return Ok((record, false));
        }
        let output_json = output.map(|o| serde_json::to_string(o).expect("outputs serialise"));
        let (input_tokens, output_tokens) = match output {
            Some(TaskOutput::Chat {
                input_tokens,
                output_tokens,
                ..
            }) => (*input_tokens, *output_tokens),
            Some(TaskOutput::Embeddings { input_tokens, .. }) => (*input_tokens, 0),
            None => (
                record.input_tokens.unsigned_abs(),
                record.output_tokens.unsigned_abs(),
            ),
        };
        let lease_until = match transition {
            // A start renews the lease as a heartbeat would: the node is
            // alive, and the task as its link holds it may predate a
            // heartbeat's renewal, which must not be written back shorter.
            Transition::Assign { .. } | Transition::Start { .. } => {
                now + secs(self.compute_policy().lease_secs)
            }
            _ if next.status.is_leased() => record.lease_until,
            _ => 0,
        };
        let progress = match next.status {
            TaskStatus::Completed => 100,
            TaskStatus::Pending | TaskStatus::Assigned => 0,
            _ => record.progress,
        };
        let leased_at = match transition {
            Transition::Assign { .. } => Some(now),
            _ if next.status.is_leased() => record.leased_at,
            _ => None,
        };
        let write = TaskWrite {
            id: record.id.clone(),
            from_status: record.status.clone(),
            from_lease: record.lease,
            leased_at,
            status: next.status.as_str().to_owned(),
            lease: i64::try_from(next.lease).unwrap_or(i64::MAX),
            node_id: next.node.as_ref().map(ToString::to_string),
            lease_until,
            failures: i64::from(next.failures),
            error: next.error.clone(),
            progress,
            output: output_json,
            input_tokens: i64::try_from(input_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(output_tokens).unwrap_or(i64::MAX),
            completed_at: (next.status == TaskStatus::Completed).then_some(now),
            now,
        };
        if !self
            .compute_writers()
            .transitions
            .write(write.clone())
            .await?
        {
            // Another transition won the race: answer from what it wrote.
            let fresh = store::get_task(self.db(), &record.id)
                .await?
                .ok_or(ComputeError::NoSuchTask)?;
            let state = task_state(&fresh)?;
            return match state.apply(transition) {
                Ok(same) if same == state => Ok((fresh, false)),
                Ok(_) => Err(ComputeError::Transition(TransitionError::LeaseLost)),
                Err(err) => Err(ComputeError::Transition(err)),
            };
        }
        let written = TaskRecord {
            output: write.output.or(record.output),
            status: write.status,
            lease: write.lease,
            node_id: write.node_id,
            lease_until,
            leased_at,
            failures: write.failures,
            error: write.error,
            progress,
            input_tokens: write.input_tokens,
            output_tokens: write.output_tokens,
            completed_at: write.completed_at,
            updated_at: now,
            ..record
        };
        tracing::debug!(task = %written.id, transition = transition.name(), to = %written.status, "task moved");
        let view = task_view(&written).ok();
        if let Some(view) = &view {
            self.announce_task(written.account_id.as_deref(), view);
        }
        if next.status.is_final() {
            self.compute_state()
                .finish_stream(&TaskId::from(written.id.clone()));
        }
        // A task the gateway made for one AI request (its own id is its
        // key: `provider::run`) ends with the request's answer; only tasks
        // a member submitted are worth a notice.
        if let (Some(view), false) = (&view, written.idempotency_key == written.id) {
            self.notify_task_ended(written.account_id.as_deref(), view)
                .await;
        }
        if next.status == TaskStatus::Pending {
            self.compute_state().wake();
        }
        Ok((written, true))
    }

    /// Credits the node's operator for a completed task, once (the ledger's
    /// key is the task's), and records it on the task and the node. A task
    /// run by its own submitter's node earns nothing: the network pays for
    /// work done for others.
    pub(crate) async fn reward(&self, record: &TaskRecord) -> Result<(), ComputeError> {
        let Some(node_id) = record.node_id.as_deref() else {
            return Ok(());
        };
        let Some(operator) = self.operator_of(node_id).await? else {
            return Ok(());
        };
        let output: Option<TaskOutput> = record
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok());
        let verdict = record.verdict.as_deref().and_then(Verdict::parse);
        if verdict == Some(Verdict::Pending) {
            return Ok(());
        }
        let amount = match output {
            _ if verdict.is_some_and(|v| !v.pays()) => 0,
            Some(output) if record.account_id.as_deref() != Some(operator.as_str()) => {
                self.compute_policy().reward(&output)
            }
            _ => 0,
        };
        if amount > 0 {
            let key = format!("task:{}", record.id);
            self.points()
                .post(PointsPosting {
                    account_id: &operator,
                    amount,
                    reason: PointsReason::TaskReward,
                    reference: Some(&key),
                    idempotency_key: &key,
                })
                .await
                .map_err(|err| {
                    tracing::warn!(error = %err, task = %record.id, "task reward not posted yet");
                    ComputeError::Store(StoreError::WriterStopped)
                })?;
        }
        self.compute_writers()
            .rewards
            .write(RewardWrite {
                task_id: record.id.clone(),
                node_id: node_id.to_owned(),
                reward: amount,
            })
            .await?;
        Ok(())
    }

    /// The account operating the node: known while it is connected, else
    /// read.
    async fn operator_of(&self, node_id: &str) -> Result<Option<String>, ComputeError> {
        let node = NodeId::from(node_id.to_owned());
        let connected = self
            .compute_state()
            .with_nodes(|nodes| nodes.get(&node).map(|n| n.account_id.clone()));
        if connected.is_some() {
            return Ok(connected);
        }
        Ok(store::get_node(self.db(), node_id)
            .await?
            .map(|record| record.account_id))
    }

    /// Tells the submitter a task ended, in their notification centre.
    async fn notify_task_ended(&self, account_id: Option<&str>, task: &TaskView) {
        let (Some(account_id), true) = (account_id, task.status.is_final()) else {
            return;
        };
        let outcome = match task.status {
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            _ => "was cancelled",
        };
        let notice = Notice::new(
            NotificationKind::TaskCompleted,
            format!("Your task {outcome}"),
            format!("Compute task {} {outcome}.", task.id),
        )
        .linking(format!("/tasks/{}", task.id));
        self.notifications().notify(account_id, notice).await;
    }

    /// Tells the submitter (the platform's own tasks have none to tell).
    fn announce_task(&self, account_id: Option<&str>, task: &TaskView) {
        let Some(account_id) = account_id else {
            return;
        };
        let estimated_completion = match task.status {
            TaskStatus::Assigned | TaskStatus::InProgress => {
                Some(task.updated_at + secs(self.compute_policy().lease_secs))
            }
            _ => None,
        };
        self.hub().publish(
            Audience::Account(account_id.to_owned()),
            LiveEvent::TaskUpdate {
                id: task.id.clone(),
                status: task.status,
                progress: task.progress,
                node_id: task.node_id.clone(),
                estimated_completion,
            },
        );
    }
}

fn require_operator(me: &Principal) -> Result<(), ComputeError> {
    match me.role {
        Role::NodeOperator | Role::Admin => Ok(()),
        Role::Member => Err(ComputeError::NotOperator),
    }
}

pub(crate) fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The state machine's view of a stored task.
fn task_state(record: &TaskRecord) -> Result<TaskState, ComputeError> {
    let status = TaskStatus::parse(&record.status)
        .ok_or_else(|| ComputeError::Corrupt(record.id.clone()))?;
    Ok(TaskState {
        status,
        lease: record.lease.unsigned_abs(),
        node: record.node_id.as_deref().map(NodeId::from),
        failures: u32::try_from(record.failures).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(record.max_attempts).unwrap_or(1),
        error: record.error.clone(),
    })
}

pub(crate) fn task_input(record: &TaskRecord) -> Result<TaskInput, ComputeError> {
    serde_json::from_str(&record.input).map_err(|_| ComputeError::Corrupt(record.id.clone()))
}

pub(crate) fn task_view(record: &TaskRecord) -> Result<TaskView, ComputeError> {
    let corrupt = || ComputeError::Corrupt(record.id.clone());
    Ok(TaskView {
        id: TaskId::from(record.id.clone()),
        kind: TaskKind::parse(&record.kind).ok_or_else(corrupt)?,
        model: record.model.clone(),
        status: TaskStatus::parse(&record.status).ok_or_else(corrupt)?,
        node_id: record.node_id.as_deref().map(NodeId::from),
        lease: record.lease.unsigned_abs(),
        failures: u32::try_from(record.failures).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(record.max_attempts).unwrap_or(1),
        progress: u8::try_from(record.progress.clamp(0, 100)).unwrap_or(0),
        output: match &record.output {
            Some(raw) => Some(serde_json::from_str(raw).map_err(|_| corrupt())?),
            None => None,
        },
        error: record.error.clone(),
        reward: record.reward,
        verdict: record.verdict.as_deref().and_then(Verdict::parse),
        created_at: record.created_at,
        updated_at: record.updated_at,
        completed_at: record.completed_at,
    })
}

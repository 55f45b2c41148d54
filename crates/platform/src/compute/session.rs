//! A node's connection, as the services see it: joining the dispatcher,
//! each frame the node sends, and leaving.

use std::sync::atomic::{AtomicU64, Ordering};

use meritree_core::compute::protocol::{FromNode, ToNode};
use meritree_core::compute::{NodeId, NodeStatus, TaskId, TaskOutput, Transition};
use meritree_core::live::{Audience, LiveEvent};
use meritree_store::compute::{self as store, Heartbeat, TaskRecord};
use tokio::sync::mpsc;

use super::dispatch::{Connected, NODE_QUEUE};
use super::{require_operator, secs, task_input, Compute, ComputeError};
use crate::clock;
use crate::principal::Principal;

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A node connected to this instance: where its frames go.
pub struct NodeLink {
    pub node_id: NodeId,
    pub frames: mpsc::Receiver<ToNode>,
    generation: u64,
}

/// A node's report on a task, sent over HTTP.
#[derive(Debug, Clone)]
pub enum NodeReport {
    Completed(TaskOutput),
    Failed(String),
}

impl Compute<'_> {
    /// A node's result or failure sent over HTTP: the node must be the
    /// caller's, and hold the task's lease.
    pub async fn report(
        &self,
        me: &Principal,
        node: &NodeId,
        id: &TaskId,
        lease: u64,
        report: NodeReport,
    ) -> Result<(), ComputeError> {
        self.operated_node(me, node).await?;
        match report {
            NodeReport::Completed(output) => self.complete(node, id, lease, output).await,
            NodeReport::Failed(reason) => {
                let reason = reason
                    .chars()
                    .take(meritree_core::compute::protocol::MAX_REASON_CHARS)
                    .collect();
                let fail = Transition::Fail {
                    node: node.clone(),
                    lease,
                    reason,
                };
                self.node_step(node, id, fail, None).await
            }
        }
    }

    /// Connects the operator's node: it goes online and the dispatcher
    /// starts leasing it tasks. A second connection of the same node
    /// replaces the first, whose frames stop.
    #[tracing::instrument(skip_all, fields(node = %node_id))]
    pub async fn connect(
        &self,
        me: &Principal,
        node_id: &NodeId,
    ) -> Result<NodeLink, ComputeError> {
        let record = self.operated_node(me, node_id).await?;
        self.check_stake(&me.account_id).await?;
        // A new connection holds nothing: what an earlier one held (the
        // node lost it when it reconnected) goes to other nodes now.
        self.expire_leases_of(node_id).await;
        let view = self.node_view(record.clone())?;
        let (sender, frames) = mpsc::channel(NODE_QUEUE);
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        sender
            .try_send(ToNode::Welcome {
                node_id: node_id.clone(),
                heartbeat_secs: self.compute_policy().heartbeat_secs,
                lease_secs: self.compute_policy().lease_secs,
            })
            .expect("a new queue has room");
        let replaced = self.compute_state().with_nodes(|nodes| {
            nodes.insert(
                node_id.clone(),
                Connected {
                    account_id: record.account_id.clone(),
                    models: view.models.clone(),
                    capacity: view.capacity,
                    reputation: view.reputation,
                    held: Default::default(),
                    draining: false,
                    sender,
                    generation,
                },
            )
        });
        if replaced.is_some() {
            tracing::info!("node reconnected: the earlier connection is dropped");
        }
        store::set_node_status(
            self.db(),
            node_id,
            NodeStatus::Online.as_str(),
            clock::unix_secs(),
        )
        .await?;
        self.announce_node(node_id, NodeStatus::Online).await;
        tracing::info!("node online");
        self.compute_state().wake();
        Ok(NodeLink {
            node_id: node_id.clone(),
            frames,
            generation,
        })
    }

    /// Whether the caller may still run this connected node (its operator,
    /// with the role): checked again while the node stays connected, after
    /// the door has checked the credential itself.
    pub async fn still_runs(&self, me: &Principal, node: &NodeId) -> Result<(), ComputeError> {
        self.operated_node(me, node).await.map(drop)
    }

    /// The node, when the caller is an operator and it is theirs.
    async fn operated_node(
        &self,
        me: &Principal,
        node: &NodeId,
    ) -> Result<store::NodeRecord, ComputeError> {
        require_operator(me)?;
        let record = store::get_node(self.db(), node)
            .await?
            .ok_or(ComputeError::NoSuchNode)?;
        if record.account_id != me.account_id.as_str() {
            return Err(ComputeError::NotYourNode);
        }
        Ok(record)
    }

    /// Handles one frame from the node; answers what to send back, if
    /// anything. A refusal is answered, not raised: the socket stays open.
    pub async fn on_frame(&self, link: &NodeLink, frame: FromNode) -> Option<ToNode> {
        let frame = match frame.checked() {
            Ok(frame) => frame,
            Err(message) => {
                return Some(ToNode::Refused {
                    id: None,
                    code: meritree_core::ErrorCode::InvalidRequest.as_str().to_owned(),
                    message: message.to_owned(),
                })
            }
        };
        let node = &link.node_id;
        let result = match frame {
            FromNode::Heartbeat { .. } => self.heartbeat(node).await.map(|()| None),
            FromNode::Draining => self.hold_off(node).await.map(|()| None),
            FromNode::Started { id, lease } => self
                .node_step(
                    node,
                    &id,
                    Transition::Start {
                        node: node.clone(),
                        lease,
                    },
                    None,
                )
                .await
                .map(|()| None),
            FromNode::Delta { id, lease, text } => {
                self.delta(node, &id, lease, &text);
                Ok(None)
            }
            FromNode::Completed { id, lease, output } => self
                .complete(node, &id, lease, output)
                .await
                .map(|()| Some(ToNode::Accepted { id, lease })),
            FromNode::Failed { id, lease, reason } => self
                .node_step(
                    node,
                    &id,
                    Transition::Fail {
                        node: node.clone(),
                        lease,
                        reason,
                    },
                    None,
                )
                .await
                .map(|()| Some(ToNode::Accepted { id, lease })),
            FromNode::Release { id, lease } => self
                .node_step(
                    node,
                    &id,
                    Transition::Release {
                        node: node.clone(),
                        lease,
                    },
                    None,
                )
                .await
                .map(|()| Some(ToNode::Accepted { id, lease })),
        };
        match result {
            Ok(reply) => reply,
            Err(err) => {
                use crate::error::PublicError;
                Some(ToNode::Refused {
                    id: None,
                    code: err.code().as_str().to_owned(),
                    message: err.public_message(),
                })
            }
        }
    }

    /// The node's socket closed: it goes offline, and what it held goes
    /// back to other nodes (counted as a failure: it stopped mid-task).
    pub async fn disconnect(&self, link: NodeLink) {
        let held = self.compute_state().with_nodes(|nodes| {
            match nodes.get(&link.node_id) {
                Some(n) if n.generation == link.generation => {
                    nodes.remove(&link.node_id).map(|n| n.held)
                }
                // A newer connection of this node took over.
                _ => None,
            }
        });
        let Some(_held) = held else {
            return;
        };
        let now = clock::unix_secs();
        if let Err(error) =
            store::set_node_status(self.db(), &link.node_id, NodeStatus::Offline.as_str(), now)
                .await
        {
            tracing::warn!(%error, node = %link.node_id, "node's status not saved");
        }
        self.expire_leases_of(&link.node_id).await;
        self.announce_node(&link.node_id, NodeStatus::Offline).await;
        tracing::info!(node = %link.node_id, "node offline");
    }

    /// The node takes no new tasks and shows as in maintenance.
    pub(crate) async fn hold_off(&self, node: &NodeId) -> Result<(), ComputeError> {
        if !self.compute_state().hold_off(node) {
            // Said before: no write, no announcement.
            return Ok(());
        }
        let status = NodeStatus::Maintenance;
        store::set_node_status(self.db(), node, status.as_str(), clock::unix_secs()).await?;
        self.announce_node(node, status).await;
        Ok(())
    }

    /// Returns every task leased to the node (a failure: it stopped
    /// mid-task). From the store, not the in-memory set: the truth about
    /// leases.
    async fn expire_leases_of(&self, node: &NodeId) {
        match store::leased_to(self.db(), node).await {
            Ok(tasks) => {
                for task in tasks {
                    let lease = task.lease.unsigned_abs();
                    if let Err(error) = self
                        .transition(task, &Transition::Expire { lease }, None)
                        .await
                    {
                        tracing::debug!(%error, "a departed node's task moved on already");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, %node, "a departed node's tasks wait for their leases")
            }
        }
    }

    /// The node is alive: its leases last another lease period.
    async fn heartbeat(&self, node: &NodeId) -> Result<(), ComputeError> {
        let now = clock::unix_secs();
        let running: Vec<String> = self.compute_state().with_nodes(|nodes| {
            nodes
                .get(node)
                .map(|n| n.held.keys().map(ToString::to_string).collect())
                .unwrap_or_default()
        });
        self.compute_writers()
            .heartbeats
            .write(Heartbeat {
                node_id: node.to_string(),
                now,
                running,
                until: now + secs(self.compute_policy().lease_secs),
            })
            .await?;
        Ok(())
    }

    fn running(&self, node: &NodeId) -> u32 {
        self.compute_state().running(node)
    }

    /// A step `node` takes on a task it holds.
    async fn node_step(
        &self,
        node: &NodeId,
        id: &TaskId,
        transition: Transition,
        output: Option<&TaskOutput>,
    ) -> Result<(), ComputeError> {
        let moved = self.held_step(node, id, &transition, output).await;
        // A step refused because the lease went elsewhere frees the slot
        // too: the node no longer holds the task.
        let ends = !matches!(transition, Transition::Start { .. })
            || matches!(moved, Err(ComputeError::Transition(_)));
        if ends {
            self.compute_state().release_slot(node, id);
        }
        let (task, _) = moved?;
        if transition.name() == "fail" && task.status == "failed" {
            let _ = store::count_failure(self.db(), node).await;
        }
        Ok(())
    }

    /// The node's result: checked against the task (an answer of the wrong
    /// shape is the node's failure), stored once, and paid.
    pub async fn complete(
        &self,
        node: &NodeId,
        id: &TaskId,
        lease: u64,
        output: TaskOutput,
    ) -> Result<(), ComputeError> {
        let record = self.held_task(node, id).await?;
        let input = task_input(&record)?;
        if let Err(rule) = output.validate_for(&input) {
            let reason = format!("the node's answer was refused: {rule}");
            self.node_step(
                node,
                id,
                Transition::Fail {
                    node: node.clone(),
                    lease,
                    reason,
                },
                None,
            )
            .await?;
            return Err(ComputeError::InvalidTask(rule));
        }
        let output = output.bounded_for(&input);
        let transition = Transition::Complete {
            node: node.clone(),
            lease,
        };
        let moved = self.held_step(node, id, &transition, Some(&output)).await;
        // The slot is free whatever the answer: a refused result (the lease
        // went elsewhere) must not keep the node's capacity.
        self.compute_state().release_slot(node, id);
        let (task, moved) = moved?;
        if !moved {
            return Ok(());
        }
        // Whether it is checked is decided now, so the task never shows as
        // paid-unchecked while its check is being queued. Paying (and
        // judging a check, which may itself ask the network for embeddings)
        // is off the node's socket: its next frame does not wait for the
        // ledger. What fails there, or a crash cuts short, the reaper's
        // sweep picks up.
        let judging = task.verifies.is_some();
        if !judging {
            match self.queue_check(&task, node).await {
                Ok(false) => {}
                Ok(true) => return Ok(()),
                Err(error) => {
                    tracing::warn!(%error, task = %id, "check left for the sweep");
                    return Ok(());
                }
            }
        }
        let platform = crate::Platform::clone(self);
        tokio::spawn(async move {
            let compute = platform.compute();
            let settled = if judging {
                compute.judge(&task).await
            } else {
                compute.reward(&task).await
            };
            if let Err(error) = settled {
                tracing::warn!(%error, task = %task.id, "reward or verdict left for the sweep");
            }
        });
        Ok(())
    }

    /// The task a node takes a step on: as this instance last wrote it
    /// while the node holds it here, else as stored.
    async fn held_task(&self, node: &NodeId, id: &TaskId) -> Result<TaskRecord, ComputeError> {
        match self.compute_state().held_task(node, id) {
            Some(record) => Ok(record),
            None => self.stored_task(id).await,
        }
    }

    async fn stored_task(&self, id: &TaskId) -> Result<TaskRecord, ComputeError> {
        store::get_task(self.db(), id)
            .await?
            .ok_or(ComputeError::NoSuchTask)
    }

    /// `transition`, taken by `node`, from the task as its link holds it.
    /// The copy may lag the store (a commit whose outcome the writer could
    /// not tell, a step over HTTP, another instance's cancel): a step that
    /// changes nothing or is refused from the copy is taken again from the
    /// task as stored, which decides. The link then holds what the store
    /// said, or nothing after an error (the next step reads).
    async fn held_step(
        &self,
        node: &NodeId,
        id: &TaskId,
        transition: &Transition,
        output: Option<&TaskOutput>,
    ) -> Result<(TaskRecord, bool), ComputeError> {
        let from_copy = match self.compute_state().held_task(node, id) {
            Some(copy) => Some(self.transition(copy, transition, output).await),
            None => None,
        };
        let moved = match from_copy {
            Some(Ok((task, true))) => Ok((task, true)),
            _ => match self.stored_task(id).await {
                Ok(stored) => self.transition(stored, transition, output).await,
                Err(err) => Err(err),
            },
        };
        match &moved {
            Ok((task, _)) => self.compute_state().wrote_held(node, task),
            Err(_) => self.compute_state().forget_held(node, id),
        }
        moved
    }

    /// A piece of a streamed answer: to whoever watches the task here.
    fn delta(&self, node: &NodeId, id: &TaskId, _lease: u64, text: &str) {
        let holds = self
            .compute_state()
            .with_nodes(|nodes| nodes.get(node).is_some_and(|n| n.held.contains_key(id)));
        if holds {
            self.compute_state().stream_delta(id, text);
        }
    }

    async fn announce_node(&self, node: &NodeId, status: NodeStatus) {
        let Ok(Some(record)) = store::get_node(self.db(), node).await else {
            return;
        };
        self.hub().publish(
            Audience::Everyone,
            LiveEvent::NodeStatus {
                id: node.clone(),
                status,
                reputation: u32::try_from(record.reputation).unwrap_or(0),
                running: self.running(node),
                tasks_completed: record.tasks_completed.unsigned_abs(),
            },
        );
    }
}

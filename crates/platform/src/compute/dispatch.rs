//! Leasing pending tasks to the nodes connected to this instance.
//!
//! Each instance knows the nodes whose sockets it holds: what they serve,
//! how many tasks they may run, what they hold now. When a task arrives, a
//! node frees a slot or connects, the dispatcher wakes, reads the oldest
//! pending tasks for the models its free nodes serve, and leases each to
//! the best of them: serving its model, with a free slot, the most
//! reputable, then the least loaded. Leasing is a compare-and-set in the
//! store, so instances dispatching at once never lease one task twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::join_all;
use meritree_core::compute::protocol::ToNode;
use meritree_core::compute::{NodeId, TaskId, Transition};
use tokio::sync::{broadcast, mpsc, Notify};

use super::{task_input, Compute, ComputeError};
use crate::Platform;
use meritree_store::compute::TaskRecord;

/// Pending tasks read per pass, at most.
const BATCH: u32 = 256;
/// Frames queued for one node before it counts as gone.
pub(crate) const NODE_QUEUE: usize = 256;
/// How often the dispatcher looks even when nothing woke it (tasks whose
/// node went away on another instance).
const IDLE_PASS: Duration = Duration::from_secs(1);

/// What this instance knows of the nodes connected to it, and the streams
/// of answers being generated.
#[derive(Default)]
pub struct ComputeState {
    nodes: Mutex<HashMap<NodeId, Connected>>,
    wake: Notify,
    streams: Mutex<HashMap<TaskId, broadcast::Sender<String>>>,
}

pub(crate) struct Connected {
    /// The operator, whose stake keeps the node taking tasks.
    pub(crate) account_id: String,
    pub(crate) models: Vec<String>,
    pub(crate) capacity: u32,
    pub(crate) reputation: u32,
    /// The tasks it holds, each with the task as this instance last wrote
    /// it (none while the lease is being written): a node's next step on a
    /// task is computed from it without reading the task again. Another
    /// writer's change since (a cancel, an expired lease) fails that step's
    /// compare-and-set, which then reads the task.
    pub(crate) held: HashMap<TaskId, Option<TaskRecord>>,
    pub(crate) draining: bool,
    pub(crate) sender: mpsc::Sender<ToNode>,
    /// Tells this connection from a later one of the same node.
    pub(crate) generation: u64,
}

impl Connected {
    fn free(&self) -> u32 {
        if self.draining {
            return 0;
        }
        self.capacity
            .saturating_sub(u32::try_from(self.held.len()).unwrap_or(u32::MAX))
    }
}

impl ComputeState {
    /// Asks the dispatcher for a pass.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn with_nodes<T>(&self, f: impl FnOnce(&mut HashMap<NodeId, Connected>) -> T) -> T {
        f(&mut self.nodes.lock().expect("compute state lock"))
    }

    /// Tasks the node runs now, when it is connected here.
    pub fn running(&self, node: &NodeId) -> u32 {
        self.with_nodes(|nodes| {
            nodes
                .get(node)
                .map_or(0, |n| u32::try_from(n.held.len()).unwrap_or(u32::MAX))
        })
    }

    /// The connected nodes and their operators.
    pub(crate) fn operators(&self) -> Vec<(NodeId, String)> {
        self.with_nodes(|nodes| {
            nodes
                .iter()
                .map(|(id, n)| (id.clone(), n.account_id.clone()))
                .collect()
        })
    }

    /// Takes no new tasks to the node (draining, or its stake fell short);
    /// whether this changed anything.
    pub(crate) fn hold_off(&self, node: &NodeId) -> bool {
        self.with_nodes(|nodes| {
            nodes
                .get_mut(node)
                .is_some_and(|n| !std::mem::replace(&mut n.draining, true))
        })
    }

    /// Nodes connected to this instance.
    pub fn connected(&self) -> usize {
        self.with_nodes(|nodes| nodes.len())
    }

    /// Tells the node holding `task` to stop, and frees its slot.
    pub(crate) fn abandon(&self, node: &NodeId, task: &TaskId, lease: u64) {
        let sender = self.with_nodes(|nodes| {
            let connected = nodes.get_mut(node)?;
            connected.held.remove(task);
            Some(connected.sender.clone())
        });
        if let Some(sender) = sender {
            let _ = sender.try_send(ToNode::Abandon {
                id: task.clone(),
                lease,
            });
        }
        self.wake();
    }

    /// Frees the node's slot for `task`.
    pub(crate) fn release_slot(&self, node: &NodeId, task: &TaskId) {
        self.with_nodes(|nodes| {
            if let Some(connected) = nodes.get_mut(node) {
                connected.held.remove(task);
            }
        });
        self.wake();
    }

    /// The task `node` holds as this instance last wrote it.
    pub(crate) fn held_task(&self, node: &NodeId, task: &TaskId) -> Option<TaskRecord> {
        self.with_nodes(|nodes| nodes.get(node)?.held.get(task)?.clone())
    }

    /// Keeps `record`, just written, as the task `node` holds (when it
    /// still holds it).
    pub(crate) fn wrote_held(&self, node: &NodeId, record: &TaskRecord) {
        let task = TaskId::from(record.id.clone());
        self.with_nodes(|nodes| {
            if let Some(held) = nodes.get_mut(node).and_then(|n| n.held.get_mut(&task)) {
                *held = Some(record.clone());
            }
        });
    }

    /// Drops the copy of `task` that `node` holds (it keeps the slot).
    pub(crate) fn forget_held(&self, node: &NodeId, task: &TaskId) {
        self.with_nodes(|nodes| {
            if let Some(held) = nodes.get_mut(node).and_then(|n| n.held.get_mut(task)) {
                *held = None;
            }
        });
    }

    /// Follows the answer `task` streams as it is generated, while its node
    /// is connected to this instance.
    pub fn watch(&self, task: &TaskId) -> broadcast::Receiver<String> {
        let mut streams = self.streams.lock().expect("compute streams lock");
        streams
            .entry(task.clone())
            .or_insert_with(|| broadcast::channel(1024).0)
            .subscribe()
    }

    pub(crate) fn stream_delta(&self, task: &TaskId, text: &str) {
        let streams = self.streams.lock().expect("compute streams lock");
        if let Some(sender) = streams.get(task) {
            let _ = sender.send(text.to_owned());
        }
    }

    /// The task ended: its watchers see the stream close.
    pub(crate) fn finish_stream(&self, task: &TaskId) {
        self.streams
            .lock()
            .expect("compute streams lock")
            .remove(task);
    }
}

/// Runs the dispatcher until the server stops.
pub async fn run(platform: Platform) {
    let state = platform.compute_state();
    loop {
        let notified = state.wake.notified();
        if let Err(error) = platform.compute().dispatch().await {
            tracing::warn!(%error, "dispatching tasks failed; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = tokio::time::timeout(IDLE_PASS, notified).await;
    }
}

impl Compute<'_> {
    /// One pass: leases pending tasks to free nodes connected here;
    /// answers how many it leased.
    pub async fn dispatch(&self) -> Result<usize, ComputeError> {
        let (models, free) = self.compute_state().with_nodes(|nodes| {
            let mut models: Vec<String> = nodes
                .values()
                .filter(|n| n.free() > 0)
                .flat_map(|n| n.models.iter().cloned())
                .collect();
            models.sort();
            models.dedup();
            (models, nodes.values().map(Connected::free).sum::<u32>())
        });
        if free == 0 || models.is_empty() {
            return Ok(0);
        }
        let pending = meritree_store::compute::pending(self.db(), &models, free.min(BATCH)).await?;
        // Nodes are chosen for the whole pass first, then every lease is
        // written at once: they go to the store in one group commit rather
        // than one commit each.
        let mut offers = Vec::with_capacity(pending.len());
        for record in pending {
            let Some(node) = self.pick(&record.model, record.exclude_operator.as_deref()) else {
                continue;
            };
            let Ok(input) = task_input(&record) else {
                tracing::error!(task = %record.id, "a stored task's input does not parse");
                continue;
            };
            let id = TaskId::from(record.id.clone());
            // The slot is taken before the write, so one pass never
            // overfills a node; given back if the lease is not won.
            self.compute_state().with_nodes(|nodes| {
                if let Some(n) = nodes.get_mut(&node) {
                    n.held.insert(id.clone(), None);
                }
            });
            offers.push((record, node, id, input));
        }
        let leases = join_all(offers.iter().map(|(record, node, ..)| async move {
            let assign = Transition::Assign { node: node.clone() };
            self.transition(record.clone(), &assign, None).await
        }))
        .await;
        let mut leased = 0;
        let mut failure = None;
        for ((_, node, id, input), lease) in offers.into_iter().zip(leases) {
            match lease {
                Ok((task, true)) => {
                    let lease = task.lease.unsigned_abs();
                    let sender = self.compute_state().with_nodes(|nodes| {
                        let n = nodes.get_mut(&node)?;
                        if let Some(held) = n.held.get_mut(&id) {
                            *held = Some(task);
                        }
                        Some(n.sender.clone())
                    });
                    let frame = ToNode::Task {
                        id: id.clone(),
                        lease,
                        input,
                    };
                    // A node that went away in between: its socket's end
                    // returns what it held.
                    if let Some(sender) = sender {
                        if sender.try_send(frame).is_err() {
                            tracing::warn!(%node, task = %id, "node queue full: task left to its lease");
                        }
                    }
                    leased += 1;
                }
                Ok((_, false)) | Err(ComputeError::Transition(_)) => {
                    self.compute_state().release_slot(&node, &id);
                }
                Err(err) => {
                    self.compute_state().release_slot(&node, &id);
                    failure.get_or_insert(err);
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(leased),
        }
    }

    /// The connected node to lease a task for `model` to: one serving it
    /// with a free slot (and not of the operator `exclude`, for a check), the most
    /// reputable, then the least loaded.
    fn pick(&self, model: &str, exclude: Option<&str>) -> Option<NodeId> {
        self.compute_state().with_nodes(|nodes| {
            nodes
                .iter()
                .filter(|(_, n)| {
                    n.free() > 0
                        && n.models.iter().any(|m| m == model)
                        && exclude != Some(n.account_id.as_str())
                })
                .max_by(|(a_id, a), (b_id, b)| {
                    let load = |n: &Connected| {
                        // Free share of capacity, in thousandths.
                        u64::from(n.free()) * 1_000 / u64::from(n.capacity.max(1))
                    };
                    (a.reputation, load(a), b_id).cmp(&(b.reputation, load(b), a_id))
                })
                .map(|(id, _)| id.clone())
        })
    }
}

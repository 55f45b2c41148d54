//! A task's life, as the DeAI seed describes it:
//!
//! ```text
//! pending ─assign─▶ assigned ─start─▶ in_progress ─complete─▶ completed
//!    ▲                 │                  │
//!    └── fail/expire (attempts remain) ◀──┤──▶ failed (after the last)
//!    └── release (handed back, no attempt counted)
//! pending | assigned | in_progress ─cancel─▶ cancelled
//! ```
//!
//! Every node-side step names the node and the lease it holds: a lease is a
//! fencing token that grows with each assignment, so a node whose lease
//! expired (and whose task went to another node) can never complete,
//! fail or hand back a task it no longer holds. The store applies a
//! transition as a compare-and-set on the status and lease it was computed
//! from.

use serde::{Deserialize, Serialize};

use super::NodeId;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Assigned,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Pending,
        TaskStatus::Assigned,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Assigned => "assigned",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Nothing happens to the task any more.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    /// A node holds the task.
    pub const fn is_leased(self) -> bool {
        matches!(self, TaskStatus::Assigned | TaskStatus::InProgress)
    }
}

/// What the store keeps of a task's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub status: TaskStatus,
    /// The fencing token: 0 before the first assignment, one more at each.
    pub lease: u64,
    /// The node holding the lease while assigned or in progress, and the
    /// one that completed or last failed it after.
    pub node: Option<NodeId>,
    /// Failures so far (a node's error or a lease that ran out).
    pub failures: u32,
    /// Failures after which the task is failed for good.
    pub max_attempts: u32,
    /// Why it failed, once final.
    pub error: Option<String>,
}

impl TaskState {
    /// A task just submitted.
    pub fn new(max_attempts: u32) -> Self {
        Self {
            status: TaskStatus::Pending,
            lease: 0,
            node: None,
            failures: 0,
            max_attempts: max_attempts.max(1),
            error: None,
        }
    }
}

/// Something that happens to a task. The node-side steps carry the lease
/// the node was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The dispatcher leases the task to a node.
    Assign { node: NodeId },
    /// The node began running it.
    Start { node: NodeId, lease: u64 },
    /// The node returned its result.
    Complete { node: NodeId, lease: u64 },
    /// The node could not run it.
    Fail {
        node: NodeId,
        lease: u64,
        reason: String,
    },
    /// The node hands it back unrun (draining, or going away cleanly): no
    /// attempt is counted.
    Release { node: NodeId, lease: u64 },
    /// The lease ran out, or its node went silent: counted as a failure.
    Expire { lease: u64 },
    /// The submitter no longer wants it.
    Cancel,
}

impl Transition {
    pub const fn name(&self) -> &'static str {
        match self {
            Transition::Assign { .. } => "assign",
            Transition::Start { .. } => "start",
            Transition::Complete { .. } => "complete",
            Transition::Fail { .. } => "fail",
            Transition::Release { .. } => "release",
            Transition::Expire { .. } => "expire",
            Transition::Cancel => "cancel",
        }
    }
}

/// Why a transition may not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// The node does not hold the task's lease (it expired, the task went
    /// to another node, finished or was cancelled).
    LeaseLost,
    /// The task already ended.
    Finished(TaskStatus),
    /// Not a step from this status (e.g. assigning a task already leased).
    NotAllowed {
        from: TaskStatus,
        transition: &'static str,
    },
}

impl std::fmt::Display for TransitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransitionError::LeaseLost => {
                f.write_str("this node does not hold the task's lease: drop the task")
            }
            TransitionError::Finished(status) => {
                write!(f, "the task is already {}", status.as_str())
            }
            TransitionError::NotAllowed { from, transition } => {
                write!(f, "a task {} cannot {transition}", from.as_str())
            }
        }
    }
}

impl std::error::Error for TransitionError {}

/// The reason recorded when a lease runs out.
pub const LEASE_EXPIRED: &str = "the node's lease ran out";

impl TaskState {
    /// The state after `transition`, or why it cannot happen. Repeating a
    /// step that already happened (the same node completing or starting
    /// under the same lease, cancelling a cancelled task) answers the
    /// current state unchanged, so retries are harmless.
    pub fn apply(&self, transition: &Transition) -> Result<TaskState, TransitionError> {
        use TaskStatus::*;
        let holds =
            |node: &NodeId, lease: u64| self.lease == lease && self.node.as_ref() == Some(node);
        match transition {
            Transition::Assign { node } => match self.status {
                Pending => Ok(TaskState {
                    status: Assigned,
                    lease: self.lease + 1,
                    node: Some(node.clone()),
                    ..self.clone()
                }),
                status if status.is_final() => Err(TransitionError::Finished(status)),
                from => Err(TransitionError::NotAllowed {
                    from,
                    transition: transition.name(),
                }),
            },
            Transition::Start { node, lease } => match self.status {
                Assigned if holds(node, *lease) => Ok(TaskState {
                    status: InProgress,
                    ..self.clone()
                }),
                InProgress if holds(node, *lease) => Ok(self.clone()),
                _ => Err(TransitionError::LeaseLost),
            },
            Transition::Complete { node, lease } => match self.status {
                Assigned | InProgress if holds(node, *lease) => Ok(TaskState {
                    status: Completed,
                    ..self.clone()
                }),
                Completed if holds(node, *lease) => Ok(self.clone()),
                _ => Err(TransitionError::LeaseLost),
            },
            Transition::Fail {
                node,
                lease,
                reason,
            } => match self.status {
                Assigned | InProgress if holds(node, *lease) => Ok(self.failed(reason)),
                _ => Err(TransitionError::LeaseLost),
            },
            Transition::Expire { lease } => match self.status {
                Assigned | InProgress if self.lease == *lease => Ok(self.failed(LEASE_EXPIRED)),
                _ => Err(TransitionError::LeaseLost),
            },
            Transition::Release { node, lease } => match self.status {
                Assigned | InProgress if holds(node, *lease) => Ok(TaskState {
                    status: Pending,
                    node: None,
                    ..self.clone()
                }),
                _ => Err(TransitionError::LeaseLost),
            },
            Transition::Cancel => match self.status {
                Pending | Assigned | InProgress => Ok(TaskState {
                    status: Cancelled,
                    ..self.clone()
                }),
                Cancelled => Ok(self.clone()),
                status => Err(TransitionError::Finished(status)),
            },
        }
    }

    /// One more failure: back to pending while attempts remain, else
    /// failed for good with `reason`.
    fn failed(&self, reason: &str) -> TaskState {
        let failures = self.failures.saturating_add(1);
        if failures >= self.max_attempts {
            TaskState {
                status: TaskStatus::Failed,
                failures,
                error: Some(reason.to_owned()),
                ..self.clone()
            }
        } else {
            TaskState {
                status: TaskStatus::Pending,
                node: None,
                failures,
                error: Some(reason.to_owned()),
                ..self.clone()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    fn node(n: &str) -> NodeId {
        NodeId::from(n)
    }

    fn state(status: TaskStatus, lease: u64, holder: Option<&str>, failures: u32) -> TaskState {
        TaskState {
            status,
            lease,
            node: holder.map(node),
            failures,
            max_attempts: 3,
            error: None,
        }
    }

    /// Every status in a representative shape: leased ones held by `a`
    /// under lease 2, the others after a first lease.
    fn every_state() -> Vec<TaskState> {
        TaskStatus::ALL
            .into_iter()
            .map(|status| match status {
                Pending => state(Pending, 1, None, 1),
                Assigned | InProgress | Completed => state(status, 2, Some("a"), 0),
                Failed => state(Failed, 3, Some("a"), 3),
                Cancelled => state(Cancelled, 2, Some("a"), 0),
            })
            .collect()
    }

    /// Every transition, from the holder `a` under lease 2 and from an
    /// impostor: the same node under an old lease, and another node.
    fn every_transition() -> Vec<Transition> {
        let mut all = vec![Transition::Assign { node: node("b") }, Transition::Cancel];
        for (who, lease) in [("a", 2), ("a", 1), ("b", 2)] {
            all.push(Transition::Start {
                node: node(who),
                lease,
            });
            all.push(Transition::Complete {
                node: node(who),
                lease,
            });
            all.push(Transition::Fail {
                node: node(who),
                lease,
                reason: "out of memory".into(),
            });
            all.push(Transition::Release {
                node: node(who),
                lease,
            });
        }
        all.push(Transition::Expire { lease: 2 });
        all.push(Transition::Expire { lease: 1 });
        all
    }

    /// The whole table: what each transition does from each status.
    fn expected(from: &TaskState, t: &Transition) -> Result<TaskStatus, TransitionError> {
        let holder = |n: &NodeId, l: u64| n.as_str() == "a" && l == 2;
        match (from.status, t) {
            (Pending, Transition::Assign { .. }) => Ok(Assigned),
            (s, Transition::Assign { .. }) if s.is_final() => Err(TransitionError::Finished(s)),
            (s, Transition::Assign { .. }) => Err(TransitionError::NotAllowed {
                from: s,
                transition: "assign",
            }),
            (Pending | Assigned | InProgress, Transition::Cancel) => Ok(Cancelled),
            (Cancelled, Transition::Cancel) => Ok(Cancelled),
            (s, Transition::Cancel) => Err(TransitionError::Finished(s)),
            (Assigned | InProgress, Transition::Start { node, lease }) if holder(node, *lease) => {
                Ok(InProgress)
            }
            (Assigned | InProgress | Completed, Transition::Complete { node, lease })
                if holder(node, *lease) =>
            {
                Ok(Completed)
            }
            (Assigned | InProgress, Transition::Fail { node, lease, .. })
                if holder(node, *lease) =>
            {
                Ok(Pending)
            }
            (Assigned | InProgress, Transition::Release { node, lease })
                if holder(node, *lease) =>
            {
                Ok(Pending)
            }
            (Assigned | InProgress, Transition::Expire { lease: 2 }) => Ok(Pending),
            _ => Err(TransitionError::LeaseLost),
        }
    }

    #[test]
    fn every_transition_from_every_status() {
        let mut checked = 0;
        for from in every_state() {
            for t in every_transition() {
                let got = from.apply(&t).map(|s| s.status);
                assert_eq!(got, expected(&from, &t), "{:?} --{t:?}", from.status);
                checked += 1;
            }
        }
        assert_eq!(checked, 6 * 16);
    }

    #[test]
    fn assigning_takes_a_new_lease_for_the_node() {
        let next = TaskState::new(3)
            .apply(&Transition::Assign { node: node("a") })
            .unwrap();
        assert_eq!((next.lease, next.node), (1, Some(node("a"))));
        let again = state(Pending, 4, None, 1)
            .apply(&Transition::Assign { node: node("b") })
            .unwrap();
        assert_eq!(again.lease, 5, "a reassignment fences off the old lease");
    }

    #[test]
    fn failures_return_the_task_until_the_last_attempt() {
        let mut s = TaskState::new(3);
        for attempt in 1..=3 {
            s = s.apply(&Transition::Assign { node: node("a") }).unwrap();
            let lease = s.lease;
            s = if attempt == 2 {
                s.apply(&Transition::Expire { lease }).unwrap()
            } else {
                s.apply(&Transition::Fail {
                    node: node("a"),
                    lease,
                    reason: "backend refused".into(),
                })
                .unwrap()
            };
            assert_eq!(s.failures, attempt);
            if attempt < 3 {
                assert_eq!((s.status, s.node.as_ref()), (Pending, None));
            }
        }
        assert_eq!(s.status, Failed);
        assert_eq!(s.error.as_deref(), Some("backend refused"));
        assert_eq!(s.node, Some(node("a")), "the failing node stays on record");
    }

    #[test]
    fn an_expired_lease_counts_and_says_so() {
        let s = state(InProgress, 2, Some("a"), 0)
            .apply(&Transition::Expire { lease: 2 })
            .unwrap();
        assert_eq!((s.status, s.failures), (Pending, 1));
        assert_eq!(s.error.as_deref(), Some(LEASE_EXPIRED));
    }

    #[test]
    fn a_handed_back_task_costs_no_attempt() {
        let s = state(InProgress, 2, Some("a"), 1)
            .apply(&Transition::Release {
                node: node("a"),
                lease: 2,
            })
            .unwrap();
        assert_eq!((s.status, s.failures, s.node), (Pending, 1, None));
    }

    #[test]
    fn repeating_a_step_changes_nothing() {
        let done = state(Completed, 2, Some("a"), 0);
        let complete = Transition::Complete {
            node: node("a"),
            lease: 2,
        };
        assert_eq!(done.apply(&complete).unwrap(), done);
        let running = state(InProgress, 2, Some("a"), 0);
        let start = Transition::Start {
            node: node("a"),
            lease: 2,
        };
        assert_eq!(running.apply(&start).unwrap(), running);
        let cancelled = state(Cancelled, 2, None, 0);
        assert_eq!(cancelled.apply(&Transition::Cancel).unwrap(), cancelled);
    }

    #[test]
    fn the_first_attempt_count_is_at_least_one() {
        assert_eq!(TaskState::new(0).max_attempts, 1);
        let s = TaskState::new(0)
            .apply(&Transition::Assign { node: node("a") })
            .unwrap()
            .apply(&Transition::Expire { lease: 1 })
            .unwrap();
        assert_eq!(s.status, Failed);
    }

    #[test]
    fn statuses_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TaskStatus::parse("done"), None);
    }
}

//! The network's housekeeping, once a second on every instance: tasks whose
//! lease ran out go back to pending (their node died with its instance, or
//! stopped heartbeating), rewards a crash left unposted are posted, and the
//! network's figures are announced when they change.

use std::time::Duration;

use meritree_core::compute::{NetworkStats, NodeStatus, TaskStatus, Transition};
use meritree_core::live::{Audience, LiveEvent};
use meritree_store::compute as store;

use super::{Compute, ComputeError};
use crate::clock;
use crate::Platform;

const PASS: Duration = Duration::from_secs(1);
/// Figures are announced at most this often (passes).
const STATS_EVERY: u32 = 5;
/// Connected nodes' stakes are read again this often (passes).
const STAKE_EVERY: u32 = 60;
const BATCH: u32 = 256;

/// Runs until the server stops.
pub async fn run(platform: Platform) {
    let mut last: Option<NetworkStats> = None;
    let mut pass: u32 = 0;
    loop {
        tokio::time::sleep(PASS).await;
        let compute = platform.compute();
        if let Err(error) = compute.reap().await {
            tracing::warn!(%error, "returning expired leases failed; retrying");
        }
        pass = pass.wrapping_add(1);
        if pass.is_multiple_of(STAKE_EVERY) {
            compute.recheck_stakes().await;
        }
        if pass.is_multiple_of(STATS_EVERY) {
            match compute.network_stats().await {
                Ok(stats) if last.as_ref() != Some(&stats) => {
                    platform
                        .hub()
                        .publish(Audience::Everyone, LiveEvent::NetworkStats(stats.clone()));
                    last = Some(stats);
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "network figures not read"),
            }
        }
    }
}

impl Compute<'_> {
    /// Returns expired leases and posts missing rewards; answers how many
    /// tasks moved.
    pub async fn reap(&self) -> Result<usize, ComputeError> {
        let now = clock::unix_secs();
        let mut moved = 0;
        let leased_before = now - super::secs(self.compute_policy().max_task_secs);
        for task in store::expired(self.db(), now, leased_before, BATCH).await? {
            let lease = task.lease.unsigned_abs();
            let node = task.node_id.clone();
            let id = task.id.clone();
            match self
                .transition(task, &Transition::Expire { lease }, None)
                .await
            {
                Ok((after, true)) => {
                    moved += 1;
                    tracing::info!(task = %id, node = ?node, status = %after.status, "lease expired");
                    if let Some(node) = node {
                        let node = meritree_core::compute::NodeId::from(node);
                        self.compute_state().abandon(
                            &node,
                            &meritree_core::compute::TaskId::from(id),
                            lease,
                        );
                        if after.status == TaskStatus::Failed.as_str() {
                            store::count_failure(self.db(), &node).await?;
                        }
                    }
                }
                Ok(_) | Err(ComputeError::Transition(_)) => {}
                Err(err) => return Err(err),
            }
        }
        let silent_since = now - super::secs(self.compute_policy().lease_secs);
        store::mark_silent_offline(self.db(), silent_since).await?;
        self.settle_checks(BATCH).await?;
        for task in store::unrewarded(self.db(), BATCH).await? {
            // One task that cannot be paid must not hold up the others.
            if let Err(error) = self.reward(&task).await {
                tracing::warn!(%error, task = %task.id, "task reward not posted; retried next pass");
            }
        }
        Ok(moved)
    }

    /// A connected node whose operator's stake fell below the minimum
    /// (unstaked, or slashed) takes no new tasks; what it holds it finishes.
    pub async fn recheck_stakes(&self) {
        if self.staking().is_none() {
            return;
        }
        for (node, account) in self.compute_state().operators() {
            match self.check_stake(&account.as_str().into()).await {
                Ok(()) => {}
                Err(ComputeError::StakeTooLow { have, need }) => {
                    tracing::warn!(%node, %have, %need, "stake below the minimum: the node takes no new tasks");
                    if let Err(error) = self.hold_off(&node).await {
                        tracing::warn!(%error, %node, "node's status not saved");
                    }
                }
                // The chain did not answer: judged again at the next check.
                Err(error) => tracing::warn!(%error, "stake not checked"),
            }
        }
    }

    /// The network's figures: nodes online, tasks waiting and running,
    /// and tasks completed per minute over the last hour.
    pub async fn network_stats(&self) -> Result<NetworkStats, ComputeError> {
        let nodes = store::node_counts(self.db()).await?;
        let tasks = store::task_counts(self.db()).await?;
        let count = |rows: &[(String, i64)], wanted: &[&str]| -> u64 {
            rows.iter()
                .filter(|(status, _)| wanted.contains(&status.as_str()))
                .map(|(_, n)| n.unsigned_abs())
                .sum()
        };
        let now = clock::unix_secs();
        let this_minute = now / 60;
        let first = this_minute - 59;
        let mut throughput = vec![0u64; 60];
        for (minute, n) in store::completed_per_minute(self.db(), first * 60).await? {
            if let Ok(slot) = usize::try_from(minute - first) {
                if let Some(cell) = throughput.get_mut(slot) {
                    *cell = n.unsigned_abs();
                }
            }
        }
        Ok(NetworkStats {
            active_nodes: count(
                &nodes,
                &[
                    NodeStatus::Online.as_str(),
                    NodeStatus::Maintenance.as_str(),
                ],
            ),
            pending_tasks: count(&tasks, &[TaskStatus::Pending.as_str()]),
            running_tasks: count(
                &tasks,
                &[
                    TaskStatus::Assigned.as_str(),
                    TaskStatus::InProgress.as_str(),
                ],
            ),
            completed_last_hour: throughput.iter().sum(),
            throughput,
        })
    }
}

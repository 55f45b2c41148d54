//! Checking results: a sampled completed task is run again by another node
//! (a *check*, a task of the platform's own that the first node may not
//! take), and the two answers compared — see
//! [`meritree_core::compute::verification`]. Both nodes are paid once the
//! check agrees (or finds no other node in time); a disagreement pays
//! neither and costs both reputation.

use meritree_core::compute::verification::{
    self, Verdict, AGREEMENT_GAIN, DISAGREEMENT_COST, FLAG_AFTER,
};
use meritree_core::compute::{NodeId, TaskOutput, Transition};
use meritree_store::compute::{self as store, TaskRecord};

use super::{secs, Compute, ComputeError};
use crate::clock;

impl Compute<'_> {
    /// Whether `task`, just completed by `node`, is checked: sampled, and
    /// another node online serves its model. If so its check is queued and
    /// its reward waits for the verdict.
    pub(crate) async fn queue_check(
        &self,
        task: &TaskRecord,
        node: &NodeId,
    ) -> Result<bool, ComputeError> {
        let policy = self.compute_policy();
        // The platform's own calls (an evaluation's embeddings) decide
        // members' scores: no single node's answer is taken for them, so
        // every one is checked (see `provider::Running::output`).
        let own_call = task.account_id.is_none() && task.verifies.is_none();
        let sampled = verification::sampled(&task.id, policy.verify_per_mille);
        if task.verifies.is_some() || !(own_call || sampled) {
            return Ok(false);
        }
        let serving = self.online_serving(&task.model).await?;
        let Some(operator) = serving
            .iter()
            .find(|n| n.id == node.as_str())
            .map(|n| n.account_id.clone())
        else {
            return Ok(false);
        };
        // Another operator's node: one operator's second node vouching for
        // the first proves nothing.
        let another = serving.iter().any(|other| other.account_id != operator);
        if !another {
            return Ok(false);
        }
        let id = uuid::Uuid::new_v4().to_string();
        store::queue_check(
            self.db(),
            &task.id,
            Verdict::Pending.as_str(),
            &store::NewTask {
                id: &id,
                account_id: None,
                idempotency_key: &id,
                request_id: None,
                kind: &task.kind,
                model: &task.model,
                input: &task.input,
                max_attempts: i64::from(policy.max_attempts),
                verifies: Some(&task.id),
                exclude_operator: Some(&operator),
                open_limit: None,
                now: clock::unix_secs(),
            },
        )
        .await?;
        tracing::info!(task = %task.id, check = %id, "result sampled for a check");
        self.compute_state().wake();
        Ok(true)
    }

    /// Compares a completed check with the task it checks; records the
    /// verdict on both, moves both nodes' reputation, and pays what the
    /// verdict allows — once, however many judge the same check.
    pub(crate) async fn judge(&self, check: &TaskRecord) -> Result<(), ComputeError> {
        let Some(original_id) = check.verifies.as_deref() else {
            return Ok(());
        };
        let original = store::get_task(self.db(), original_id)
            .await?
            .ok_or(ComputeError::NoSuchTask)?;
        let verdict = match (output(&original), output(check)) {
            (Some(first), Some(second)) => self.compare(&first, &second).await,
            _ => Verdict::Unchecked,
        };
        let count = matches!(verdict, Verdict::Agreed | Verdict::Disagreed).then(|| {
            let agreed = verdict == Verdict::Agreed;
            store::CheckCount {
                agreed,
                delta: if agreed {
                    AGREEMENT_GAIN
                } else {
                    -DISAGREEMENT_COST
                },
                flag_after: FLAG_AFTER,
            }
        });
        let nodes: Vec<&str> = [&original.node_id, &check.node_id]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let recorded = store::record_verdict(
            self.db(),
            &check.id,
            &original.id,
            verdict.as_str(),
            count,
            &nodes,
        )
        .await?;
        if !recorded {
            // Judged already, by the sweep or another instance; that judge
            // pays (or, cut short, the sweep of unpaid tasks does).
            return Ok(());
        }
        if verdict == Verdict::Disagreed {
            for node in &nodes {
                tracing::warn!(%node, task = %original.id, "a node's result disagreed with its check");
            }
        }
        for task in [&original, check] {
            let task = store::get_task(self.db(), &task.id)
                .await?
                .ok_or(ComputeError::NoSuchTask)?;
            self.reward(&task).await?;
        }
        Ok(())
    }

    /// Embeddings vector by vector; chat answers by the cosine of their
    /// embeddings (through the gateway's embedding model). A comparison
    /// that cannot be made is no verdict on the nodes.
    async fn compare(&self, first: &TaskOutput, second: &TaskOutput) -> Verdict {
        let policy = self.compute_policy();
        let agreed = match (first, second) {
            (
                TaskOutput::Embeddings { vectors: a, .. },
                TaskOutput::Embeddings { vectors: b, .. },
            ) => verification::vectors_agree(a, b, policy.embedding_agreement),
            (TaskOutput::Chat { text: a, .. }, TaskOutput::Chat { text: b, .. }) => {
                let model = &self.work_policy().embedding_model;
                match self
                    .ai()
                    .platform_embed(model, vec![a.clone(), b.clone()])
                    .await
                {
                    Ok(answer) => match answer.value.vectors.as_slice() {
                        [x, y] => {
                            meritree_core::submissions::text::cosine(x, y) >= policy.chat_agreement
                        }
                        _ => return Verdict::Unchecked,
                    },
                    Err(error) => {
                        tracing::warn!(%error, "answers not compared: no embedding");
                        return Verdict::Unchecked;
                    }
                }
            }
            _ => false,
        };
        if agreed {
            Verdict::Agreed
        } else {
            Verdict::Disagreed
        }
    }

    /// Checks no other node took in time are dropped: their tasks are paid
    /// unchecked. Completed checks a crash left unjudged are judged.
    pub(crate) async fn settle_checks(&self, batch: u32) -> Result<(), ComputeError> {
        for check in store::unjudged_checks(self.db(), batch).await? {
            self.judge(&check).await?;
        }
        let before = clock::unix_secs() - secs(self.compute_policy().verify_timeout_secs);
        for check in store::stale_checks(self.db(), before, batch).await? {
            let original = check.verifies.clone();
            match self.transition(check, &Transition::Cancel, None).await {
                Ok(_) | Err(ComputeError::Transition(_)) => {}
                Err(err) => return Err(err),
            }
            if let Some(original) = original {
                store::set_verdict(self.db(), &original, Verdict::Unchecked.as_str()).await?;
            }
        }
        Ok(())
    }
}

fn output(task: &TaskRecord) -> Option<TaskOutput> {
    serde_json::from_str(task.output.as_deref()?).ok()
}

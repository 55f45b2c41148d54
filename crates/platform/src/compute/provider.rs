//! The compute network as an AI provider: the gateway's `nodes/<model>`.
//! A request becomes a task of the platform's own (its caller pays through
//! the gateway's usage record, as for any provider); the dispatcher leases
//! it to a node serving the model, and the answer comes back as the node
//! streams it. The router's failover, breakers and budgets apply as to any
//! provider: with no node online for the model the call fails at once, and
//! the router tries the next candidate.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use meritree_ai::providers::ChatStream;
use meritree_ai::types::{
    ChatRequest, ChatResponse, Embeddings, FinishReason, Role, StreamEvent, Usage,
};
use meritree_ai::{Provider, ProviderError};
use meritree_core::compute::verification::Verdict;
use meritree_core::compute::{ChatMessage, ChatRole, TaskId, TaskInput, TaskOutput, TaskStatus};
use meritree_store::compute as store;
use tokio::sync::broadcast;

use super::{task_view, Compute, ComputeError};
use crate::clock;
use crate::{Platform, WeakPlatform};

tokio::task_local! {
    /// The gateway request being served, while the router runs it: the
    /// task it becomes is its caller's (whose own nodes earn nothing for
    /// it), and names the request (whose usage then names the node).
    static REQUEST: GatewayRequest;
}

#[derive(Clone)]
struct GatewayRequest {
    account: String,
    request_id: String,
}

/// Runs `request` (a router call) for the gateway request `request_id` of
/// `account`.
pub(crate) async fn on_behalf_of<F: std::future::Future>(
    account: &str,
    request_id: &str,
    request: F,
) -> F::Output {
    let gateway_request = GatewayRequest {
        account: account.to_owned(),
        request_id: request_id.to_owned(),
    };
    REQUEST.scope(gateway_request, request).await
}

/// How often a waiting request reads its task, besides the live stream (a
/// node connected to another instance streams there).
const POLL: Duration = Duration::from_millis(500);

/// How often a platform's own call reads whether its answer's check agreed.
const CONFIRM_POLL: Duration = Duration::from_millis(50);

/// The `nodes` provider. Built before the platform (the gateway is part of
/// it), then attached to it.
#[derive(Default)]
pub struct NodesProvider {
    platform: OnceLock<WeakPlatform>,
}

impl NodesProvider {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Connects the provider to the platform it serves; once.
    pub fn attach(&self, platform: &Platform) {
        let _ = self.platform.set(platform.downgrade());
    }

    fn platform(&self) -> Result<Platform, ProviderError> {
        self.platform
            .get()
            .and_then(WeakPlatform::upgrade)
            // The platform is stopping: nothing here can answer.
            .ok_or(ProviderError::Overloaded)
    }

    async fn start(&self, input: TaskInput) -> Result<Running, ProviderError> {
        let platform = self.platform()?;
        let (id, deltas) = platform
            .compute()
            .run(input)
            .await
            .map_err(provider_error)?;
        Ok(Running {
            guard: CancelOnDrop {
                platform: platform.clone(),
                id: Some(id.clone()),
            },
            platform,
            id,
            deltas,
        })
    }
}

impl Provider for NodesProvider {
    fn name(&self) -> &str {
        meritree_ai::gateway::NODES
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let mut running = self.start(chat_input(req)?).await?;
            while running.next_piece().await?.is_some() {}
            match running.output().await? {
                TaskOutput::Chat {
                    text,
                    input_tokens,
                    output_tokens,
                } => Ok(ChatResponse {
                    model: req.model.clone(),
                    text,
                    finish_reason: Some(FinishReason::Stop),
                    usage: Usage {
                        input_tokens,
                        output_tokens,
                    },
                }),
                TaskOutput::Embeddings { .. } => Err(wrong_kind()),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let running = self.start(chat_input(req)?).await?;
            // Pieces as the node streams them; at the end, whatever of the
            // stored answer the stream missed (a lagging watcher), the
            // usage, and the end.
            let events = stream::unfold(Some((running, String::new())), |state| async move {
                let (mut running, mut sent) = state?;
                match running.next_piece().await {
                    Ok(Some(_)) if sent.len() > meritree_core::compute::MAX_OUTPUT_CHARS * 4 => {
                        Some((
                            vec![Err(ProviderError::Malformed(
                                "the node's answer is too long".into(),
                            ))],
                            None,
                        ))
                    }
                    Ok(Some(piece)) => {
                        sent.push_str(&piece);
                        Some((
                            vec![Ok(StreamEvent::TextDelta { text: piece })],
                            Some((running, sent)),
                        ))
                    }
                    Ok(None) => {
                        let events = match running.output().await {
                            Ok(TaskOutput::Chat {
                                text,
                                input_tokens,
                                output_tokens,
                            }) => {
                                let mut events = Vec::new();
                                if let Some(rest) = text.strip_prefix(sent.as_str()) {
                                    if !rest.is_empty() {
                                        events.push(Ok(StreamEvent::TextDelta {
                                            text: rest.to_owned(),
                                        }));
                                    }
                                }
                                events.push(Ok(StreamEvent::Usage {
                                    usage: Usage {
                                        input_tokens,
                                        output_tokens,
                                    },
                                }));
                                events.push(Ok(StreamEvent::Done {
                                    finish_reason: Some(FinishReason::Stop),
                                }));
                                events
                            }
                            Ok(TaskOutput::Embeddings { .. }) => vec![Err(wrong_kind())],
                            Err(err) => vec![Err(err)],
                        };
                        Some((events, None))
                    }
                    Err(err) => Some((vec![Err(err)], None)),
                }
            })
            .flat_map(stream::iter);
            Ok(events.boxed())
        })
    }

    fn embed<'a>(
        &'a self,
        inputs: &'a [String],
        model: &'a str,
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>> {
        Box::pin(async move {
            let input = TaskInput::Embeddings {
                model: model.to_owned(),
                inputs: inputs.to_vec(),
            };
            let mut running = self.start(input).await?;
            while running.next_piece().await?.is_some() {}
            match running.output().await? {
                TaskOutput::Embeddings {
                    vectors,
                    input_tokens,
                } => Ok(Embeddings {
                    model: model.to_owned(),
                    vectors,
                    input_tokens,
                }),
                TaskOutput::Chat { .. } => Err(wrong_kind()),
            }
        })
    }
}

/// A task the provider waits on. Dropped before it ends (the caller went
/// away, the router's deadline passed), the task is cancelled.
struct Running {
    platform: Platform,
    id: TaskId,
    deltas: broadcast::Receiver<String>,
    guard: CancelOnDrop,
}

impl Running {
    /// The next piece of the answer, or `None` once the task has ended.
    async fn next_piece(&mut self) -> Result<Option<String>, ProviderError> {
        loop {
            tokio::select! {
                piece = self.deltas.recv() => match piece {
                    Ok(piece) => return Ok(Some(piece)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Ok(None),
                },
                () = tokio::time::sleep(POLL) => {
                    if self.status().await?.is_final() {
                        return Ok(None);
                    }
                }
            }
        }
    }

    async fn status(&self) -> Result<TaskStatus, ProviderError> {
        let record = store::get_task(self.platform.db(), &self.id)
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?
            .ok_or(ProviderError::StreamBroken)?;
        Ok(TaskStatus::parse(&record.status).unwrap_or(TaskStatus::Failed))
    }

    /// The ended task's result, or why there is none.
    async fn output(&mut self) -> Result<TaskOutput, ProviderError> {
        let record = store::get_task(self.platform.db(), &self.id)
            .await
            .map_err(|e| ProviderError::Transport(e.to_string()))?
            .ok_or(ProviderError::StreamBroken)?;
        let view = task_view(&record).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        self.guard.id = None;
        self.platform.compute_state().finish_stream(&self.id);
        match (view.status, view.output) {
            (TaskStatus::Completed, Some(output)) if record.account_id.is_none() => {
                self.confirmed(output).await
            }
            (TaskStatus::Completed, Some(output)) => Ok(output),
            (TaskStatus::Failed, _) => Err(ProviderError::Server(502)),
            _ => Err(ProviderError::StreamBroken),
        }
    }

    /// A platform's own call (no gateway caller): its answer decides
    /// members' scores, so it is taken only once another operator's node
    /// gave the same (its check, queued at completion). An answer no other
    /// node could check is as if no node had answered, and a disagreement
    /// sends the router to its next candidate (a trusted provider, in a
    /// route that has one).
    async fn confirmed(&self, output: TaskOutput) -> Result<TaskOutput, ProviderError> {
        loop {
            let record = store::get_task(self.platform.db(), &self.id)
                .await
                .map_err(|e| ProviderError::Transport(e.to_string()))?
                .ok_or(ProviderError::StreamBroken)?;
            match record.verdict.as_deref().and_then(Verdict::parse) {
                Some(Verdict::Agreed) => return Ok(output),
                Some(Verdict::Disagreed) => {
                    return Err(ProviderError::Malformed(
                        "two nodes' answers disagreed".into(),
                    ))
                }
                Some(Verdict::Unchecked) => return Err(ProviderError::Overloaded),
                // Paid without a check: no other operator's node serves
                // the model.
                None if record.reward.is_some() => return Err(ProviderError::Overloaded),
                Some(Verdict::Pending) | None => tokio::time::sleep(CONFIRM_POLL).await,
            }
        }
    }
}

struct CancelOnDrop {
    platform: Platform,
    id: Option<TaskId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        // Nobody follows its answer any more (on another instance's
        // completion this one would never hear the end).
        self.platform.compute_state().finish_stream(&id);
        let platform = self.platform.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = platform.compute().cancel_own(&id).await {
                    tracing::debug!(%error, task = %id, "an abandoned request's task moved on already");
                }
            });
        }
    }
}

impl Compute<'_> {
    /// Queues a task of the platform's own for `input`, when a node online
    /// serves its model; answers its id and the pieces of its answer as
    /// they stream (closed when it ends).
    pub async fn run(
        &self,
        input: TaskInput,
    ) -> Result<(TaskId, broadcast::Receiver<String>), ComputeError> {
        input.validate().map_err(ComputeError::InvalidTask)?;
        if self.online_serving(input.model()).await?.is_empty() {
            return Err(ComputeError::NoNodeOnline);
        }
        let id = TaskId::from(uuid::Uuid::new_v4().to_string());
        // Watched before it exists, so no piece of its answer is missed.
        let deltas = self.compute_state().watch(&id);
        let json = serde_json::to_string(&input).expect("inputs serialise");
        let request = REQUEST.try_with(Clone::clone).ok();
        let inserted = store::insert_task(
            self.db(),
            store::NewTask {
                id: &id,
                account_id: request.as_ref().map(|r| r.account.as_str()),
                idempotency_key: &id,
                request_id: request.as_ref().map(|r| r.request_id.as_str()),
                kind: input.kind().as_str(),
                model: input.model(),
                input: &json,
                max_attempts: i64::from(self.compute_policy().max_attempts),
                verifies: None,
                exclude_operator: None,
                open_limit: None,
                now: clock::unix_secs(),
            },
        )
        .await;
        if let Err(err) = inserted {
            self.compute_state().finish_stream(&id);
            return Err(err.into());
        }
        self.compute_state().wake();
        Ok((id, deltas))
    }

    /// Cancels a task the gateway queued (the caller went away).
    async fn cancel_own(&self, id: &TaskId) -> Result<(), ComputeError> {
        let record = store::get_task(self.db(), id)
            .await?
            .ok_or(ComputeError::NoSuchTask)?;
        self.cancel_record(record).await.map(drop)
    }
}

fn chat_input(req: &ChatRequest) -> Result<TaskInput, ProviderError> {
    if req.response_format.as_ref().is_some_and(|f| f.constrains()) {
        return Err(ProviderError::Unsupported(
            "nodes do not guarantee a response format".into(),
        ));
    }
    Ok(TaskInput::Chat {
        model: req.model.clone(),
        messages: req
            .messages
            .iter()
            .map(|m| ChatMessage {
                role: match m.role {
                    Role::System => ChatRole::System,
                    Role::User => ChatRole::User,
                    Role::Assistant => ChatRole::Assistant,
                },
                content: m.content.clone(),
            })
            .collect(),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
    })
}

fn provider_error(err: ComputeError) -> ProviderError {
    match err {
        ComputeError::InvalidTask(rule) => ProviderError::BadRequest(rule.to_string()),
        // Like a full upstream: worth a retry shortly (a node may be
        // connecting), else the next candidate.
        ComputeError::NoNodeOnline => ProviderError::Overloaded,
        other => ProviderError::Transport(other.to_string()),
    }
}

fn wrong_kind() -> ProviderError {
    ProviderError::Malformed("the node answered another kind of task".into())
}

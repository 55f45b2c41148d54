//! Sends a request to the first healthy candidate that answers: retries the
//! same provider on transient failures, fails over to the next otherwise,
//! and keeps a circuit breaker per provider so a dead upstream costs nothing
//! once it is known to be dead.

pub mod breaker;
pub mod retry;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::error::ProviderError;
use crate::providers::{ChatStream, Provider};
use crate::types::{
    ChatRequest, ChatResponse, EmbedRequest, Embeddings, Moderation, ModerationRequest, StreamEvent,
};
pub use breaker::{Breaker, BreakerConfig, BreakerSnapshot, BreakerState, Outcome, Ticket};
pub use retry::RetryPolicy;

/// Time as the router sees it; injected so breaker cooldowns and backoff
/// are tested without waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub provider: String,
    /// The model name as that provider knows it.
    pub model: String,
}

impl Candidate {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
    /// The whole search, every candidate and retry included, until an
    /// answer (or a stream's first output) arrives. Each provider's own
    /// timeouts bound one call; this bounds what the caller waits in all.
    pub deadline: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            deadline: Duration::from_secs(120),
        }
    }
}

/// A failed try on the way to the result, kept for logs and accounting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    /// `None`: skipped because the provider's breaker was open.
    pub error: Option<ProviderError>,
}

#[derive(Debug)]
pub struct Routed<T> {
    pub provider: String,
    pub model: String,
    pub value: T,
    pub failed_attempts: Vec<Attempt>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no candidates to route to")]
    NoCandidates,
    #[error("no provider named {0:?}")]
    UnknownProvider(String),
    /// The upstream judged the request itself invalid; other providers are
    /// not tried, since they would judge it the same.
    #[error("{provider} rejected the request: {error}")]
    Rejected {
        provider: String,
        error: ProviderError,
    },
    #[error("every candidate failed")]
    Exhausted { attempts: Vec<Attempt> },
    /// The routing deadline passed before any candidate answered.
    #[error("no candidate answered within {deadline:?}")]
    DeadlineExceeded {
        deadline: Duration,
        attempts: Vec<Attempt>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderStatus {
    pub name: String,
    pub breaker: BreakerSnapshot,
}

struct Entry {
    provider: Arc<dyn Provider>,
    breaker: Arc<Breaker>,
}

pub struct Router {
    entries: HashMap<String, Entry>,
    /// Registration order, for a stable status listing.
    order: Vec<String>,
    config: RouterConfig,
    clock: Arc<dyn Clock>,
}

/// An admitted call. Dropped without an outcome (the caller cancelled, or a
/// stream was abandoned), it frees a half-open probe slot rather than
/// leaving the breaker waiting forever for a result.
struct Permit {
    breaker: Arc<Breaker>,
    clock: Arc<dyn Clock>,
    ticket: Option<Ticket>,
}

impl Permit {
    fn settle(mut self, result: Result<(), &ProviderError>) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let now = self.clock.now();
        match result {
            Ok(()) => self.breaker.record(now, ticket, Outcome::Success),
            Err(e) if e.is_provider_fault() => self.breaker.record(
                now,
                ticket,
                Outcome::Failure {
                    retry_after: e.retry_after(),
                },
            ),
            // The provider answered; it is up.
            Err(_) => self.breaker.record(now, ticket, Outcome::Success),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.release(ticket);
        }
    }
}

impl Router {
    pub fn new(config: RouterConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: RouterConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: HashMap::new(),
            order: Vec::new(),
            config,
            clock,
        }
    }

    /// Registers a provider under its `name()`, replacing any of that name.
    pub fn add(&mut self, provider: Arc<dyn Provider>) -> &mut Self {
        let name = provider.name().to_owned();
        let breaker = Arc::new(Breaker::new(self.config.breaker.clone(), self.clock.now()));
        if self
            .entries
            .insert(name.clone(), Entry { provider, breaker })
            .is_none()
        {
            self.order.push(name);
        }
        self
    }

    pub fn providers(&self) -> Vec<ProviderStatus> {
        let now = self.clock.now();
        self.order
            .iter()
            .map(|name| ProviderStatus {
                name: name.clone(),
                breaker: self.entries[name].breaker.snapshot(now),
            })
            .collect()
    }

    pub async fn chat(
        &self,
        candidates: &[Candidate],
        request: &ChatRequest,
    ) -> Result<Routed<ChatResponse>, RouteError> {
        self.route(
            candidates,
            request,
            |provider, request, permit| async move {
                let result = provider.chat(&request).await;
                permit.settle(result.as_ref().map(|_| ()));
                result
            },
        )
        .await
    }

    /// Resolves once a candidate has produced its first output, so failover
    /// stays possible until then and the caller never sees a false start.
    /// After that, a failure ends the stream with `StreamEvent::Error`.
    pub async fn chat_stream(
        &self,
        candidates: &[Candidate],
        request: &ChatRequest,
    ) -> Result<Routed<ChatStream>, RouteError> {
        self.route(
            candidates,
            request,
            |provider, request, permit| async move {
                let mut upstream = match provider.chat_stream(&request).await {
                    Ok(s) => s,
                    Err(e) => {
                        permit.settle(Err(&e));
                        return Err(e);
                    }
                };
                // Usage may precede any text (Anthropic's message_start); it is
                // held back so that "nothing sent yet" stays true until the
                // first text, the end, or a failure.
                let mut held = Vec::new();
                loop {
                    match upstream.next().await {
                        Some(Ok(event @ StreamEvent::Usage { .. })) => held.push(event),
                        Some(Ok(StreamEvent::Error { error })) | Some(Err(error)) => {
                            permit.settle(Err(&error));
                            return Err(error);
                        }
                        Some(Ok(event)) => {
                            held.push(event);
                            break;
                        }
                        None => {
                            let error = ProviderError::StreamBroken;
                            permit.settle(Err(&error));
                            return Err(error);
                        }
                    }
                }
                Ok(committed(held, upstream, permit))
            },
        )
        .await
    }

    /// Embeds `request.inputs` with the first candidate that answers.
    pub async fn embed(
        &self,
        candidates: &[Candidate],
        request: &EmbedRequest,
    ) -> Result<Routed<Embeddings>, RouteError> {
        self.route(
            candidates,
            request,
            |provider, request, permit| async move {
                let result = provider.embed(&request.inputs, &request.model).await;
                permit.settle(result.as_ref().map(|_| ()));
                result
            },
        )
        .await
    }

    /// Classifies `request.input` with the first candidate that answers.
    pub async fn moderate(
        &self,
        candidates: &[Candidate],
        request: &ModerationRequest,
    ) -> Result<Routed<Moderation>, RouteError> {
        self.route(
            candidates,
            request,
            |provider, request, permit| async move {
                let result = provider.moderate(&request.input, &request.model).await;
                permit.settle(result.as_ref().map(|_| ()));
                result
            },
        )
        .await
    }

    async fn route<R, T, F, Fut>(
        &self,
        candidates: &[Candidate],
        request: &R,
        mut call: F,
    ) -> Result<Routed<T>, RouteError>
    where
        R: Routable,
        F: FnMut(Arc<dyn Provider>, R, Permit) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        if candidates.is_empty() {
            return Err(RouteError::NoCandidates);
        }
        let retry = self.config.retry;
        // Wall-clock time: this bounds what the caller waits, which the
        // injected clock (breaker cooldowns, backoff) does not model.
        let deadline = tokio::time::Instant::now() + self.config.deadline;
        let mut attempts = Vec::new();
        for candidate in candidates {
            let entry = self
                .entries
                .get(&candidate.provider)
                .ok_or_else(|| RouteError::UnknownProvider(candidate.provider.clone()))?;
            let request = request.for_model(&candidate.model);
            let attempt = |error| Attempt {
                provider: candidate.provider.clone(),
                model: candidate.model.clone(),
                error,
            };
            for n in 0..retry.max_attempts.max(1) {
                let Some(ticket) = entry.breaker.admit(self.clock.now()) else {
                    tracing::debug!(provider = %candidate.provider, "circuit open, skipped");
                    attempts.push(attempt(None));
                    break;
                };
                let permit = Permit {
                    breaker: entry.breaker.clone(),
                    clock: self.clock.clone(),
                    ticket: Some(ticket),
                };
                let called = tokio::time::timeout_at(
                    deadline,
                    call(entry.provider.clone(), request.clone(), permit),
                );
                // Cut off by the deadline, the call drops its permit unsettled:
                // the provider may be slow only because the budget was spent
                // elsewhere, so its breaker is not charged.
                let Ok(result) = called.await else {
                    attempts.push(attempt(Some(ProviderError::Timeout)));
                    return Err(self.deadline_exceeded(attempts));
                };
                let error = match result {
                    Ok(value) => {
                        return Ok(Routed {
                            provider: candidate.provider.clone(),
                            model: candidate.model.clone(),
                            value,
                            failed_attempts: attempts,
                        })
                    }
                    Err(error) => error,
                };
                tracing::warn!(
                    provider = %candidate.provider,
                    model = %candidate.model,
                    attempt = n + 1,
                    %error,
                    "upstream call failed"
                );
                attempts.push(attempt(Some(error.clone())));
                if !error.allows_failover() {
                    return Err(RouteError::Rejected {
                        provider: candidate.provider.clone(),
                        error,
                    });
                }
                // A stated Retry-After is left to the breaker, which holds
                // the provider off for that long; the next candidate is
                // tried now instead of sleeping on this one.
                if !error.is_retryable() || error.retry_after().is_some() {
                    break;
                }
                if n + 1 < retry.max_attempts {
                    let pause = retry.delay(n, fastrand::f64());
                    if tokio::time::Instant::now() + pause >= deadline {
                        return Err(self.deadline_exceeded(attempts));
                    }
                    self.clock.sleep(pause).await;
                }
            }
        }
        Err(RouteError::Exhausted { attempts })
    }

    fn deadline_exceeded(&self, attempts: Vec<Attempt>) -> RouteError {
        tracing::warn!(deadline = ?self.config.deadline, "routing deadline passed");
        RouteError::DeadlineExceeded {
            deadline: self.config.deadline,
            attempts,
        }
    }
}

/// A request the router can address to each candidate's own model name.
pub trait Routable: Clone {
    fn for_model(&self, model: &str) -> Self;
}

impl Routable for ChatRequest {
    fn for_model(&self, model: &str) -> Self {
        Self {
            model: model.to_owned(),
            ..self.clone()
        }
    }
}

impl Routable for EmbedRequest {
    fn for_model(&self, model: &str) -> Self {
        Self {
            model: model.to_owned(),
            ..self.clone()
        }
    }
}

impl Routable for ModerationRequest {
    fn for_model(&self, model: &str) -> Self {
        Self {
            model: model.to_owned(),
            ..self.clone()
        }
    }
}

/// The stream handed to the caller once output has started: the held
/// events, then the upstream's, and on any failure one terminal `Error`
/// event. The breaker hears the outcome when the stream ends.
fn committed(held: Vec<StreamEvent>, upstream: ChatStream, permit: Permit) -> ChatStream {
    struct State {
        held: std::vec::IntoIter<StreamEvent>,
        upstream: ChatStream,
        permit: Option<Permit>,
    }
    let state = State {
        held: held.into_iter(),
        upstream,
        permit: Some(permit),
    };
    stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        let next = match s.held.next() {
            Some(event) => Some(Ok(event)),
            None => s.upstream.next().await,
        };
        let error = match next {
            Some(Ok(StreamEvent::Done { finish_reason })) => {
                if let Some(p) = s.permit.take() {
                    p.settle(Ok(()));
                }
                return Some((Ok(StreamEvent::Done { finish_reason }), None));
            }
            Some(Ok(StreamEvent::Error { error })) | Some(Err(error)) => error,
            Some(Ok(event)) => return Some((Ok(event), Some(s))),
            None => ProviderError::StreamBroken,
        };
        if let Some(p) = s.permit.take() {
            p.settle(Err(&error));
        }
        Some((Ok(StreamEvent::Error { error }), None))
    })
    .boxed()
}

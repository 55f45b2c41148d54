//! One AI request from an account, end to end: resolve the public model,
//! check the budgets before anything is sent, answer from the cache when
//! asked to, route, price the usage and record it. The HTTP API and the
//! playground both come through here.

use super::Ai;
use meritree_core::accounts::AccountId;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use meritree_ai::config::Capability;
use meritree_ai::gateway::ResolveError;
use meritree_ai::router::{Attempt, RouteError, Routed};
use meritree_ai::{
    estimate_tokens, Candidate, ChatRequest, ChatResponse, ChatStream, EmbedRequest, Embeddings,
    Gateway, Moderation, ModerationRequest, ProviderError, StreamEvent, Usage,
};
use meritree_core::ErrorCode;
use meritree_store::StoreError;
use sha2::{Digest, Sha256};

use super::budgets::BudgetExceeded;
use super::usage::UsageRecord;
use crate::clock::unix_secs;
use crate::error::{store_error_code, PublicError};
use crate::principal::Principal;
use crate::Platform;

/// Who pays for a request: the account, and the API key when a program
/// sent it (budgets and usage are kept for both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiCaller {
    pub account_id: AccountId,
    pub api_key_id: Option<String>,
}

impl From<&Principal> for AiCaller {
    fn from(principal: &Principal) -> Self {
        Self {
            account_id: principal.account_id.clone(),
            api_key_id: principal.api_key_id().map(ToString::to_string),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("the AI gateway is not enabled on this platform")]
    NotConfigured,
    #[error(transparent)]
    Model(#[from] ResolveError),
    #[error("{0}")]
    Budget(#[from] BudgetExceeded),
    /// The upstream judged the request invalid (too long, bad parameter).
    #[error("{provider} rejected the request: {error}")]
    Rejected {
        provider: String,
        error: ProviderError,
    },
    /// No candidate can honour a part of the request (`response_format`,
    /// `seed`): the caller asked for something this platform cannot give.
    #[error("no provider for this model supports `{0}`")]
    Unsupported(String),
    /// Every candidate failed or was skipped by its breaker.
    #[error("no provider could answer: {0}")]
    Unavailable(String),
    /// The gateway's deadline passed before any provider answered.
    #[error("no provider answered in time: {0}")]
    TimedOut(String),
    #[error("the budget period is `day` or `month`")]
    InvalidPeriod,
    #[error(
        "the spending report covers 1 to {} days",
        meritree_core::ai::MAX_SPENDING_DAYS
    )]
    InvalidSpan,
    #[error("no such API key")]
    NoSuchKey,
    #[error("no such account")]
    NoSuchAccount,
    #[error("no budget for this period")]
    NoSuchBudget,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PublicError for AiError {
    fn code(&self) -> ErrorCode {
        match self {
            AiError::NotConfigured | AiError::Unavailable(_) => ErrorCode::UpstreamUnavailable,
            AiError::Model(ResolveError::UnknownModel(_)) => ErrorCode::ModelNotFound,
            AiError::Model(ResolveError::Incapable { .. }) => ErrorCode::InvalidRequest,
            AiError::Budget(_) => ErrorCode::BudgetExceeded,
            AiError::Rejected { .. } => ErrorCode::UpstreamRejected,
            AiError::TimedOut(_) => ErrorCode::UpstreamTimeout,
            AiError::InvalidPeriod | AiError::InvalidSpan | AiError::Unsupported(_) => {
                ErrorCode::InvalidRequest
            }
            AiError::NoSuchKey | AiError::NoSuchAccount | AiError::NoSuchBudget => {
                ErrorCode::NotFound
            }
            AiError::Store(err) => store_error_code(err),
        }
    }
}

impl From<RouteError> for AiError {
    fn from(error: RouteError) -> Self {
        match error {
            RouteError::Rejected { provider, error } => Self::Rejected { provider, error },
            RouteError::Exhausted { attempts } => match unsupported(&attempts) {
                Some(what) => Self::Unsupported(what),
                None => Self::Unavailable(describe(&attempts)),
            },
            RouteError::DeadlineExceeded { deadline, attempts } => Self::TimedOut(format!(
                "{}s passed; {}",
                deadline.as_secs(),
                describe(&attempts)
            )),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// What every attempt refused as unsupported, when that is why all failed.
fn unsupported(attempts: &[Attempt]) -> Option<String> {
    let mut what = None;
    for attempt in attempts {
        match &attempt.error {
            Some(ProviderError::Unsupported(field)) => what = Some(field.clone()),
            _ => return None,
        }
    }
    what
}

fn describe(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| match &a.error {
            Some(error) => format!("{}/{}: {error}", a.provider, a.model),
            None => format!("{}/{}: circuit open", a.provider, a.model),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A finished answer and what it cost.
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    /// Also the usage record's id.
    pub request_id: String,
    pub provider: String,
    pub model: String,
    pub response: ChatResponse,
    pub cost_nanos: u64,
    pub cached: bool,
}

/// A stream that has produced its first output (failover is over). Usage
/// is recorded when it ends, or when the caller drops it.
pub struct ChatStreamAnswer {
    pub request_id: String,
    pub provider: String,
    pub model: String,
    /// What the model's tokens cost, for the answer's final event.
    pub price: meritree_ai::pricing::Price,
    pub stream: ChatStream,
}

/// What the platform's own request got, and from whom.
#[derive(Debug, Clone)]
pub struct PlatformAnswer<T> {
    pub provider: String,
    pub model: String,
    pub value: T,
    pub cost_nanos: u64,
}

#[derive(Debug, Clone)]
pub struct EmbedAnswer {
    pub request_id: String,
    pub provider: String,
    pub embeddings: Embeddings,
    pub cost_nanos: u64,
}

impl<'a> Ai<'a> {
    /// The gateway, or `NotConfigured` when AI is off on this platform.
    pub fn configured(&self) -> Result<&'a Arc<Gateway>, AiError> {
        self.0.gateway().ok_or(AiError::NotConfigured)
    }

    /// Checks budgets and resolves `public_model`: everything that must
    /// hold before any upstream is called.
    async fn admit(
        &self,
        caller: &AiCaller,
        public_model: &str,
        capability: Capability,
    ) -> Result<(Arc<Gateway>, Vec<Candidate>), AiError> {
        let gateway = self.configured()?.clone();
        let candidates = gateway.resolve(public_model, capability)?;
        self.check_budget(
            &caller.account_id,
            caller.api_key_id.as_deref(),
            unix_secs(),
        )
        .await?;
        Ok((gateway, candidates))
    }

    /// A complete answer. With `cache_ttl`, an identical earlier request of
    /// the same account is answered from the cache (recorded at zero cost).
    #[tracing::instrument(skip_all)]
    pub async fn chat(
        &self,
        caller: &AiCaller,
        public_model: &str,
        request: ChatRequest,
        cache_ttl: Option<Duration>,
    ) -> Result<ChatAnswer, AiError> {
        let (gateway, candidates) = self.admit(caller, public_model, Capability::Chat).await?;
        let request_id = super::time_ordered_id();
        let cache_key = cache_ttl.map(|_| cache_key(caller, public_model, &request));
        if let Some(key) = &cache_key {
            if let Some(hit) = self.cache_get(key).await {
                if let Ok(cached) = serde_json::from_slice::<CachedChat>(&hit) {
                    self.record(
                        caller,
                        &request_id,
                        public_model,
                        &cached.candidate(),
                        cached.response.usage,
                        0,
                        true,
                        true,
                    )
                    .await?;
                    return Ok(ChatAnswer {
                        request_id,
                        provider: cached.provider,
                        model: cached.model,
                        response: cached.response,
                        cost_nanos: 0,
                        cached: true,
                    });
                }
            }
        }
        let started = std::time::Instant::now();
        let mut routed: Routed<ChatResponse> = crate::compute::provider::on_behalf_of(
            &caller.account_id,
            &request_id,
            gateway.router().chat(&candidates, &request),
        )
        .await?;
        routed.value.usage = billed_usage(&routed.value, &request);
        self.metrics()
            .ai_answered(&routed.provider, started.elapsed());
        let candidate = Candidate::new(&routed.provider, &routed.model);
        let cost = gateway.price(&candidate).cost_nanos(routed.value.usage);
        self.record(
            caller,
            &request_id,
            public_model,
            &candidate,
            routed.value.usage,
            cost,
            false,
            true,
        )
        .await?;
        if let (Some(key), Some(ttl)) = (&cache_key, cache_ttl) {
            let cached = CachedChat {
                provider: routed.provider.clone(),
                model: routed.model.clone(),
                response: routed.value.clone(),
            };
            if let Ok(bytes) = serde_json::to_vec(&cached) {
                self.cache_put(key, bytes, ttl).await;
            }
        }
        Ok(ChatAnswer {
            request_id,
            provider: routed.provider,
            model: routed.model,
            response: routed.value,
            cost_nanos: cost,
            cached: false,
        })
    }

    /// A streamed answer: resolves once the first output is in hand.
    #[tracing::instrument(skip_all)]
    pub async fn chat_stream(
        &self,
        caller: &AiCaller,
        public_model: &str,
        request: ChatRequest,
    ) -> Result<ChatStreamAnswer, AiError> {
        let (gateway, candidates) = self.admit(caller, public_model, Capability::Chat).await?;
        let request_id = super::time_ordered_id();
        let started = std::time::Instant::now();
        let routed = crate::compute::provider::on_behalf_of(
            &caller.account_id,
            &request_id,
            gateway.router().chat_stream(&candidates, &request),
        )
        .await?;
        self.metrics()
            .ai_answered(&routed.provider, started.elapsed());
        let candidate = Candidate::new(&routed.provider, &routed.model);
        let price = gateway.price(&candidate);
        let metered = Metered {
            inner: routed.value,
            reported: Usage::default(),
            prompt_tokens: estimated_prompt_tokens(&request),
            sent_chars: 0,
            outcome: None,
            recorder: Some(Recorder {
                platform: self.0.clone(),
                caller: caller.clone(),
                request_id: request_id.clone(),
                public_model: public_model.to_owned(),
                price,
                candidate,
            }),
        };
        Ok(ChatStreamAnswer {
            request_id,
            provider: routed.provider,
            model: routed.model,
            price,
            stream: Box::pin(metered),
        })
    }

    #[tracing::instrument(skip_all)]
    pub async fn embed(
        &self,
        caller: &AiCaller,
        public_model: &str,
        inputs: Vec<String>,
    ) -> Result<EmbedAnswer, AiError> {
        let (gateway, candidates) = self
            .ai()
            .admit(caller, public_model, Capability::Embeddings)
            .await?;
        let request_id = super::time_ordered_id();
        let request = EmbedRequest {
            model: public_model.to_owned(),
            inputs,
        };
        let started = std::time::Instant::now();
        let routed = crate::compute::provider::on_behalf_of(
            &caller.account_id,
            &request_id,
            gateway.router().embed(&candidates, &request),
        )
        .await?;
        self.metrics()
            .ai_answered(&routed.provider, started.elapsed());
        let candidate = Candidate::new(&routed.provider, &routed.model);
        let usage = Usage {
            input_tokens: routed.value.input_tokens,
            output_tokens: 0,
        };
        let cost = gateway.price(&candidate).cost_nanos(usage);
        self.record(
            caller,
            &request_id,
            public_model,
            &candidate,
            usage,
            cost,
            false,
            true,
        )
        .await?;
        Ok(EmbedAnswer {
            request_id,
            provider: routed.provider,
            embeddings: routed.value,
            cost_nanos: cost,
        })
    }

    /// A request the platform makes for itself (evaluating work): routed
    /// like any other, charged to no account and held to no budget; the
    /// caller records what it cost with the result it was for.
    #[tracing::instrument(skip_all)]
    pub async fn platform_chat(
        &self,
        public_model: &str,
        request: &ChatRequest,
    ) -> Result<PlatformAnswer<ChatResponse>, AiError> {
        let gateway = self.configured()?;
        let candidates = gateway.resolve(public_model, Capability::Chat)?;
        let mut routed = gateway.router().chat(&candidates, request).await?;
        routed.value.usage = billed_usage(&routed.value, request);
        let candidate = Candidate::new(&routed.provider, &routed.model);
        let cost_nanos = gateway.price(&candidate).cost_nanos(routed.value.usage);
        Ok(PlatformAnswer {
            provider: routed.provider,
            model: routed.model,
            value: routed.value,
            cost_nanos,
        })
    }

    /// Embeddings the platform asks for itself (see [`Self::platform_chat`]).
    #[tracing::instrument(skip_all)]
    pub async fn platform_embed(
        &self,
        public_model: &str,
        inputs: Vec<String>,
    ) -> Result<PlatformAnswer<Embeddings>, AiError> {
        let gateway = self.configured()?;
        let candidates = gateway.resolve(public_model, Capability::Embeddings)?;
        let request = EmbedRequest {
            model: public_model.to_owned(),
            inputs,
        };
        let routed = gateway.router().embed(&candidates, &request).await?;
        let candidate = Candidate::new(&routed.provider, &routed.model);
        let cost_nanos = gateway.price(&candidate).cost_nanos(Usage {
            input_tokens: routed.value.input_tokens,
            output_tokens: 0,
        });
        Ok(PlatformAnswer {
            provider: routed.provider,
            model: routed.model,
            value: routed.value,
            cost_nanos,
        })
    }

    /// A moderation verdict the platform asks for itself (see
    /// [`Self::platform_chat`]); moderation endpoints are free.
    #[tracing::instrument(skip_all)]
    pub async fn platform_moderate(
        &self,
        public_model: &str,
        input: String,
    ) -> Result<PlatformAnswer<Moderation>, AiError> {
        let gateway = self.configured()?;
        let candidates = gateway.resolve(public_model, Capability::Moderation)?;
        let request = ModerationRequest {
            model: public_model.to_owned(),
            input,
        };
        let routed = gateway.router().moderate(&candidates, &request).await?;
        Ok(PlatformAnswer {
            provider: routed.provider,
            model: routed.model,
            value: routed.value,
            cost_nanos: 0,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        caller: &AiCaller,
        request_id: &str,
        public_model: &str,
        candidate: &Candidate,
        usage: Usage,
        cost_nanos: u64,
        cached: bool,
        ok: bool,
    ) -> Result<(), StoreError> {
        self.queue_usage(UsageRecord {
            request_id: request_id.to_owned(),
            account_id: caller.account_id.to_string(),
            api_key_id: caller.api_key_id.clone(),
            provider: candidate.provider.clone(),
            model: candidate.model.clone(),
            public_model: public_model.to_owned(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_nanos,
            cached,
            ok,
            served_by: None,
        })
        .await
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedChat {
    provider: String,
    model: String,
    response: ChatResponse,
}

impl CachedChat {
    fn candidate(&self) -> Candidate {
        Candidate::new(&self.provider, &self.model)
    }
}

/// Exact match, per account: another account's identical prompt is not
/// answered from this one's cache.
fn cache_key(caller: &AiCaller, public_model: &str, request: &ChatRequest) -> String {
    let mut hash = Sha256::new();
    hash.update(caller.account_id.as_bytes());
    hash.update([0]);
    hash.update(public_model.as_bytes());
    hash.update([0]);
    hash.update(serde_json::to_vec(request).unwrap_or_default());
    format!("{:x}", hash.finalize())
}

struct Recorder {
    platform: Platform,
    caller: AiCaller,
    request_id: String,
    public_model: String,
    candidate: Candidate,
    price: meritree_ai::pricing::Price,
}

impl Recorder {
    /// Off the response path: the caller has its answer already.
    fn finish(self, usage: Usage, ok: bool) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let cost = self.price.cost_nanos(usage);
            let recorded = self
                .platform
                .ai()
                .record(
                    &self.caller,
                    &self.request_id,
                    &self.public_model,
                    &self.candidate,
                    usage,
                    cost,
                    false,
                    ok,
                )
                .await;
            if let Err(error) = recorded {
                tracing::error!(request = %self.request_id, %error, "AI usage not recorded");
            }
        });
    }
}

/// The prompt's tokens before any upstream has counted them.
/// What a complete answer is billed: the upstream's counts, or, for a
/// count it did not report (a server that ignores `include_usage`), an
/// estimate from the prompt or the answer, so no answer goes free.
fn billed_usage(answer: &ChatResponse, request: &ChatRequest) -> Usage {
    let pick = |reported: u64, estimated: u64| if reported > 0 { reported } else { estimated };
    Usage {
        input_tokens: pick(answer.usage.input_tokens, estimated_prompt_tokens(request)),
        output_tokens: pick(
            answer.usage.output_tokens,
            estimate_tokens(answer.text.chars().count() as u64),
        ),
    }
}

fn estimated_prompt_tokens(request: &ChatRequest) -> u64 {
    let chars = request
        .messages
        .iter()
        .map(|message| message.content.chars().count() as u64)
        .sum();
    estimate_tokens(chars)
}

/// Passes a routed stream through, keeping the latest usage and counting
/// the text sent, and records it once: at `Done`, at an `Error`, or when
/// dropped early (a client that went away still pays for the prompt and
/// for what it was sent).
struct Metered {
    inner: ChatStream,
    /// The upstream's latest totals; zero until it reports any, which most
    /// do only at the very end.
    reported: Usage,
    /// Estimated when the stream started, for a stream that ends before
    /// the upstream's count.
    prompt_tokens: u64,
    /// Characters of text handed to the caller so far.
    sent_chars: u64,
    /// `Some(true)` once `Done` was seen, `Some(false)` once the stream failed.
    outcome: Option<bool>,
    recorder: Option<Recorder>,
}

impl Metered {
    /// What the request is charged. A stream that ended before the
    /// upstream's final count (client gone, upstream cut off) would
    /// otherwise cost nothing, so each field is at least the estimate of the
    /// prompt and of the text sent. A completed stream is charged exactly
    /// what the upstream reported; only a field it left at zero is
    /// estimated.
    fn charged(&self) -> Usage {
        let completed = self.outcome == Some(true);
        let charge = |reported: u64, estimated: u64| {
            if completed && reported > 0 {
                reported
            } else {
                reported.max(estimated)
            }
        };
        Usage {
            input_tokens: charge(self.reported.input_tokens, self.prompt_tokens),
            output_tokens: charge(
                self.reported.output_tokens,
                estimate_tokens(self.sent_chars),
            ),
        }
    }
}

impl Stream for Metered {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(item) = &next {
            match item {
                Some(Ok(StreamEvent::Usage { usage })) => self.reported = *usage,
                Some(Ok(StreamEvent::Done { .. })) => self.outcome = Some(true),
                Some(Ok(StreamEvent::Error { .. })) | Some(Err(_)) | None => {
                    self.outcome.get_or_insert(false);
                }
                Some(Ok(StreamEvent::TextDelta { text })) => {
                    let chars = text.chars().count() as u64;
                    self.sent_chars = self.sent_chars.saturating_add(chars);
                }
            }
            if let Some(ok) = self.outcome {
                if let Some(recorder) = self.recorder.take() {
                    recorder.finish(self.charged(), ok);
                }
            }
        }
        next
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.finish(self.charged(), false);
        }
    }
}

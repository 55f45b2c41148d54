//! Router behaviour against scripted providers on a manual clock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use meritree_ai::router::{
    BreakerConfig, BreakerState, Clock, RetryPolicy, RouteError, RouterConfig,
};
use meritree_ai::{
    Candidate, ChatRequest, ChatResponse, ChatStream, FinishReason, Message, Provider,
    ProviderError, Role, Router, StreamEvent, Usage,
};

struct ManualClock {
    now: Mutex<Instant>,
    slept: Mutex<Vec<Duration>>,
}

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(Instant::now()),
            slept: Mutex::new(Vec::new()),
        })
    }

    fn advance(&self, d: Duration) {
        *self.now.lock().unwrap() += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.advance(d);
        self.slept.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

type Events = Vec<Result<StreamEvent, ProviderError>>;

/// Answers from a script; once it runs out, succeeds.
struct Scripted {
    name: String,
    chat: Mutex<VecDeque<ProviderError>>,
    streams: Mutex<VecDeque<Result<Events, ProviderError>>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            chat: Mutex::default(),
            streams: Mutex::default(),
            calls: AtomicUsize::new(0),
        })
    }

    fn failing(name: &str, errors: impl IntoIterator<Item = ProviderError>) -> Arc<Self> {
        let p = Self::new(name);
        p.chat.lock().unwrap().extend(errors);
        p
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Provider for Scripted {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self.chat.lock().unwrap().pop_front();
        Box::pin(async move {
            match next {
                Some(e) => Err(e),
                None => Ok(ChatResponse {
                    model: req.model.clone(),
                    text: format!("from {}", self.name),
                    finish_reason: Some(FinishReason::Stop),
                    usage: Usage {
                        input_tokens: 3,
                        output_tokens: 2,
                    },
                }),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = self.streams.lock().unwrap().pop_front();
        let name = self.name.clone();
        Box::pin(async move {
            let events = next.unwrap_or_else(|| Ok(good_stream(&name)))?;
            Ok(stream::iter(events).boxed())
        })
    }
}

fn text(t: &str) -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::TextDelta { text: t.into() })
}

fn good_stream(name: &str) -> Events {
    vec![
        Ok(StreamEvent::Usage {
            usage: Usage {
                input_tokens: 3,
                output_tokens: 0,
            },
        }),
        text("from "),
        text(name),
        Ok(StreamEvent::Done {
            finish_reason: Some(FinishReason::Stop),
        }),
    ]
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "public-name".into(),
        messages: vec![Message::new(Role::User, "hi")],
        max_tokens: None,
        temperature: None,
        stream: false,
        ..Default::default()
    }
}

fn config() -> RouterConfig {
    RouterConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        },
        breaker: BreakerConfig {
            consecutive_failures: 3,
            cooldown: Duration::from_secs(30),
            ..BreakerConfig::default()
        },
        deadline: Duration::from_secs(60),
    }
}

fn router(clock: &Arc<ManualClock>, providers: &[&Arc<Scripted>]) -> Router {
    let mut r = Router::with_clock(config(), clock.clone());
    for p in providers {
        r.add((*p).clone());
    }
    r
}

fn candidates(names: &[&str]) -> Vec<Candidate> {
    names
        .iter()
        .map(|n| Candidate::new(*n, format!("{n}-model")))
        .collect()
}

fn state(r: &Router, name: &str) -> BreakerState {
    r.providers()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
        .breaker
        .state
}

#[tokio::test]
async fn retries_5xx_with_backoff_then_falls_back() {
    let clock = ManualClock::new();
    let a = Scripted::failing("a", vec![ProviderError::Server(500); 3]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let routed = r.chat(&candidates(&["a", "b"]), &request()).await.unwrap();
    assert_eq!(routed.provider, "b");
    assert_eq!(routed.value.text, "from b");
    assert_eq!(
        routed.value.model, "b-model",
        "candidate's model substituted"
    );
    assert_eq!(a.calls(), 3);
    assert_eq!(routed.failed_attempts.len(), 3);
    let slept = clock.slept.lock().unwrap().clone();
    assert_eq!(
        slept.len(),
        2,
        "a pause between attempts, none after the last"
    );
    assert!(slept[0] <= Duration::from_millis(100) && slept[1] <= Duration::from_millis(200));
}

#[tokio::test]
async fn a_bad_request_is_neither_retried_nor_failed_over() {
    let clock = ManualClock::new();
    let a = Scripted::failing("a", [ProviderError::BadRequest("too long".into())]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let err = r
        .chat(&candidates(&["a", "b"]), &request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RouteError::Rejected { provider, error: ProviderError::BadRequest(_) } if provider == "a"),
        "{err:?}"
    );
    assert_eq!((a.calls(), b.calls()), (1, 0));
    assert_eq!(state(&r, "a"), BreakerState::Closed);
}

#[tokio::test]
async fn unauthorized_fails_over_without_retrying() {
    let clock = ManualClock::new();
    let a = Scripted::failing("a", [ProviderError::Unauthorized]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let routed = r.chat(&candidates(&["a", "b"]), &request()).await.unwrap();
    assert_eq!(routed.provider, "b");
    assert_eq!(a.calls(), 1);
    assert!(clock.slept.lock().unwrap().is_empty());
}

#[tokio::test]
async fn retry_after_moves_on_at_once_and_holds_the_provider_off() {
    let clock = ManualClock::new();
    let limited = ProviderError::RateLimited {
        retry_after: Some(Duration::from_secs(10)),
    };
    let a = Scripted::failing("a", [limited]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let c = candidates(&["a", "b"]);
    assert_eq!(r.chat(&c, &request()).await.unwrap().provider, "b");
    assert_eq!(a.calls(), 1);
    assert!(clock.slept.lock().unwrap().is_empty());
    // Within the Retry-After, `a` is skipped without a call.
    let routed = r.chat(&c, &request()).await.unwrap();
    assert_eq!(routed.provider, "b");
    assert_eq!(routed.failed_attempts[0].error, None);
    assert_eq!(a.calls(), 1);
    clock.advance(Duration::from_secs(10));
    assert_eq!(r.chat(&c, &request()).await.unwrap().provider, "a");
}

#[tokio::test]
async fn breaker_opens_after_repeated_failures_and_recovers_via_half_open() {
    let clock = ManualClock::new();
    // Overloaded on every try: three attempts trip the breaker (3 in a row).
    let a = Scripted::failing("a", vec![ProviderError::Overloaded; 4]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let c = candidates(&["a", "b"]);
    assert_eq!(r.chat(&c, &request()).await.unwrap().provider, "b");
    assert_eq!(a.calls(), 3);
    assert_eq!(state(&r, "a"), BreakerState::Open);

    // Open: no calls reach `a`.
    r.chat(&c, &request()).await.unwrap();
    assert_eq!(a.calls(), 3);

    // After the cooldown one probe goes through; it fails, the breaker
    // reopens, and `b` still answers.
    clock.advance(Duration::from_secs(30));
    assert_eq!(r.chat(&c, &request()).await.unwrap().provider, "b");
    assert_eq!(a.calls(), 4, "exactly one probe");
    assert_eq!(state(&r, "a"), BreakerState::Open);

    // Next probe succeeds and closes it.
    clock.advance(Duration::from_secs(30));
    assert_eq!(r.chat(&c, &request()).await.unwrap().provider, "a");
    assert_eq!(state(&r, "a"), BreakerState::Closed);
}

#[tokio::test]
async fn a_timed_out_provider_is_not_waited_on_twice() {
    let clock = ManualClock::new();
    let a = Scripted::failing("a", vec![ProviderError::Timeout; 2]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let routed = r.chat(&candidates(&["a", "b"]), &request()).await.unwrap();
    assert_eq!(routed.provider, "b");
    assert_eq!(a.calls(), 1, "the next candidate, not a second timeout");
    assert_eq!(routed.failed_attempts.len(), 1);
    assert!(clock.slept.lock().unwrap().is_empty(), "no backoff either");
}

#[tokio::test]
async fn every_candidate_failing_reports_each_attempt() {
    let clock = ManualClock::new();
    let a = Scripted::failing("a", [ProviderError::NotFound]);
    let b = Scripted::failing("b", vec![ProviderError::Overloaded; 3]);
    let r = router(&clock, &[&a, &b]);
    let err = r
        .chat(&candidates(&["a", "b"]), &request())
        .await
        .unwrap_err();
    let RouteError::Exhausted { attempts } = err else {
        panic!("{err:?}")
    };
    let errors: Vec<_> = attempts.iter().map(|a| a.error.clone().unwrap()).collect();
    assert_eq!(
        errors,
        [
            ProviderError::NotFound,
            ProviderError::Overloaded,
            ProviderError::Overloaded,
            ProviderError::Overloaded
        ]
    );
    assert!(matches!(
        r.chat(&candidates(&["nope"]), &request()).await,
        Err(RouteError::UnknownProvider(_))
    ));
}

async fn collect(s: ChatStream) -> Events {
    s.collect().await
}

#[tokio::test]
async fn a_stream_failing_before_output_fails_over() {
    let clock = ManualClock::new();
    let a = Scripted::new("a");
    a.streams.lock().unwrap().extend([
        Err(ProviderError::Server(503)),
        // Usage but no text yet, then Anthropic's in-stream overload.
        Ok(vec![
            Ok(StreamEvent::Usage {
                usage: Usage::default(),
            }),
            Err(ProviderError::Overloaded),
        ]),
        Ok(vec![Err(ProviderError::StreamBroken)]),
    ]);
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let routed = r
        .chat_stream(&candidates(&["a", "b"]), &request())
        .await
        .unwrap();
    assert_eq!(routed.provider, "b");
    assert_eq!(a.calls(), 3);
    let events = collect(routed.value).await;
    assert_eq!(events, good_stream("b"), "b's stream whole, nothing of a's");
}

#[tokio::test]
async fn a_stream_breaking_after_output_ends_with_an_error_event() {
    let clock = ManualClock::new();
    let a = Scripted::new("a");
    a.streams
        .lock()
        .unwrap()
        .push_back(Ok(vec![text("partial"), Err(ProviderError::StreamBroken)]));
    let b = Scripted::new("b");
    let r = router(&clock, &[&a, &b]);
    let routed = r
        .chat_stream(&candidates(&["a", "b"]), &request())
        .await
        .unwrap();
    assert_eq!(routed.provider, "a");
    let events = collect(routed.value).await;
    assert_eq!(
        events,
        [
            text("partial"),
            Ok(StreamEvent::Error {
                error: ProviderError::StreamBroken
            })
        ]
    );
    assert_eq!(b.calls(), 0, "no failover once output reached the caller");
    let a_status = r.providers().into_iter().find(|p| p.name == "a").unwrap();
    assert_eq!(a_status.breaker.consecutive_failures, 1);
}

#[tokio::test]
async fn a_stream_that_just_ends_is_broken_not_done() {
    let clock = ManualClock::new();
    let a = Scripted::new("a");
    a.streams.lock().unwrap().push_back(Ok(vec![text("x")]));
    let r = router(&clock, &[&a]);
    let routed = r
        .chat_stream(&candidates(&["a"]), &request())
        .await
        .unwrap();
    let events = collect(routed.value).await;
    assert_eq!(
        events.last().unwrap(),
        &Ok(StreamEvent::Error {
            error: ProviderError::StreamBroken
        })
    );
}

#[tokio::test]
async fn an_abandoned_probe_stream_frees_the_half_open_slot() {
    let clock = ManualClock::new();
    let a = Scripted::failing("a", vec![ProviderError::Server(500); 3]);
    let r = router(&clock, &[&a]);
    let c = candidates(&["a"]);
    r.chat(&c, &request()).await.unwrap_err();
    assert_eq!(state(&r, "a"), BreakerState::Open);
    clock.advance(Duration::from_secs(30));
    let routed = r.chat_stream(&c, &request()).await.unwrap();
    assert_eq!(state(&r, "a"), BreakerState::HalfOpen);
    drop(routed);
    // Another caller may probe now.
    let routed = r.chat_stream(&c, &request()).await.unwrap();
    assert_eq!(collect(routed.value).await, good_stream("a"));
    assert_eq!(state(&r, "a"), BreakerState::Closed);
}

/// Never answers: a provider whose own timeouts are longer than the caller
/// is willing to wait.
struct Hanging;

impl Provider for Hanging {
    fn name(&self) -> &str {
        "hanging"
    }

    fn chat<'a>(
        &'a self,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(futures_util::future::pending())
    }

    fn chat_stream<'a>(
        &'a self,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(futures_util::future::pending())
    }
}

#[tokio::test]
async fn the_deadline_bounds_the_whole_search_and_spares_the_breaker() {
    let clock = ManualClock::new();
    let b = Scripted::new("b");
    let mut r = Router::with_clock(
        RouterConfig {
            deadline: Duration::from_millis(50),
            ..config()
        },
        clock.clone(),
    );
    r.add(Arc::new(Hanging));
    r.add(b.clone());
    let c = vec![
        Candidate::new("hanging", "slow-model"),
        Candidate::new("b", "b-model"),
    ];
    let started = Instant::now();
    let err = r.chat(&c, &request()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let RouteError::DeadlineExceeded { attempts, .. } = err else {
        panic!("expected the deadline, got {err:?}");
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].error, Some(ProviderError::Timeout));
    // The caller's budget was spent; nothing more is sent on their behalf.
    assert_eq!(b.calls(), 0);
    assert_eq!(state(&r, "hanging"), BreakerState::Closed);

    let err = r.chat_stream(&c, &request()).await.err().unwrap();
    assert!(matches!(err, RouteError::DeadlineExceeded { .. }));
}

//! A circuit breaker per provider.
//!
//! Closed: calls pass; it opens after `consecutive_failures` in a row, or
//! when failures reach `failure_ratio` of at least `min_requests` calls in
//! the rolling `window`. Open: calls are refused until the cooldown ends.
//! Half-open: exactly one probe passes; its success closes the breaker, its
//! failure opens it again.
//!
//! Time is passed in rather than read, so the state machine is tested
//! without sleeping and the router can run it on an injected clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub window: Duration,
    /// Below this many calls in the window the ratio is noise and is ignored.
    pub min_requests: u32,
    pub failure_ratio: f64,
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            window: Duration::from_secs(60),
            min_requests: 20,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// What `/api/v1/network/providers` will show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub window_requests: u32,
    pub window_failures: u32,
    /// While open: how long until a probe is let through.
    pub reopens_in: Option<Duration>,
}

/// Proof of admission, handed back with the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    probe: bool,
}

impl Ticket {
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure { retry_after: Option<Duration> },
}

/// The window is kept as a ring of buckets rather than a log of calls, so
/// memory and the cost of a call stay constant at any request rate.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    slot: u64,
    ok: u32,
    failed: u32,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive: u32,
    buckets: [Bucket; BUCKETS],
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    origin: Instant,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(config: BreakerConfig, now: Instant) -> Self {
        Self {
            config,
            origin: now,
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive: 0,
                buckets: [Bucket::default(); BUCKETS],
            }),
        }
    }

    /// `None` while open, or while half-open with the probe already out.
    pub fn admit(&self, now: Instant) -> Option<Ticket> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Some(Ticket { probe: false }),
            State::Open { until } if now >= until => {
                inner.state = State::HalfOpen { probing: true };
                Some(Ticket { probe: true })
            }
            State::Open { .. } => None,
            State::HalfOpen { probing: true } => None,
            State::HalfOpen { probing: false } => {
                inner.state = State::HalfOpen { probing: true };
                Some(Ticket { probe: true })
            }
        }
    }

    pub fn record(&self, now: Instant, ticket: Ticket, outcome: Outcome) {
        let slot = self.slot(now);
        let mut inner = self.lock();
        let bucket = inner.bucket(slot);
        match outcome {
            Outcome::Success => bucket.ok += 1,
            Outcome::Failure { .. } => bucket.failed += 1,
        }
        if ticket.probe {
            match outcome {
                Outcome::Success => {
                    inner.state = State::Closed;
                    inner.consecutive = 0;
                    // Failures from before the outage must not re-trip the
                    // ratio the moment the breaker closes.
                    inner.buckets = [Bucket::default(); BUCKETS];
                }
                Outcome::Failure { retry_after } => {
                    inner.state = State::Open {
                        until: now + self.cooldown(retry_after),
                    };
                }
            }
            return;
        }
        match outcome {
            Outcome::Success => inner.consecutive = 0,
            Outcome::Failure { retry_after } => {
                inner.consecutive += 1;
                // Calls admitted before the breaker opened may finish after;
                // only a closed breaker is moved by them.
                if !matches!(inner.state, State::Closed) {
                    return;
                }
                let (total, failed) = inner.window(slot);
                let tripped = inner.consecutive >= self.config.consecutive_failures
                    || (total >= self.config.min_requests
                        && f64::from(failed) >= self.config.failure_ratio * f64::from(total));
                if tripped {
                    inner.state = State::Open {
                        until: now + self.cooldown(retry_after),
                    };
                } else if let Some(wait) = retry_after.filter(|d| !d.is_zero()) {
                    // The upstream said when to come back: stay away exactly
                    // that long, then probe, rather than spend calls on
                    // certain 429s.
                    inner.state = State::Open { until: now + wait };
                }
            }
        }
    }

    /// The admitted call ended without an outcome (the caller went away, or
    /// the answer says nothing about the provider's health). A probe's slot
    /// is freed so the next call can probe instead.
    pub fn release(&self, ticket: Ticket) {
        if ticket.probe {
            let mut inner = self.lock();
            if let State::HalfOpen { probing } = &mut inner.state {
                *probing = false;
            }
        }
    }

    pub fn snapshot(&self, now: Instant) -> BreakerSnapshot {
        let slot = self.slot(now);
        let inner = self.lock();
        let (window_requests, window_failures) = inner.window(slot);
        let (state, reopens_in) = match inner.state {
            State::Closed => (BreakerState::Closed, None),
            State::Open { until } => (
                BreakerState::Open,
                Some(until.saturating_duration_since(now)),
            ),
            State::HalfOpen { .. } => (BreakerState::HalfOpen, None),
        };
        BreakerSnapshot {
            state,
            consecutive_failures: inner.consecutive,
            window_requests,
            window_failures,
            reopens_in,
        }
    }

    /// Retry-After is a floor, never a shortcut: a server asking for 5 s
    /// after a run of failures still gets the full cooldown.
    fn cooldown(&self, retry_after: Option<Duration>) -> Duration {
        self.config.cooldown.max(retry_after.unwrap_or_default())
    }

    fn slot(&self, now: Instant) -> u64 {
        let width = (self.config.window / BUCKETS as u32).as_nanos().max(1);
        (now.saturating_duration_since(self.origin).as_nanos() / width) as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent across a panic elsewhere: every update
        // is a plain assignment.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn bucket(&mut self, slot: u64) -> &mut Bucket {
        let bucket = &mut self.buckets[(slot % BUCKETS as u64) as usize];
        if bucket.slot != slot {
            *bucket = Bucket {
                slot,
                ..Bucket::default()
            };
        }
        bucket
    }

    fn window(&self, slot: u64) -> (u32, u32) {
        self.buckets
            .iter()
            .filter(|b| b.slot <= slot && slot - b.slot < BUCKETS as u64)
            .fold((0, 0), |(t, f), b| (t + b.ok + b.failed, f + b.failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: Outcome = Outcome::Failure { retry_after: None };

    fn config() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 3,
            window: Duration::from_secs(10),
            min_requests: 10,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(30),
        }
    }

    fn call(b: &Breaker, now: Instant, outcome: Outcome) {
        let t = b.admit(now).expect("admitted");
        b.record(now, t, outcome);
    }

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_one_probe() {
        let t0 = Instant::now();
        let b = Breaker::new(config(), t0);
        call(&b, t0, FAIL);
        call(&b, t0, FAIL);
        call(&b, t0, Outcome::Success);
        call(&b, t0, FAIL);
        call(&b, t0, FAIL);
        assert_eq!(b.snapshot(t0).state, BreakerState::Closed);
        call(&b, t0, FAIL);
        let snap = b.snapshot(t0);
        assert_eq!(snap.state, BreakerState::Open);
        assert_eq!(snap.reopens_in, Some(Duration::from_secs(30)));
        assert!(b.admit(t0 + Duration::from_secs(29)).is_none());

        let later = t0 + Duration::from_secs(30);
        let probe = b.admit(later).expect("probe");
        assert!(probe.is_probe());
        assert_eq!(b.snapshot(later).state, BreakerState::HalfOpen);
        assert!(b.admit(later).is_none(), "only one probe");
        b.record(later, probe, Outcome::Success);
        assert_eq!(b.snapshot(later).state, BreakerState::Closed);
        assert!(!b.admit(later).unwrap().is_probe());
    }

    #[test]
    fn a_failed_probe_reopens_and_a_released_one_frees_the_slot() {
        let t0 = Instant::now();
        let b = Breaker::new(config(), t0);
        for _ in 0..3 {
            call(&b, t0, FAIL);
        }
        let t1 = t0 + Duration::from_secs(30);
        let probe = b.admit(t1).unwrap();
        b.release(probe);
        let probe = b.admit(t1).expect("slot freed");
        b.record(t1, probe, FAIL);
        assert_eq!(b.snapshot(t1).state, BreakerState::Open);
        assert!(b.admit(t1 + Duration::from_secs(29)).is_none());
        assert!(b.admit(t1 + Duration::from_secs(30)).unwrap().is_probe());
    }

    #[test]
    fn opens_on_failure_ratio_within_the_window_only() {
        let t0 = Instant::now();
        let b = Breaker::new(config(), t0);
        // Alternating never reaches 3 in a row, but is 50% failures.
        for i in 0..9 {
            call(&b, t0, if i % 2 == 0 { FAIL } else { Outcome::Success });
        }
        assert_eq!(
            b.snapshot(t0).state,
            BreakerState::Closed,
            "below min_requests"
        );
        call(&b, t0, Outcome::Success);
        call(&b, t0, FAIL);
        assert_eq!(b.snapshot(t0).state, BreakerState::Open);

        // The same pattern spread beyond the window does not trip it.
        let b = Breaker::new(config(), t0);
        for i in 0..30u64 {
            let now = t0 + Duration::from_secs(i);
            call(&b, now, if i % 3 == 0 { FAIL } else { Outcome::Success });
        }
        let snap = b.snapshot(t0 + Duration::from_secs(29));
        assert_eq!(snap.state, BreakerState::Closed);
        assert!(snap.window_requests <= 11, "{snap:?}");
    }

    #[test]
    fn retry_after_holds_the_provider_off_and_floors_the_cooldown() {
        let t0 = Instant::now();
        let b = Breaker::new(config(), t0);
        let wait = Outcome::Failure {
            retry_after: Some(Duration::from_secs(5)),
        };
        call(&b, t0, wait);
        assert_eq!(b.snapshot(t0).reopens_in, Some(Duration::from_secs(5)));
        assert!(b.admit(t0 + Duration::from_secs(4)).is_none());
        let t1 = t0 + Duration::from_secs(5);
        let probe = b.admit(t1).unwrap();
        let long = Outcome::Failure {
            retry_after: Some(Duration::from_secs(120)),
        };
        b.record(t1, probe, long);
        assert_eq!(b.snapshot(t1).reopens_in, Some(Duration::from_secs(120)));
    }
}

//! Rate limiting by the generic cell rate algorithm (GCRA), without I/O.
//!
//! GCRA keeps one number per key, the *theoretical arrival time* (TAT): the
//! moment the key's allowance would be fully refilled. That makes it as exact
//! as a token bucket while storing a single integer, which is what lets the
//! platform keep it in a `HashMap` or in one Redis key updated by a script.
//!
//! This module only decides; the caller supplies the clock and the storage
//! (`meritree_platform::rate_limit` has an in-process and a Redis backend),
//! so every backend shares one definition of the rule and it can be tested
//! without waiting on a clock.
//!
//! # What a quota allows
//!
//! [`Quota`] `{ burst, period }` lets a fresh key make `burst` requests at
//! once; the allowance then refills by one request every *emission interval*
//! `T = period / burst` (rounded up to whole milliseconds). So the long-run
//! rate never exceeds `burst` per `period`, a client pacing itself at one
//! request per `T` is never refused, and any `n` allowed requests span at
//! least `(n - burst) × T`. A window of length `period` can therefore hold up
//! to `2 × burst - 1` allowed requests (a full burst, then the refills during
//! the window), but never more than `burst` in any window shorter than `T`.
//!
//! All arithmetic is on integers (milliseconds), widened to `u128` so that no
//! input overflows, saturates or panics.

use std::time::Duration;

/// At most `burst` requests at once, refilling evenly to `burst` per `period`.
///
/// The constructors clamp their arguments instead of failing: a zero burst or
/// period becomes 1 (a rate limit that allows nothing is a deny rule, not a
/// quota), and the period is capped at [`Quota::MAX_PERIOD_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    burst: u32,
    period_ms: u64,
}

impl Quota {
    /// About 34 years. The cap keeps every time the algorithm produces below
    /// 2^53 ms for the next hundred thousand years, so the Redis backend's Lua
    /// script (whose numbers are doubles) computes exactly what [`decide`]
    /// does.
    pub const MAX_PERIOD_MS: u64 = 1 << 40;

    pub const fn new(burst: u32, period: Duration) -> Self {
        let ms = period.as_millis();
        let period_ms = if ms == 0 {
            1
        } else if ms > Self::MAX_PERIOD_MS as u128 {
            Self::MAX_PERIOD_MS
        } else {
            ms as u64
        };
        Self {
            burst: if burst == 0 { 1 } else { burst },
            period_ms,
        }
    }

    pub const fn per_second(burst: u32) -> Self {
        Self::new(burst, Duration::from_secs(1))
    }

    pub const fn per_minute(burst: u32) -> Self {
        Self::new(burst, Duration::from_secs(60))
    }

    pub const fn per_hour(burst: u32) -> Self {
        Self::new(burst, Duration::from_secs(3600))
    }

    pub const fn burst(self) -> u32 {
        self.burst
    }

    pub const fn period_ms(self) -> u64 {
        self.period_ms
    }

    /// `T`: how often one request's worth of allowance comes back.
    ///
    /// Rounded up, so an inexact division errs on the strict side: the rate
    /// stays at or below `burst` per `period` (e.g. 3 per second refills
    /// every 334 ms). Exact whenever `burst` divides the period.
    pub const fn emission_interval_ms(self) -> u64 {
        self.period_ms.div_ceil(self.burst as u64)
    }

    /// `burst × T`: how long an exhausted key takes to refill completely, and
    /// so how long a backend has to remember it. Equals the period when the
    /// division is exact, otherwise exceeds it by less than `burst` ms.
    pub const fn refill_ms(self) -> u64 {
        // At most 2^40 + 2^32: cannot overflow.
        self.emission_interval_ms() * self.burst as u64
    }
}

/// The outcome of one check, and what the backend must store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Further requests that would be allowed right now. 0 when refused.
    pub remaining: u32,
    /// When refused, how long until this request would be allowed (the
    /// `Retry-After`); a retry after exactly this long succeeds unless
    /// something else used the key meanwhile. 0 when allowed.
    pub retry_after_ms: u64,
    /// How long until the key's allowance is completely refilled, i.e. until
    /// its state is no different from a key never seen; backends may forget
    /// the key after this long.
    pub reset_after_ms: u64,
    /// The TAT to store, if the stored one must change: always when allowed.
    /// When refused, `None` (a refused request consumes nothing), except to
    /// repair a stored TAT too far ahead (see [`decide`]).
    pub new_tat: Option<u64>,
}

impl Decision {
    pub const fn retry_after(&self) -> Duration {
        Duration::from_millis(self.retry_after_ms)
    }

    pub const fn reset_after(&self) -> Duration {
        Duration::from_millis(self.reset_after_ms)
    }
}

/// Decides one request for a key whose stored TAT is `stored_tat` (`None`
/// for a key never seen or forgotten) at `now_ms`, on any clock the caller
/// uses consistently for the key.
///
/// A stored TAT further ahead than one full refill cannot come from this
/// function on a consistent clock: it means the clock stepped back, or the
/// key's quota shrank. It is treated as an exhausted key and the refusal
/// returns `new_tat` to store the repaired value, so such a key is locked out
/// for at most [`Quota::refill_ms`], not for the size of the step.
pub fn decide(stored_tat: Option<u64>, now_ms: u64, quota: Quota) -> Decision {
    let t = u128::from(quota.emission_interval_ms());
    let refill = u128::from(quota.refill_ms());
    let now = u128::from(now_ms);
    // The latest TAT an exhausted key can have at `now`.
    let full = now + refill;
    let stored = stored_tat.map(u128::from);
    let tat = stored.map_or(now, |s| s.max(now).min(full));
    let new_tat = tat + t;

    if new_tat > full {
        let too_far_ahead = stored.is_some_and(|s| s > full);
        return Decision {
            allowed: false,
            remaining: 0,
            retry_after_ms: saturate_u64(new_tat - full),
            reset_after_ms: saturate_u64(tat - now),
            new_tat: too_far_ahead.then(|| saturate_u64(tat)),
        };
    }
    Decision {
        allowed: true,
        // At most burst - 1, since new_tat - now >= t.
        remaining: u32::try_from((full - new_tat) / t).unwrap_or(u32::MAX),
        retry_after_ms: 0,
        reset_after_ms: saturate_u64(new_tat - now),
        new_tat: Some(saturate_u64(new_tat)),
    }
}

fn saturate_u64(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a decision to the stored state, as a backend would.
    fn step(state: &mut Option<u64>, now: u64, quota: Quota) -> Decision {
        let decision = decide(*state, now, quota);
        if let Some(tat) = decision.new_tat {
            *state = Some(tat);
        }
        decision
    }

    #[test]
    fn constructors_and_emission_interval() {
        let q = Quota::per_minute(5);
        assert_eq!((q.burst(), q.period_ms()), (5, 60_000));
        assert_eq!(q.emission_interval_ms(), 12_000);
        assert_eq!(q.refill_ms(), 60_000);
        assert_eq!(Quota::per_hour(3600).emission_interval_ms(), 1_000);
        assert_eq!(Quota::per_second(1).emission_interval_ms(), 1_000);
        assert_eq!(
            Quota::new(2, Duration::from_millis(300)).emission_interval_ms(),
            150
        );
    }

    #[test]
    fn inexact_division_rounds_towards_strict() {
        let q = Quota::per_second(3);
        assert_eq!(q.emission_interval_ms(), 334);
        assert_eq!(q.refill_ms(), 1_002);
    }

    #[test]
    fn degenerate_quotas_are_clamped() {
        let q = Quota::new(0, Duration::ZERO);
        assert_eq!((q.burst(), q.period_ms()), (1, 1));
        assert_eq!(q.emission_interval_ms(), 1);
        let q = Quota::new(u32::MAX, Duration::MAX);
        assert_eq!(q.period_ms(), Quota::MAX_PERIOD_MS);
        assert_eq!(q.emission_interval_ms(), 257); // ceil(2^40 / (2^32 - 1))
        let q = Quota::new(u32::MAX, Duration::from_millis(1));
        assert_eq!(q.emission_interval_ms(), 1);
        assert_eq!(q.refill_ms(), u64::from(u32::MAX));
    }

    #[test]
    fn a_new_key_gets_the_whole_burst() {
        let d = decide(None, 1_000, Quota::per_minute(5));
        assert_eq!(
            d,
            Decision {
                allowed: true,
                remaining: 4,
                retry_after_ms: 0,
                reset_after_ms: 12_000,
                new_tat: Some(13_000),
            }
        );
    }

    #[test]
    fn burst_then_refused_then_refilled() {
        let q = Quota::new(2, Duration::from_millis(300));
        let mut state = None;
        let a = step(&mut state, 10_000, q);
        let b = step(&mut state, 10_000, q);
        let c = step(&mut state, 10_000, q);
        assert!(a.allowed && b.allowed && !c.allowed);
        assert_eq!((a.remaining, b.remaining, c.remaining), (1, 0, 0));
        assert_eq!((b.reset_after_ms, c.reset_after_ms), (300, 300));
        assert_eq!(c.retry_after_ms, 150);
        assert_eq!(c.new_tat, None);
        assert!(!step(&mut state, 10_149, q).allowed);
        let d = step(&mut state, 10_150, q);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.reset_after_ms), (0, 300));
        // Idle for a full refill: the whole burst again.
        assert_eq!(step(&mut state, 10_450, q).remaining, 1);
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let q = Quota::per_second(1);
        let mut state = None;
        assert!(step(&mut state, 0, q).allowed);
        for now in (0..1_000).step_by(7) {
            assert!(!step(&mut state, now, q).allowed);
        }
        assert!(step(&mut state, 1_000, q).allowed);
    }

    #[test]
    fn a_clock_step_back_locks_a_key_out_for_at_most_one_refill() {
        let q = Quota::new(2, Duration::from_millis(300));
        // Exhausted at 1_000_000; the clock then steps back 900 s.
        let mut state = Some(1_000_300);
        let d = step(&mut state, 100_000, q);
        assert!(!d.allowed);
        assert_eq!((d.retry_after_ms, d.reset_after_ms), (150, 300));
        assert_eq!(state, Some(100_300), "the refusal repairs the stored TAT");
        assert!(step(&mut state, 100_150, q).allowed);
        // A quota that shrank for a key is repaired the same way.
        let mut state = Some(3_600_000);
        assert!(!step(&mut state, 0, Quota::per_second(1)).allowed);
        assert!(step(&mut state, 1_000, Quota::per_second(1)).allowed);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let q = Quota::new(u32::MAX, Duration::MAX);
        let d = decide(None, u64::MAX, q);
        assert!(d.allowed);
        assert_eq!(d.remaining, u32::MAX - 1);
        assert_eq!(d.new_tat, Some(u64::MAX));
        let d = decide(Some(u64::MAX), 0, Quota::per_second(1));
        assert!(!d.allowed);
        assert_eq!((d.retry_after_ms, d.reset_after_ms), (1_000, 1_000));
        assert!(decide(Some(0), u64::MAX, Quota::per_second(1)).allowed);
    }

    /// splitmix64: a deterministic source for the property tests, so a
    /// failure reproduces exactly.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn quota(&mut self) -> Quota {
            let burst = 1 + self.below(8) as u32;
            Quota::new(burst, Duration::from_millis(1 + self.below(2_000)))
        }

        /// Gaps that mix bursts (0), sub-interval jitter and long idles.
        fn gap(&mut self, quota: Quota) -> u64 {
            let t = quota.emission_interval_ms();
            match self.below(4) {
                0 => 0,
                1 => self.below(t + 1),
                2 => self.below(2 * t + 1),
                _ => self.below(quota.refill_ms() + 2 * t),
            }
        }
    }

    /// Runs a random request stream and returns every request with its
    /// decision and the state it was decided on.
    fn simulate(rng: &mut Rng, quota: Quota, n: usize) -> Vec<(Option<u64>, u64, Decision)> {
        let mut state = None;
        let mut now = rng.next() % (1 << 42);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            now += rng.gap(quota);
            let before = state;
            out.push((before, now, step(&mut state, now, quota)));
        }
        out
    }

    const CASES: u64 = 300;

    #[test]
    fn property_allowed_requests_never_exceed_burst_plus_refills() {
        for seed in 0..CASES {
            let mut rng = Rng(seed);
            let quota = rng.quota();
            let t = quota.emission_interval_ms();
            let burst = u64::from(quota.burst());
            let allowed: Vec<u64> = simulate(&mut rng, quota, 200)
                .into_iter()
                .filter(|(_, _, d)| d.allowed)
                .map(|(_, now, _)| now)
                .collect();
            for (i, &first) in allowed.iter().enumerate() {
                for (j, &last) in allowed.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as u64;
                    let span = last - first;
                    assert!(
                        count <= burst + span / t,
                        "seed {seed}: {count} allowed within {span} ms under {quota:?}"
                    );
                    // The same bound, stated for windows: never more than a
                    // burst plus the refills that fit in the window.
                    if span < quota.period_ms() {
                        assert!(count < 2 * burst, "seed {seed}");
                    }
                    if span < t {
                        assert!(count <= burst, "seed {seed}");
                    }
                }
            }
        }
    }

    #[test]
    fn property_one_request_per_emission_interval_is_always_allowed() {
        for seed in 0..CASES {
            let mut rng = Rng(seed);
            let quota = rng.quota();
            let t = quota.emission_interval_ms();
            // Any history, then wait until allowed, then pace at exactly T.
            let len = 1 + rng.below(50) as usize;
            let history = simulate(&mut rng, quota, len);
            let (before, mut now, last) = history[history.len() - 1];
            let mut state = last.new_tat.or(before);
            now += decide(state, now, quota).retry_after_ms;
            for k in 0..100 {
                assert!(step(&mut state, now, quota).allowed, "seed {seed} step {k}");
                now += t + rng.below(3) * rng.below(t); // never faster than T
            }
        }
    }

    #[test]
    fn property_retry_after_is_exactly_when_the_request_is_allowed() {
        for seed in 0..CASES {
            let mut rng = Rng(seed);
            let quota = rng.quota();
            for (state, now, d) in simulate(&mut rng, quota, 200) {
                if d.allowed {
                    assert_eq!(d.retry_after_ms, 0);
                    continue;
                }
                assert!(d.retry_after_ms >= 1, "seed {seed}");
                assert!(d.retry_after_ms <= quota.emission_interval_ms());
                assert!(!decide(state, now + d.retry_after_ms - 1, quota).allowed);
                assert!(decide(state, now + d.retry_after_ms, quota).allowed);
            }
        }
    }

    #[test]
    fn property_remaining_counts_the_requests_still_allowed_now() {
        for seed in 0..CASES {
            let mut rng = Rng(seed);
            let quota = rng.quota();
            for (state, now, d) in simulate(&mut rng, quota, 100) {
                let mut state = d.new_tat.or(state);
                for _ in 0..d.remaining {
                    assert!(step(&mut state, now, quota).allowed, "seed {seed}");
                }
                assert!(!step(&mut state, now, quota).allowed, "seed {seed}");
            }
        }
    }

    #[test]
    fn property_arbitrary_inputs_keep_the_invariants() {
        let mut rng = Rng(42);
        let edges = [0, 1, u64::MAX - 1, u64::MAX, Quota::MAX_PERIOD_MS];
        let pick = |rng: &mut Rng| match rng.below(3) {
            0 => edges[rng.below(edges.len() as u64) as usize],
            _ => rng.next() >> rng.below(64),
        };
        for _ in 0..20_000 {
            let burst = pick(&mut rng) as u32;
            let quota = Quota::new(burst, Duration::from_millis(pick(&mut rng)));
            let stored = (rng.below(2) == 0).then(|| pick(&mut rng));
            let now = pick(&mut rng);
            let d = decide(stored, now, quota);
            assert!(d.remaining < quota.burst());
            assert!(d.reset_after_ms <= quota.refill_ms());
            assert!(d.retry_after_ms <= quota.emission_interval_ms());
            assert_eq!(d.allowed, d.retry_after_ms == 0);
            match (d.allowed, d.new_tat) {
                (true, Some(tat)) => assert!(tat > now || tat == u64::MAX),
                (true, None) => panic!("an allowed request must be recorded"),
                // Only a repair of a TAT beyond a full refill.
                (false, Some(tat)) => {
                    assert!(stored.is_some_and(|s| s > tat));
                    assert_eq!(tat, now.saturating_add(quota.refill_ms()));
                }
                (false, None) => {}
            }
        }
    }
}

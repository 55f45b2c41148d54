//! Behaviour every backend must share, run once per backend.
//!
//! The Redis runs need the server named by `MERITREE_TEST_REDIS_URL`, which
//! `scripts/test` starts on loopback. A missing URL fails the test rather
//! than skipping it, so a green run always means both backends were
//! exercised.

use std::time::Duration;

use super::*;

pub const REDIS_URL_VAR: &str = "MERITREE_TEST_REDIS_URL";

pub async fn redis_limiter() -> RedisLimiter {
    let url = std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| {
        panic!("{REDIS_URL_VAR} is not set: run the tests through scripts/test")
    });
    RedisLimiter::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test Redis at {REDIS_URL_VAR}: {e}"))
}

/// Tests share one Redis and may rerun against it: every test's keys are
/// its own.
pub fn unique_key(name: &str) -> String {
    format!("test:{name}:{}", uuid::Uuid::new_v4().simple())
}

/// Declares an async test once and runs it against both backends, as
/// `meritree_store::test_both_backends!` does for databases: expands to a
/// module with the tests `memory` and `redis`.
macro_rules! test_both_backends {
    ($(async fn $name:ident($limiter:ident : RateLimiter) $body:block)+) => {$(
        mod $name {
            use super::*;

            async fn run($limiter: RateLimiter) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                run(MemoryLimiter::new().into()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                run(redis_limiter().await.into()).await
            }
        }
    )+};
}

async fn check(limiter: &RateLimiter, key: &str, quota: Quota) -> Decision {
    limiter
        .check(key, quota)
        .await
        .expect("the limiter decides")
}

async fn peek(limiter: &RateLimiter, key: &str, quota: Quota) -> Decision {
    limiter.peek(key, quota).await.expect("the limiter decides")
}

test_both_backends! {
    async fn burst_is_allowed_then_refused(limiter: RateLimiter) {
        // T = 20 s: nothing refills while the test runs.
        let quota = Quota::per_minute(3);
        let key = unique_key("burst");
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let d = check(&limiter, &key, quota).await;
            assert!(d.allowed);
            assert_eq!(d.retry_after_ms, 0);
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let d = check(&limiter, &key, quota).await;
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(
            (19_000..=20_000).contains(&d.retry_after_ms),
            "retry after {} ms",
            d.retry_after_ms
        );
        assert!(d.reset_after_ms <= 60_000 && d.reset_after_ms > 59_000);
    }

    async fn peek_reports_without_counting(limiter: RateLimiter) {
        let quota = Quota::per_minute(2);
        let key = unique_key("peek");
        // As many peeks as you like: a fresh key stays fresh.
        for _ in 0..5 {
            let d = peek(&limiter, &key, quota).await;
            assert!(d.allowed);
            assert_eq!(d.remaining, 1);
        }
        assert!(check(&limiter, &key, quota).await.allowed);
        assert_eq!(peek(&limiter, &key, quota).await.remaining, 0);
        assert!(check(&limiter, &key, quota).await.allowed);
        let refused = peek(&limiter, &key, quota).await;
        assert!(!refused.allowed);
        assert!((29_000..=30_000).contains(&refused.retry_after_ms), "{refused:?}");
        // The peek agrees with what a check now decides, and changed nothing.
        let checked = check(&limiter, &key, quota).await;
        assert!(!checked.allowed);
        assert!(checked.retry_after_ms <= refused.retry_after_ms);
    }

    async fn keys_are_independent(limiter: RateLimiter) {
        let quota = Quota::per_hour(1);
        let a = unique_key("a");
        let b = format!("{a}:b");
        assert!(check(&limiter, &a, quota).await.allowed);
        assert!(!check(&limiter, &a, quota).await.allowed);
        assert!(check(&limiter, &b, quota).await.allowed);
        assert!(!check(&limiter, &b, quota).await.allowed);
    }

    async fn allowed_again_after_retry_after(limiter: RateLimiter) {
        // T = 200 ms: the test sleeps once, for about that long.
        let quota = Quota::new(2, Duration::from_millis(400));
        let key = unique_key("retry");
        assert!(check(&limiter, &key, quota).await.allowed);
        assert!(check(&limiter, &key, quota).await.allowed);
        let refused = check(&limiter, &key, quota).await;
        assert!(!refused.allowed);
        assert!((1..=200).contains(&refused.retry_after_ms));
        tokio::time::sleep(refused.retry_after()).await;
        let again = check(&limiter, &key, quota).await;
        assert!(again.allowed, "{again:?}");
        assert_eq!(again.remaining, 0);
    }

    async fn concurrent_checks_allow_exactly_the_burst(limiter: RateLimiter) {
        let quota = Quota::per_hour(5);
        let key = unique_key("concurrent");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let limiter = limiter.clone();
                let key = key.clone();
                tokio::spawn(async move { limiter.check(&key, quota).await })
            })
            .collect();
        let mut remaining = Vec::new();
        for task in tasks {
            let decision = task.await.expect("the task ran").expect("the limiter decides");
            if decision.allowed {
                remaining.push(decision.remaining);
            }
        }
        // Each allowed check saw every earlier one: none was lost or doubled.
        remaining.sort_unstable();
        assert_eq!(remaining, [0, 1, 2, 3, 4]);
    }
}

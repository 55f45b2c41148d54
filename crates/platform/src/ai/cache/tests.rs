//! Behaviour every backend must share, run once per backend, and how the
//! Redis backend fails.
//!
//! The Redis runs need the server named by `MERITREE_TEST_REDIS_URL`, which
//! `scripts/test` starts on loopback. As for the rate limiter, a missing URL
//! fails the test rather than skipping it, so a green run always means both
//! backends were exercised.

use std::time::{Duration, Instant};

use super::redis::redis_key;
use super::*;

const REDIS_URL_VAR: &str = "MERITREE_TEST_REDIS_URL";

async fn redis_cache() -> RedisCache {
    let url = std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| {
        panic!("{REDIS_URL_VAR} is not set: run the tests through scripts/test")
    });
    RedisCache::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test Redis at {REDIS_URL_VAR}: {e}"))
}

/// Tests share one Redis and may rerun against it: every test's keys are
/// its own.
fn unique_key(name: &str) -> String {
    format!("test:{name}:{}", uuid::Uuid::new_v4().simple())
}

/// Declares an async test once and runs it against both backends: expands
/// to a module with the tests `memory` and `redis`.
macro_rules! test_both_caches {
    ($(async fn $name:ident($cache:ident : ResponseCache) $body:block)+) => {$(
        mod $name {
            use super::*;

            async fn run($cache: ResponseCache) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                run(ResponseCache::in_memory()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                run(redis_cache().await.into()).await
            }
        }
    )+};
}

const MINUTE: Duration = Duration::from_secs(60);

test_both_caches! {
    async fn a_stored_value_is_returned_byte_for_byte(cache: ResponseCache) {
        let key = unique_key("roundtrip");
        assert_eq!(cache.get(&key).await, None);
        // Not UTF-8, with a NUL: bytes, not text.
        let value = vec![0xff, 0x00, 0xfe, b'{', b'}'];
        cache.put(&key, value.clone(), MINUTE).await;
        assert_eq!(cache.get(&key).await, Some(value));
        assert_eq!(cache.get(&format!("{key}:other")).await, None);
    }

    async fn a_put_replaces_the_value(cache: ResponseCache) {
        let key = unique_key("replace");
        cache.put(&key, b"first".to_vec(), MINUTE).await;
        cache.put(&key, b"second".to_vec(), MINUTE).await;
        assert_eq!(cache.get(&key).await.as_deref(), Some(&b"second"[..]));
    }

    async fn entries_expire(cache: ResponseCache) {
        // Redis keeps whole seconds (EX): one second is the shortest TTL.
        let key = unique_key("expiry");
        cache.put(&key, b"soon gone".to_vec(), Duration::from_secs(1)).await;
        assert!(cache.get(&key).await.is_some());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(cache.get(&key).await, None);
    }

    async fn nothing_is_stored_for_zero_ttl_or_oversized_values(cache: ResponseCache) {
        let key = unique_key("refused");
        cache.put(&key, b"v".to_vec(), Duration::ZERO).await;
        assert_eq!(cache.get(&key).await, None);
        cache.put(&key, vec![7; MAX_VALUE_BYTES + 1], MINUTE).await;
        assert_eq!(cache.get(&key).await, None);
        cache.put(&key, vec![7; MAX_VALUE_BYTES], MINUTE).await;
        assert_eq!(cache.get(&key).await.map(|v| v.len()), Some(MAX_VALUE_BYTES));
    }
}

#[tokio::test]
async fn redis_rounds_a_ttl_up_to_whole_seconds() {
    let cache = redis_cache().await;
    let key = unique_key("ttl");
    cache
        .put(&key, b"v".to_vec(), Duration::from_millis(1_500))
        .await
        .unwrap();
    let mut conn = cache.connection();
    let ttl: i64 = ::redis::cmd("TTL")
        .arg(redis_key(&key))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=2).contains(&ttl), "TTL {ttl}");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let started = Instant::now();
    let result = RedisCache::connect("redis://127.0.0.1:1/").await;
    assert!(result.is_err(), "connected to port 1?");
    assert!(started.elapsed() <= Duration::from_secs(4));
    assert!(RedisCache::connect("http://127.0.0.1/").await.is_err());
}

/// A Redis error is a miss, not a failed request: here the key holds a
/// list, so `GET` fails with WRONGTYPE.
#[tokio::test]
async fn a_redis_error_reads_as_a_miss() {
    let redis = redis_cache().await;
    let key = unique_key("wrongtype");
    let mut conn = redis.connection();
    let _: i64 = ::redis::cmd("RPUSH")
        .arg(redis_key(&key))
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(redis.get(&key).await.is_err());
    let cache = ResponseCache::from(redis.clone());
    assert_eq!(cache.get(&key).await, None);
    // A write replaces whatever the key held.
    cache.put(&key, b"v".to_vec(), MINUTE).await;
    assert_eq!(cache.get(&key).await.as_deref(), Some(&b"v"[..]));
}

/// Drops the cache's own connection: reads and writes may miss while it is
/// gone, none fails or hangs, and the cache works again without being
/// rebuilt.
#[tokio::test]
async fn it_reconnects_after_the_connection_drops() {
    let redis = redis_cache().await;
    let mut conn = redis.connection();
    let id: i64 = ::redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: Result<i64, _> = ::redis::cmd("CLIENT")
        .arg(&["KILL", "ID", &id.to_string(), "SKIPME", "no"])
        .query_async(&mut conn)
        .await;

    let cache = ResponseCache::from(redis);
    let key = unique_key("reconnect");
    let mut recovered = false;
    for _ in 0..20 {
        let started = Instant::now();
        cache.put(&key, b"v".to_vec(), MINUTE).await;
        let got = cache.get(&key).await;
        assert!(started.elapsed() <= Duration::from_millis(1_500));
        if got.is_some() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the cache did not reconnect");
}

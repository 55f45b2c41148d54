//! The Redis backend: one Lua script per check (`gcra.lua`), so reading the
//! TAT, deciding and writing it back is atomic however many instances share
//! the server, and all of them decide on the Redis server's clock.
//!
//! Each key is one Redis string (under [`KEY_PREFIX`]) holding the TAT, set
//! to expire when the key is fully refilled, so Redis holds only live keys.
//! The script touches one key only, so it also runs on Redis Cluster.
//! Requires Redis 5 or later (scripts that read `TIME` before writing).

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{ErrorKind, RedisError, Script};
use meritree_core::rate_limit::{Decision, Quota};

use super::RateLimitError;
use crate::redis_connection;

/// Prepended to every key, so the limiter's keys cannot collide with
/// anything else stored in the same Redis database.
const KEY_PREFIX: &str = "meritree:rate_limit:";

/// Bounds one check, including waiting for a reconnection in progress: a
/// rate limit sits in front of requests and must not stall them while Redis
/// is away; the caller gets an error to apply its failure policy to instead.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Sent by hash (EVALSHA), loaded on `connect`, and reloaded by the `redis`
/// crate when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).
static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("gcra.lua")));

/// Cheap to clone: clones share one multiplexed connection, which the
/// connection manager re-establishes after it drops.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
}

impl RedisLimiter {
    /// Connects to `url` (see [`crate::redis_connection::connect`]) and
    /// loads the script, so a server that cannot run it is found at start.
    pub async fn connect(url: &str) -> Result<Self, RateLimitError> {
        Self::with_connection(redis_connection::connect(url).await?).await
    }

    /// Uses the instance's shared connection; loads the script.
    pub async fn with_connection(mut conn: ConnectionManager) -> Result<Self, RateLimitError> {
        let timeout = redis_connection::CONNECT_TIMEOUT;
        tokio::time::timeout(timeout, GCRA.prepare_invoke().load_async(&mut conn))
            .await
            .map_err(|_| RateLimitError::Timeout(timeout))??;
        Ok(Self { conn })
    }

    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        self.run(key, quota, Mode::Count, None).await
    }

    /// What [`RedisLimiter::check`] would decide now, without counting
    /// anything.
    pub async fn peek(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        self.run(key, quota, Mode::Peek, None).await
    }

    /// Runs the script, on the server's clock unless `now_ms` is given
    /// (tests compare the script with `decide` at chosen times).
    async fn run(
        &self,
        key: &str,
        quota: Quota,
        mode: Mode,
        now_ms: Option<u64>,
    ) -> Result<Decision, RateLimitError> {
        let mut invocation = GCRA.key(redis_key(key));
        invocation
            .arg(quota.emission_interval_ms())
            .arg(quota.refill_ms())
            .arg(match mode {
                Mode::Count => "1",
                Mode::Peek => "0",
            });
        if let Some(now) = now_ms {
            invocation.arg(now);
        }
        let mut conn = self.conn.clone();
        let reply: [i64; 5] =
            tokio::time::timeout(CHECK_TIMEOUT, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| RateLimitError::Timeout(CHECK_TIMEOUT))??;
        Ok(decision_from(reply)?)
    }
}

/// Whether the script stores its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Count,
    Peek,
}

fn redis_key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

/// Reads the script's `{allowed, remaining, retry_after, reset_after,
/// new_tat}`, refusing anything out of range rather than casting it.
fn decision_from(
    [allowed, remaining, retry_after, reset_after, new_tat]: [i64; 5],
) -> Result<Decision, RedisError> {
    let invalid = || RedisError::from((ErrorKind::TypeError, "unexpected rate limit script reply"));
    let ms = |value: i64| u64::try_from(value).map_err(|_| invalid());
    let new_tat = ms(new_tat)?;
    Ok(Decision {
        allowed: match allowed {
            0 => false,
            1 => true,
            _ => return Err(invalid()),
        },
        remaining: u32::try_from(remaining).map_err(|_| invalid())?,
        retry_after_ms: ms(retry_after)?,
        reset_after_ms: ms(reset_after)?,
        new_tat: (new_tat != 0).then_some(new_tat),
    })
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use ::redis::AsyncCommands;
    use meritree_core::rate_limit::decide;

    use super::*;
    use crate::rate_limit::tests::{redis_limiter, unique_key};

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_a_hang() {
        let started = Instant::now();
        let result = RedisLimiter::connect("redis://127.0.0.1:1/").await;
        assert!(result.is_err(), "connected to port 1?");
        assert!(
            started.elapsed()
                <= crate::redis_connection::CONNECT_TIMEOUT + Duration::from_millis(500)
        );
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error() {
        for url in ["not a url", "http://127.0.0.1/"] {
            assert!(
                matches!(
                    RedisLimiter::connect(url).await,
                    Err(RateLimitError::Redis(_))
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn out_of_range_replies_are_refused() {
        assert!(decision_from([1, 0, 0, 5, 10]).is_ok());
        assert!(decision_from([2, 0, 0, 5, 10]).is_err());
        assert!(decision_from([1, -1, 0, 5, 10]).is_err());
        assert!(decision_from([1, 0, 0, 5, -10]).is_err());
        assert!(decision_from([1, i64::MAX, 0, 5, 10]).is_err());
    }

    /// The script and `decide` must be the same rule: compare them on the
    /// same stored TAT and time, including a TAT beyond a full refill.
    #[tokio::test]
    async fn the_script_decides_exactly_as_core() {
        let limiter = redis_limiter().await;
        let mut conn = limiter.conn.clone();
        let key = unique_key("differential");
        let full_key = redis_key(&key);
        let quotas = [
            Quota::new(2, Duration::from_millis(300)),
            Quota::per_second(3), // T rounds up: 334
            Quota::per_minute(7),
            Quota::per_hour(1),
            Quota::new(u32::MAX, Duration::MAX),
        ];
        let now: u64 = 1_750_000_000_000;
        for quota in quotas {
            let t = quota.emission_interval_ms();
            let refill = quota.refill_ms();
            let stored_cases = [
                None,
                Some(0),
                Some(now - 1),
                Some(now),
                Some(now + t - 1),
                Some(now + t),
                Some(now + refill - t),
                Some(now + refill - t + 1),
                Some(now + refill - 1),
                Some(now + refill),
                Some(now + refill + 1),
                Some(now + 10 * refill),
            ];
            for stored in stored_cases {
                let _: () = match stored {
                    Some(tat) => conn.set(&full_key, tat).await.expect("SET"),
                    None => conn.del(&full_key).await.expect("DEL"),
                };
                let want = decide(stored, now, quota);
                let peeked = limiter
                    .run(&key, quota, Mode::Peek, Some(now))
                    .await
                    .expect("run the script");
                assert_eq!(peeked, want, "peek: {quota:?}, stored {stored:?}");
                let value: Option<u64> = conn.get(&full_key).await.expect("GET");
                assert_eq!(value, stored, "a peek writes nothing");

                let got = limiter
                    .run(&key, quota, Mode::Count, Some(now))
                    .await
                    .expect("run the script");
                assert_eq!(got, want, "{quota:?}, stored {stored:?}");

                let value: Option<u64> = conn.get(&full_key).await.expect("GET");
                let pttl: i64 = conn.pttl(&full_key).await.expect("PTTL");
                match want.new_tat {
                    Some(tat) => {
                        assert_eq!(value, Some(tat), "{quota:?}, stored {stored:?}");
                        // The key lives exactly until its TAT.
                        let ttl = i64::try_from(tat - now).unwrap_or(i64::MAX);
                        assert!(pttl > 0 && pttl <= ttl, "PTTL {pttl} for {ttl}");
                    }
                    None => assert_eq!(value, stored, "a refusal leaves the key alone"),
                }
            }
        }
        let _: () = conn.del(&full_key).await.expect("DEL");
    }

    /// Drops the limiter's own connection (not the other tests' sharing the
    /// server): a check may fail while it is gone, none hangs, and the
    /// limiter works again without being rebuilt.
    #[tokio::test]
    async fn it_reconnects_after_the_connection_drops() {
        let limiter = redis_limiter().await;
        let mut conn = limiter.conn.clone();
        let id: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await
            .expect("CLIENT ID");
        let _: Result<i64, _> = ::redis::cmd("CLIENT")
            .arg(&["KILL", "ID", &id.to_string(), "SKIPME", "no"])
            .query_async(&mut conn)
            .await;

        let key = unique_key("reconnect");
        let quota = Quota::per_hour(100);
        let mut recovered = false;
        for _ in 0..20 {
            let started = Instant::now();
            let result = limiter.check(&key, quota).await;
            assert!(started.elapsed() <= CHECK_TIMEOUT + Duration::from_millis(200));
            if result.is_ok() {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(recovered, "the limiter did not reconnect");
        let new_id: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await
            .expect("CLIENT ID");
        assert_ne!(id, new_id, "the connection was not replaced");
    }

    #[tokio::test]
    async fn keys_expire_when_fully_refilled() {
        let limiter = redis_limiter().await;
        let key = unique_key("expiry");
        let decision = limiter
            .check(&key, Quota::new(2, Duration::from_millis(200)))
            .await
            .expect("check");
        assert_eq!(decision.reset_after_ms, 100);
        let mut conn = limiter.conn.clone();
        let pttl: i64 = conn.pttl(redis_key(&key)).await.expect("PTTL");
        assert!((1..=100).contains(&pttl), "PTTL {pttl}");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let exists: bool = conn.exists(redis_key(&key)).await.expect("EXISTS");
        assert!(!exists);
    }
}

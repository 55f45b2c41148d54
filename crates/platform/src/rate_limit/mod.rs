//! Rate limiting: the GCRA rule of [`meritree_core::rate_limit`] kept in
//! process memory or in Redis.
//!
//! A key is any string naming what is limited, e.g. `login:ip:203.0.113.7`
//! or `api:acct:<id>`; the caller picks the [`Quota`] per check, so one
//! limiter serves every policy. Keys of different policies must differ.
//!
//! - [`MemoryLimiter`] suits a single instance: nothing to run, but each
//!   process counts on its own and forgets on restart.
//! - [`RedisLimiter`] is shared by every instance pointing at the same Redis,
//!   which decides on its own clock, so instances' clocks need not agree.
//!
//! # Failures
//!
//! [`RateLimiter::check`] returns an error when it cannot decide (Redis down
//! or slow, the in-process table full). It never guesses: whether a request
//! goes through anyway (fail open: availability over protection, e.g. for
//! reads) or is refused (fail closed: e.g. for sign-in, where the limit is
//! the defence against password guessing) is a policy of the caller, which
//! knows what the limit protects.

mod memory;
mod redis;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use meritree_core::rate_limit::{Decision, Quota};

pub use self::memory::MemoryLimiter;
pub use self::redis::RedisLimiter;

/// A rate limiter on either backend. Cheap to clone: clones share state.
#[derive(Debug, Clone)]
pub enum RateLimiter {
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

impl RateLimiter {
    /// An in-process limiter with the default key bound.
    pub fn in_memory() -> Self {
        MemoryLimiter::new().into()
    }

    /// A limiter shared through the Redis at `url`; see
    /// [`RedisLimiter::connect`].
    pub async fn redis(url: &str) -> Result<Self, RateLimitError> {
        Ok(RedisLimiter::connect(url).await?.into())
    }

    /// A limiter on the instance's shared Redis connection.
    pub async fn on_redis(conn: ::redis::aio::ConnectionManager) -> Result<Self, RateLimitError> {
        Ok(RedisLimiter::with_connection(conn).await?.into())
    }

    /// Counts one request against `key` if `quota` allows it.
    ///
    /// A refused request is not counted, so a client retrying after
    /// [`Decision::retry_after_ms`] gets through.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        match self {
            RateLimiter::Memory(limiter) => limiter.check(key, quota),
            RateLimiter::Redis(limiter) => limiter.check(key, quota).await,
        }
    }

    /// What [`RateLimiter::check`] would decide for `key` now, without
    /// counting anything: for limits on outcomes known only after the work
    /// (e.g. failed sign-ins), where the caller counts with `check` later.
    pub async fn peek(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.peek(key, quota)),
            RateLimiter::Redis(limiter) => limiter.peek(key, quota).await,
        }
    }
}

impl From<MemoryLimiter> for RateLimiter {
    fn from(limiter: MemoryLimiter) -> Self {
        RateLimiter::Memory(limiter)
    }
}

impl From<RedisLimiter> for RateLimiter {
    fn from(limiter: RedisLimiter) -> Self {
        RateLimiter::Redis(limiter)
    }
}

/// Why a limiter could not decide. See the module documentation for what
/// the caller should do with it.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// Redis could not be reached, refused the command, or answered with
    /// something the script does not return.
    #[error("Redis rate limiter: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Redis did not answer in time (connecting, or reconnecting after an
    /// outage, counts towards the limit).
    #[error("Redis rate limiter did not answer within {0:?}")]
    Timeout(Duration),
    /// The in-process limiter already tracks its maximum number of keys and
    /// none of them has expired; keys it already tracks still work.
    #[error("in-process rate limiter is full: {0} keys are live")]
    Full(usize),
}

impl From<crate::redis_connection::RedisConnectError> for RateLimitError {
    fn from(err: crate::redis_connection::RedisConnectError) -> Self {
        match err {
            crate::redis_connection::RedisConnectError::Redis(e) => RateLimitError::Redis(e),
            crate::redis_connection::RedisConnectError::Timeout(t) => RateLimitError::Timeout(t),
        }
    }
}

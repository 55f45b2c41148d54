//! The exact-match response cache: a serialized answer kept under a key
//! for a while, in process memory or in Redis.
//!
//! The caller makes the key (the AI requests hash the account and the
//! canonical request, so one account's answer never serves another's) and
//! the value (a serialized response); the cache only stores bytes.
//!
//! - [`MemoryCache`] suits a single instance: bounded in entries and bytes,
//!   forgotten on restart.
//! - [`RedisCache`] is shared by every instance on the same Redis, which
//!   expires entries itself (`SET … EX`).
//!
//! # Failures
//!
//! A cache is an optimisation, so [`ResponseCache`] never fails a request:
//! when Redis errors or is slow, a read is a miss and a write is dropped,
//! and the failure is logged.

mod memory;
mod redis;
#[cfg(test)]
mod tests;

use crate::ai::Ai;
use std::time::Duration;

pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;

/// Larger values are not cached, on either backend.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// A response cache on either backend. Cheap to clone: clones share state.
#[derive(Debug, Clone)]
pub enum ResponseCache {
    Memory(MemoryCache),
    Redis(RedisCache),
}

impl ResponseCache {
    /// An in-process cache with the default bounds.
    pub fn in_memory() -> Self {
        MemoryCache::new().into()
    }

    /// A cache shared through the Redis at `url`; see [`RedisCache::connect`].
    pub async fn redis(url: &str) -> Result<Self, CacheError> {
        Ok(RedisCache::connect(url).await?.into())
    }

    /// A cache on the instance's shared Redis connection.
    pub fn on_redis(conn: ::redis::aio::ConnectionManager) -> Self {
        RedisCache::with_connection(conn).into()
    }

    /// The value stored under `key`, unless it expired; `None` also when
    /// Redis failed (logged).
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            ResponseCache::Memory(cache) => cache.get(key),
            ResponseCache::Redis(cache) => match cache.get(key).await {
                Ok(value) => value,
                Err(error) => {
                    tracing::warn!(%error, "AI response cache read failed; treated as a miss");
                    None
                }
            },
        }
    }

    /// Stores `value` under `key` for `ttl`, replacing what was there. A
    /// zero `ttl` or a value over [`MAX_VALUE_BYTES`] stores nothing; a
    /// Redis failure is logged and otherwise ignored.
    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if ttl.is_zero() || value.len() > MAX_VALUE_BYTES {
            return;
        }
        match self {
            ResponseCache::Memory(cache) => cache.put(key, value, ttl),
            ResponseCache::Redis(cache) => {
                if let Err(error) = cache.put(key, value, ttl).await {
                    tracing::warn!(%error, "AI response cache write failed; not cached");
                }
            }
        }
    }
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl From<MemoryCache> for ResponseCache {
    fn from(cache: MemoryCache) -> Self {
        ResponseCache::Memory(cache)
    }
}

impl From<RedisCache> for ResponseCache {
    fn from(cache: RedisCache) -> Self {
        ResponseCache::Redis(cache)
    }
}

/// Why the Redis backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("Redis response cache: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("Redis response cache did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<crate::redis_connection::RedisConnectError> for CacheError {
    fn from(err: crate::redis_connection::RedisConnectError) -> Self {
        match err {
            crate::redis_connection::RedisConnectError::Redis(e) => CacheError::Redis(e),
            crate::redis_connection::RedisConnectError::Timeout(t) => CacheError::Timeout(t),
        }
    }
}

impl Ai<'_> {
    /// The AI response cache ([`crate::PlatformOptions::ai_cache`]).
    pub fn ai_cache(&self) -> &ResponseCache {
        &self.inner.ai_cache
    }

    /// [`ResponseCache::get`] on the platform's cache.
    pub async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        self.ai_cache().get(key).await
    }

    /// [`ResponseCache::put`] on the platform's cache.
    pub async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.ai_cache().put(key, value, ttl).await
    }
}

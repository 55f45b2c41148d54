//! The Redis backend: `SET key value EX ttl` and `GET key`, each entry one
//! Redis string under [`KEY_PREFIX`] that Redis expires itself. Connected
//! as the rate limiter is: one multiplexed connection, re-established by
//! the connection manager after it drops, every command bounded in time.

use std::fmt;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::RedisError;

use super::CacheError;
use crate::redis_connection;

/// Prepended to every key, so cache entries cannot collide with anything
/// else stored in the same Redis database.
const KEY_PREFIX: &str = "meritree:ai_cache:";

/// Bounds one command, including waiting for a reconnection in progress.
/// A miss costs one upstream call, so a slow Redis must not cost more.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
}

impl RedisCache {
    /// Connects to `url` (see [`crate::redis_connection::connect`]).
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        Ok(Self::with_connection(redis_connection::connect(url).await?))
    }

    /// Uses the instance's shared connection.
    pub fn with_connection(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut command = ::redis::cmd("GET");
        command.arg(redis_key(key));
        let mut conn = self.conn.clone();
        bounded(command.query_async::<Option<Vec<u8>>>(&mut conn)).await
    }

    /// Stores `value` for `ttl`, rounded up to whole seconds (`EX`); a zero
    /// `ttl` stores nothing.
    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), CacheError> {
        if ttl.is_zero() {
            return Ok(());
        }
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let mut command = ::redis::cmd("SET");
        command.arg(redis_key(key)).arg(value).arg("EX").arg(secs);
        let mut conn = self.conn.clone();
        bounded(command.query_async::<()>(&mut conn)).await
    }

    #[cfg(test)]
    pub(super) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

async fn bounded<T>(
    command: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, CacheError> {
    Ok(tokio::time::timeout(COMMAND_TIMEOUT, command)
        .await
        .map_err(|_| CacheError::Timeout(COMMAND_TIMEOUT))??)
}

pub(super) fn redis_key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache").finish_non_exhaustive()
    }
}

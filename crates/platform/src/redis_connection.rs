//! One Redis connection for the whole instance: rate limits and the AI
//! response cache share it (and the event hub will). It is multiplexed, and
//! the manager re-establishes it after it drops.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::RedisError;

/// Bounds `connect` as a whole, including its retries.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bounds one connection attempt, at start and when reconnecting.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bounds one command, including waiting for a reconnection in progress:
/// Redis sits in front of requests and must not stall them while it is
/// away. Users with a tighter budget (the cache) bound their own commands.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnection attempts (with exponential backoff) after a connection
/// drops; the next command after they run out starts another round.
const RECONNECT_RETRIES: usize = 2;
const MAX_RECONNECT_DELAY_MS: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum RedisConnectError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Connects to `url` (`redis://[[user]:password@]host[:port][/db]`,
/// `rediss://…` for TLS — the server's certificate checked against the
/// system's trusted roots, or the file named by `SSL_CERT_FILE` — or
/// `unix:///path/to/socket`) and checks the server answers.
pub async fn connect(url: &str) -> Result<ConnectionManager, RedisConnectError> {
    let client = ::redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(ATTEMPT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_max_delay(MAX_RECONNECT_DELAY_MS);
    let connecting = async {
        let mut conn = ConnectionManager::new_with_config(client, config).await?;
        ::redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok::<_, RedisError>(conn)
    };
    Ok(tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| RedisConnectError::Timeout(CONNECT_TIMEOUT))??)
}

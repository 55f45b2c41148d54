//! The hub across instances: what one instance publishes goes to a Redis
//! channel named after the deployment (the instance id every instance on a
//! database shares), and each instance delivers what the others sent to
//! its own sockets. Each message names the process that sent it, so an
//! instance skips its own.

use std::time::Duration;

use ::redis::aio::ConnectionManager;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Bridged;
use crate::Platform;

/// Messages waiting to be published before new ones are dropped.
const QUEUE: usize = 4096;
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct Wire {
    /// The sending process.
    from: String,
    message: Bridged,
}

/// Starts forwarding this instance's messages to Redis at `url` and
/// delivering the other instances' to this one; runs until the process
/// ends. `connection` is the instance's shared one, for publishing.
pub fn bridge(
    platform: &Platform,
    url: &str,
    connection: ConnectionManager,
) -> Result<(), ::redis::RedisError> {
    // Subscribing needs a connection of its own.
    let client = ::redis::Client::open(url)?;
    let channel = format!("meritree:live:{}", platform.instance_id());
    let me = uuid::Uuid::new_v4().to_string();
    let (sender, receiver) = mpsc::channel(QUEUE);
    platform.hub().attach_bridge(sender);
    tokio::spawn(publish(receiver, connection, channel.clone(), me.clone()));
    tokio::spawn(subscribe(platform.clone(), client, channel, me));
    Ok(())
}

async fn publish(
    mut receiver: mpsc::Receiver<Bridged>,
    mut connection: ConnectionManager,
    channel: String,
    me: String,
) {
    while let Some(message) = receiver.recv().await {
        let wire = Wire {
            from: me.clone(),
            message,
        };
        let payload = serde_json::to_string(&wire).expect("messages serialise");
        let sent: Result<i64, _> = ::redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut connection)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "live bridge: publishing to Redis failed; the message is lost");
        }
    }
}

async fn subscribe(platform: Platform, client: ::redis::Client, channel: String, me: String) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    tracing::info!(%channel, "live bridge subscribed");
                    platform.set_bridged(true);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        match serde_json::from_slice::<Wire>(message.get_payload_bytes()) {
                            Ok(wire) if wire.from != me => receive(&platform, wire.message).await,
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "live bridge: an unreadable message was skipped")
                            }
                        }
                    }
                    platform.set_bridged(false);
                    tracing::warn!("live bridge: the Redis subscription ended; reconnecting");
                }
                Err(error) => tracing::warn!(%error, "live bridge: subscribing failed"),
            },
            Err(error) => tracing::warn!(%error, "live bridge: cannot reach Redis"),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn receive(platform: &Platform, message: Bridged) {
    match message {
        Bridged::Live { audience, event } => platform.hub().deliver(audience, event),
        Bridged::Invalidate { change } => platform.apply_invalidation(&change),
        Bridged::Vector { submission_id } => {
            if let Err(error) = platform.evaluation().index_stored(&submission_id).await {
                tracing::warn!(%error, submission = %submission_id, "live bridge: the embedding was not indexed");
            }
        }
    }
}

//! The live-event hub: services publish [`LiveEvent`]s with their audience;
//! each connected socket subscribes and keeps the events meant for it.
//!
//! In process by default; with Redis, every event is also forwarded to the
//! other instances on the same database ([`redis`]), which deliver it to
//! their own sockets. Every event carries the delivering instance's
//! sequence number, and the last [`RECENT`] events are kept so a client
//! that reconnects with the last number it saw gets what it missed.

pub mod redis;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use meritree_core::live::{Audience, Envelope, LiveEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

/// Events kept for resuming clients.
pub const RECENT: usize = 1024;
/// Events the broadcast channel holds for its slowest receiver; a socket
/// that falls further behind is closed (`close_code::TOO_SLOW`).
const CHANNEL: usize = 4096;
/// Events [`Hub::publish_paced`] publishes at once, and its pause between.
const PACED_BATCH: usize = 256;
const PACE: std::time::Duration = std::time::Duration::from_millis(25);

/// One event with who it is for. Every socket receives the same one:
/// cloning it copies two pointers, and its frame is serialised once.
#[derive(Debug, Clone)]
pub struct Addressed {
    pub audience: Audience,
    pub envelope: Arc<Envelope>,
    /// `envelope` as JSON, the text frame a socket sends.
    pub frame: Bytes,
}

impl Addressed {
    /// Whether a socket of `account` (or an anonymous one) receives it.
    pub fn is_for(&self, account: Option<&str>) -> bool {
        match &self.audience {
            Audience::Everyone => true,
            Audience::Account(id) => account == Some(id.as_str()),
        }
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    sender: broadcast::Sender<Addressed>,
    seq: AtomicU64,
    recent: Mutex<VecDeque<Addressed>>,
    /// Where events go for the other instances, once a bridge is attached.
    bridge: OnceLock<mpsc::Sender<Bridged>>,
}

/// What one instance tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bridged {
    /// An event for the sockets.
    Live {
        audience: Audience,
        event: LiveEvent,
    },
    /// A submission's embedding was stored: add it to the index.
    Vector { submission_id: String },
    /// Cached credentials or budgets changed.
    Invalidate {
        change: crate::invalidation::Invalidation,
    },
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL);
        Self {
            inner: Arc::new(HubInner {
                sender,
                seq: AtomicU64::new(0),
                recent: Mutex::new(VecDeque::with_capacity(RECENT)),
                bridge: OnceLock::new(),
            }),
        }
    }

    /// Sends `event` to the sockets of this instance and, through the
    /// bridge, of the others.
    pub fn publish(&self, audience: Audience, event: LiveEvent) {
        self.forward(Bridged::Live {
            audience: audience.clone(),
            event: event.clone(),
        });
        self.deliver(audience, event);
    }

    /// Publishes many events (a round paying thousands of members): a few
    /// batch's worth at once, the rest in the background a batch at a time
    /// with pauses between. All at once they would overrun the channel,
    /// closing every page on this instance as too slow, and the bridge's
    /// queue, dropping them for the other instances.
    pub fn publish_paced(&self, events: Vec<(Audience, LiveEvent)>) {
        let mut events = events.into_iter();
        for (audience, event) in events.by_ref().take(PACED_BATCH) {
            self.publish(audience, event);
        }
        if events.as_slice().is_empty() {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            while !events.as_slice().is_empty() {
                tokio::time::sleep(PACE).await;
                for (audience, event) in events.by_ref().take(PACED_BATCH) {
                    hub.publish(audience, event);
                }
            }
        });
    }

    /// Tells the other instances about something that is not for sockets.
    pub fn forward(&self, message: Bridged) {
        if let Some(bridge) = self.inner.bridge.get() {
            // A full queue means Redis is away or slow: the other instances
            // miss this one (their clients resync), this instance goes on.
            if bridge.try_send(message).is_err() {
                tracing::warn!("live bridge queue full: an event was not forwarded");
            }
        }
    }

    /// Attaches the bridge that carries forwarded messages away; once.
    pub fn attach_bridge(&self, bridge: mpsc::Sender<Bridged>) {
        let _ = self.inner.bridge.set(bridge);
    }

    /// Sends `event` to this instance's sockets; nobody listening is fine.
    pub fn deliver(&self, audience: Audience, event: LiveEvent) {
        let mut recent = self.inner.recent.lock().expect("hub lock");
        // Numbered under the lock, so `recent` is in order.
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let envelope = Envelope { seq, event };
        let frame = Bytes::from(serde_json::to_vec(&envelope).expect("events serialise"));
        let addressed = Addressed {
            audience,
            envelope: Arc::new(envelope),
            frame,
        };
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(addressed.clone());
        drop(recent);
        let _ = self.inner.sender.send(addressed);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Addressed> {
        self.inner.sender.subscribe()
    }

    /// The kept events after `since`, or `None` when some of them are no
    /// longer kept (the client must reload what it shows).
    pub fn since(&self, since: u64) -> Option<Vec<Addressed>> {
        let recent = self.inner.recent.lock().expect("hub lock");
        let next = since.saturating_add(1);
        let oldest = recent.front().map_or(next, |a| a.envelope.seq);
        if next < oldest && since < self.inner.seq.load(Ordering::Relaxed) {
            return None;
        }
        Some(
            recent
                .iter()
                .filter(|a| a.envelope.seq > since)
                .cloned()
                .collect(),
        )
    }

    /// The newest sequence number sent.
    pub fn last_seq(&self) -> u64 {
        self.inner.seq.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(n: i64) -> LiveEvent {
        LiveEvent::Round {
            round: n,
            entries: 0,
            ends_at: 0,
            paid: false,
        }
    }

    #[tokio::test]
    async fn subscribers_get_events_in_order_and_resume_from_a_number() {
        let hub = Hub::new();
        let mut socket = hub.subscribe();
        hub.publish(Audience::Everyone, round(1));
        hub.publish(Audience::Account("a".into()), round(2));
        let first = socket.recv().await.unwrap();
        let second = socket.recv().await.unwrap();
        assert_eq!((first.envelope.seq, second.envelope.seq), (1, 2));
        assert!(first.is_for(None));
        assert!(second.is_for(Some("a")) && !second.is_for(Some("b")) && !second.is_for(None));
        let missed = hub.since(1).unwrap();
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].envelope.seq, 2);
    }

    #[tokio::test]
    async fn more_events_than_a_socket_holds_reach_it_paced_in_order() {
        let hub = Hub::new();
        let mut socket = hub.subscribe();
        let many = 10_000;
        assert!(many > CHANNEL, "all at once, the socket would fall behind");
        hub.publish_paced(
            (1..=many as i64)
                .map(|n| (Audience::Everyone, round(n)))
                .collect(),
        );
        for seq in 1..=many as u64 {
            let event = socket.recv().await.expect("never too far behind");
            assert_eq!(event.envelope.seq, seq);
        }
    }

    #[test]
    fn a_gap_older_than_what_is_kept_asks_for_a_reload() {
        let hub = Hub::new();
        for n in 0..(RECENT as i64 + 10) {
            hub.publish(Audience::Everyone, round(n));
        }
        assert!(hub.since(3).is_none());
        assert_eq!(hub.since(hub.last_seq()).unwrap().len(), 0);
        assert_eq!(hub.since(hub.last_seq() - 5).unwrap().len(), 5);
    }
}

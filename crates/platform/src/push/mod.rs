//! Web Push: members' browsers subscribe, and every notification kept in a
//! centre is also sent, encrypted to each browser (RFC 8291) and signed as
//! this server (VAPID, RFC 8292), through the browser's push service
//! (RFC 8030), which wakes the service worker to show it.
//!
//! Sending is a side effect of a notice already kept: it happens after the
//! operation, off its path; a push service's refusal is logged, one it
//! answers "later" (429, 5xx) or not at all is retried twice within
//! seconds, and a subscription it says is gone (404, 410) is forgotten.

pub mod encryption;
pub mod vapid;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use meritree_ai::providers::retry_after;
use meritree_core::notifications::{NotificationKind, NotificationView};
use meritree_core::push::{
    PushEndpoint, PushServerKey, PushSubscription, PushSubscriptionError, PushSubscriptionJson,
};
use meritree_core::ErrorCode;
use meritree_store::push_subscriptions::{self as store, NewPushSubscription, Subscribed};
use meritree_store::StoreError;

use crate::clock;
use crate::error::{store_error_code, PublicError};
use crate::principal::Principal;
use encryption::{Ephemeral, Recipient};
use vapid::VapidKey;

/// The push services of the browsers people use: Chrome, Edge, Firefox,
/// Safari. A name starting with a dot takes any host under it; `host:port`
/// one other port (`host:*` any), else only the scheme's own.
pub const BROWSER_PUSH_SERVICES: [&str; 5] = [
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    ".notify.windows.com",
    ".push.apple.com",
];

/// How long a push service keeps a message for a browser that is offline.
const TIME_TO_LIVE_SECS: u32 = 24 * 3600;

/// The waits before sending again a message a push service could not take
/// now (429, 5xx, no answer), unless it says how long (`Retry-After`). A
/// push only nudges: the centre keeps the notice, so it is tried for a few
/// seconds in memory rather than kept in a durable queue.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];

/// The longest `Retry-After` waited for (holding one of [`MAX_SENDING`]);
/// a service asking for more does not get the message.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where and how the server sends pushes.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    /// The push services subscriptions may point at. The server sends to
    /// whatever URL a subscription names, so only these: never an address
    /// inside the operator's network.
    pub services: Vec<String>,
    /// Plain-HTTP endpoints too (a local push service in tests).
    pub allow_http: bool,
    /// Who runs this server, for push services to reach (`mailto:` or
    /// `https:`); `None`: the site's address.
    pub subject: Option<String>,
    /// The most browsers one account keeps subscribed; the oldest go.
    pub per_account: u32,
    /// How long one push service may take to answer.
    pub timeout: Duration,
}

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            services: BROWSER_PUSH_SERVICES.map(str::to_owned).to_vec(),
            allow_http: false,
            subject: None,
            per_account: 10,
            timeout: Duration::from_secs(10),
        }
    }
}

impl PushPolicy {
    fn allows(&self, endpoint: &PushEndpoint) -> bool {
        (endpoint.is_https() || self.allow_http)
            && self.services.iter().any(|service| {
                let service = service.to_ascii_lowercase();
                let (host, port) = split_service(&service);
                let host_ok = match host.strip_prefix('.') {
                    Some(domain) => {
                        !domain.is_empty()
                            && endpoint
                                .host()
                                .strip_suffix(domain)
                                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
                    }
                    None => endpoint.host() == host,
                };
                let port_ok = match port {
                    None => endpoint.port().is_none(),
                    Some("*") => true,
                    Some(port) => endpoint.port().map(|p| p.to_string()).as_deref() == Some(port),
                };
                host_ok && port_ok
            })
    }
}

/// `host[:port]` of a `services` entry (the port may be `*`).
fn split_service(service: &str) -> (&str, Option<&str>) {
    match service.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && (port == "*"
                    || (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())))
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (service, None),
    }
}

/// The key, the policy and the HTTP client, made once per platform.
pub(crate) struct PushState {
    key: VapidKey,
    policy: PushPolicy,
    client: reqwest::Client,
    /// Notices being sent now: a burst or slow push services cannot pile
    /// up tasks and connections without bound.
    sending: Arc<Semaphore>,
    /// The same for batches (a round paying thousands), whose notices wait
    /// their turn here: a round being told never takes the places of a
    /// member's own notices (a new API key, a sign-in).
    batch_sending: Arc<Semaphore>,
}

/// How many notices may be on their way at once; more are not pushed
/// (the centre still has them).
const MAX_SENDING: usize = 256;
/// How many notices of batches may be on their way at once, beside those.
const MAX_BATCH_SENDING: usize = 128;
/// How long a batch's notices wait for their turn: past it, the rest are
/// not pushed (the centre has them), so an unreachable push service does
/// not keep rounds' notices waiting to arrive hours late.
const BATCH_DEADLINE: Duration = Duration::from_secs(10 * 60);

impl PushState {
    pub(crate) fn new(key: VapidKey, policy: PushPolicy) -> Self {
        let client = reqwest::Client::builder()
            // A push service answers; it never sends the server elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.timeout)
            .timeout(policy.timeout)
            .build()
            .expect("the TLS backend initialises");
        Self {
            key,
            policy,
            client,
            sending: Arc::new(Semaphore::new(MAX_SENDING)),
            batch_sending: Arc::new(Semaphore::new(MAX_BATCH_SENDING)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Invalid(PushSubscriptionError),
    #[error("the push subscription's key is not a point on P-256")]
    KeyOffCurve,
    #[error("{0} is not a push service this server sends to")]
    ServiceNotAllowed(String),
    #[error("this browser's push subscription is another account's")]
    Taken,
    #[error("push notifications are turned on from a signed-in browser")]
    SessionRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PublicError for PushError {
    fn code(&self) -> ErrorCode {
        match self {
            PushError::Invalid(_) | PushError::KeyOffCurve => ErrorCode::PushSubscriptionInvalid,
            PushError::ServiceNotAllowed(_) => ErrorCode::PushServiceNotAllowed,
            PushError::Taken => ErrorCode::PushSubscriptionTaken,
            PushError::SessionRequired => ErrorCode::SessionRequired,
            PushError::Store(err) => store_error_code(err),
        }
    }
}

service!(
    /// Web Push: browsers' subscriptions, and sending notices to them.
    Push,
    push
);

impl Push<'_> {
    fn state(&self) -> &PushState {
        self.push_state()
    }

    /// The key browsers subscribe with.
    pub fn server_key(&self) -> PushServerKey {
        PushServerKey {
            public_key: self.state().key.public_key(),
        }
    }

    /// Sends the member's notices to this browser from now on, while the
    /// sign-in doing it lasts.
    pub async fn subscribe(
        &self,
        me: &Principal,
        json: &PushSubscriptionJson,
    ) -> Result<(), PushError> {
        let session = me.session_id().ok_or(PushError::SessionRequired)?;
        let subscription = PushSubscription::try_from(json).map_err(PushError::Invalid)?;
        encryption::check_public_key(&subscription.p256dh).map_err(|_| PushError::KeyOffCurve)?;
        if !self.state().policy.allows(&subscription.endpoint) {
            return Err(PushError::ServiceNotAllowed(
                subscription.endpoint.origin().to_owned(),
            ));
        }
        let kept = store::subscribe(
            self.db(),
            NewPushSubscription {
                account_id: me.account_id.as_str(),
                session_id: session.as_str(),
                endpoint: subscription.endpoint.as_str(),
                p256dh: &subscription.p256dh,
                auth: &subscription.auth,
                now: clock::unix_secs(),
            },
            self.state().policy.per_account,
        )
        .await?;
        match kept {
            Subscribed::Kept => Ok(()),
            Subscribed::Taken => Err(PushError::Taken),
        }
    }

    /// Stops sending to this browser; done already is done.
    pub async fn unsubscribe(
        &self,
        account_id: &meritree_core::accounts::AccountId,
        endpoint: &str,
    ) -> Result<(), PushError> {
        store::unsubscribe(self.db(), account_id.as_str(), endpoint).await?;
        Ok(())
    }

    /// Sends `notification` to every browser the account subscribed, in
    /// the background; not at all when [`MAX_SENDING`] are on their way.
    pub(crate) fn send_later(&self, account_id: &str, notification: &NotificationView) {
        let Ok(permit) = self.state().sending.clone().try_acquire_owned() else {
            tracing::warn!(
                id = notification.id,
                "too many pushes on their way; not pushed"
            );
            return;
        };
        let platform = (**self).clone();
        let account_id = account_id.to_owned();
        let notification = notification.clone();
        tokio::spawn(async move {
            let _permit = permit;
            platform.push().deliver(&account_id, &notification).await;
        });
    }

    /// Sends a batch of notices (a round's to its members) in the
    /// background: one read finds which of their accounts subscribed a
    /// browser, and each of those waits its turn among
    /// [`MAX_BATCH_SENDING`] rather than being dropped as a burst would be.
    pub(crate) fn send_many_later(&self, notices: Vec<(String, NotificationView)>) {
        if notices.is_empty() {
            return;
        }
        let platform = (**self).clone();
        tokio::spawn(async move {
            let accounts: Vec<&str> = notices
                .iter()
                .map(|(account, _)| account.as_str())
                .collect();
            let subscribed = match store::subscribed_among(platform.db(), &accounts).await {
                Ok(subscribed) => subscribed,
                Err(err) => {
                    tracing::warn!(error = %err, "push subscriptions not read");
                    return;
                }
            };
            let deadline = tokio::time::Instant::now() + BATCH_DEADLINE;
            let mut waiting = notices
                .into_iter()
                .filter(|(account_id, _)| subscribed.contains(account_id));
            while let Some((account_id, notification)) = waiting.next() {
                let sending = platform.push().state().batch_sending.clone();
                let Ok(Ok(permit)) =
                    tokio::time::timeout_at(deadline, sending.acquire_owned()).await
                else {
                    tracing::warn!(
                        not_pushed = 1 + waiting.count(),
                        "a batch of notices waited too long to be pushed; the rest are not"
                    );
                    return;
                };
                let platform = platform.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    platform.push().deliver(&account_id, &notification).await;
                });
            }
        });
    }

    /// Sends `notification` to every browser the account subscribed, and
    /// forgets those whose sign-in ended.
    async fn deliver(&self, account_id: &str, notification: &NotificationView) {
        let Some(message) = message(notification) else {
            tracing::warn!(id = notification.id, "notification too long to push");
            return;
        };
        let urgency = match notification.kind {
            NotificationKind::Security => "high",
            _ => "normal",
        };
        let now = clock::unix_secs();
        let (subscriptions, ended): (Vec<_>, Vec<_>) =
            match store::for_account(self.db(), account_id, now).await {
                Ok(subscriptions) => subscriptions.into_iter().partition(|s| s.live),
                Err(err) => {
                    tracing::warn!(error = %err, "push subscriptions not read");
                    return;
                }
            };
        // Browsers whose sign-in ended get nothing, and are forgotten (a
        // write only when there are some).
        if !ended.is_empty() {
            if let Err(err) = store::forget_ended(self.db(), account_id, now).await {
                tracing::warn!(error = %err, "ended push subscriptions not forgotten");
            }
        }
        futures_util::future::join_all(
            subscriptions
                .iter()
                .map(|subscription| self.send(subscription, &message, urgency)),
        )
        .await;
    }

    async fn send(
        &self,
        subscription: &store::PushSubscriptionRecord,
        message: &[u8],
        urgency: &str,
    ) {
        let state = self.state();
        let Ok(endpoint) = PushEndpoint::parse(&subscription.endpoint) else {
            return;
        };
        let Ok(auth) = <[u8; 16]>::try_from(subscription.auth.as_slice()) else {
            return;
        };
        let body = match encryption::encrypt(
            message,
            &Recipient {
                p256dh: &subscription.p256dh,
                auth: &auth,
            },
            &Ephemeral::random(),
        ) {
            Ok(body) => body,
            Err(err) => {
                tracing::warn!(error = %err, "push not encrypted");
                return;
            }
        };
        let subject = state
            .policy
            .subject
            .clone()
            .unwrap_or_else(|| self.site().primary().as_str().to_owned());
        let authorization =
            state
                .key
                .authorization(endpoint.origin(), &subject, clock::unix_secs());
        let mut delays = RETRY_DELAYS.into_iter();
        loop {
            let sent = state
                .client
                .post(endpoint.as_str())
                .header("Authorization", &authorization)
                .header("TTL", TIME_TO_LIVE_SECS.to_string())
                .header("Urgency", urgency)
                .header("Content-Encoding", "aes128gcm")
                .header("Content-Type", "application/octet-stream")
                .body(body.clone())
                .send()
                .await;
            let asked = match &sent {
                Ok(answer) => retry_after(answer.headers(), std::time::SystemTime::now()),
                Err(_) => None,
            };
            match sent.map(|answer| answer.status()) {
                Ok(status) if status.is_success() => return,
                // Gone (404, 410), or refused as not this server's to send to
                // (400 malformed, 403 another key's): it never will be.
                Ok(status) if matches!(status.as_u16(), 400 | 403 | 404 | 410) => {
                    tracing::info!(
                        service = endpoint.origin(),
                        %status,
                        "push subscription refused for good; forgotten"
                    );
                    if let Err(err) = store::remove(self.db(), endpoint.as_str()).await {
                        tracing::warn!(error = %err, "gone push subscription not forgotten");
                    }
                    return;
                }
                // Too many, or the service's own trouble: it may take it later.
                Ok(status) if status.as_u16() == 429 || status.is_server_error() => {
                    tracing::warn!(service = endpoint.origin(), %status, "push service refused a message for now")
                }
                Ok(status) => {
                    tracing::warn!(service = endpoint.origin(), %status, "push service refused a message");
                    return;
                }
                Err(err) => {
                    tracing::warn!(service = endpoint.origin(), error = %err, "push service unreachable")
                }
            }
            let Some(delay) = delays.next() else {
                tracing::warn!(
                    service = endpoint.origin(),
                    "push message given up after retries"
                );
                return;
            };
            let wait = asked.unwrap_or(delay);
            if wait > MAX_RETRY_AFTER {
                tracing::warn!(
                    service = endpoint.origin(),
                    retry_after_secs = wait.as_secs(),
                    "push service asks to wait too long; message given up"
                );
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// What the service worker shows: the notification as the centre lists it,
/// its body shortened to fit one record.
fn message(notification: &NotificationView) -> Option<Vec<u8>> {
    let mut notification = notification.clone();
    loop {
        let bytes = serde_json::to_vec(&notification).ok()?;
        if bytes.len() <= encryption::MAX_PLAINTEXT {
            return Some(bytes);
        }
        if notification.body.is_empty() {
            return None;
        }
        let keep = notification.body.chars().count() / 2;
        notification.body = notification.body.chars().take(keep).collect::<String>() + "…";
        if keep == 0 {
            notification.body.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(policy: &PushPolicy, url: &str) -> bool {
        policy.allows(&PushEndpoint::parse(url).unwrap())
    }

    #[test]
    fn only_the_browsers_push_services_are_sent_to() {
        let policy = PushPolicy::default();
        assert!(allowed(&policy, "https://fcm.googleapis.com/fcm/send/x"));
        assert!(allowed(
            &policy,
            "https://updates.push.services.mozilla.com/wpush/v2/x"
        ));
        assert!(allowed(
            &policy,
            "https://wns2-db5p.notify.windows.com/w/?token=x"
        ));
        assert!(allowed(&policy, "https://web.push.apple.com/Q"));
        assert!(allowed(
            &policy,
            "https://FCM.googleapis.com:443/fcm/send/x"
        ));
        for refused in [
            "http://fcm.googleapis.com/fcm/send/x",
            "https://fcm.googleapis.com.evil.example/x",
            "https://evilfcm.googleapis.com/x",
            "https://notify.windows.com/x",
            "https://evilpush.apple.com/x",
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest",
            "https://fcm.googleapis.com:25/x",
            "https://fcm.googleapis.com./x",
            "https://[::1]/x",
        ] {
            assert!(!allowed(&policy, refused), "{refused}");
        }
        let local = PushPolicy {
            services: vec!["127.0.0.1".into()],
            allow_http: true,
            ..PushPolicy::default()
        };
        assert!(
            !allowed(&local, "http://127.0.0.1:4000/push/1"),
            "another port"
        );
        assert!(allowed(&local, "http://127.0.0.1/push/1"));
        let any_port = PushPolicy {
            services: vec!["127.0.0.1:*".into(), "[::1]:8080".into()],
            allow_http: true,
            ..PushPolicy::default()
        };
        assert!(allowed(&any_port, "http://127.0.0.1:4000/push/1"));
        assert!(!allowed(&any_port, "http://localhost:4000/push/1"));
        assert!(allowed(&any_port, "http://[::1]:8080/p"));
        assert!(!allowed(&any_port, "http://[::1]:8081/p"));
        let dot = PushPolicy {
            services: vec![".".into()],
            ..PushPolicy::default()
        };
        assert!(!allowed(&dot, "https://evil.example./x"));
    }

    #[test]
    fn a_long_notice_is_shortened_to_one_record() {
        let notification = NotificationView {
            id: 1,
            kind: NotificationKind::Security,
            title: "New sign-in".into(),
            body: "é".repeat(10_000),
            link: None,
            created_at: 0,
            read: false,
        };
        let bytes = message(&notification).unwrap();
        assert!(bytes.len() <= encryption::MAX_PLAINTEXT);
        let back: NotificationView = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.title, "New sign-in");
        assert!(back.body.ends_with('…'));
    }
}

//! A local push service for tests, and the browser's side of Web Push: it
//! takes messages at `/push/{name}`, and a test holding a subscription's
//! private key checks the server's VAPID token (RFC 8292) and decrypts the
//! message (RFC 8291) as a browser would.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// One message as the push service took it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub name: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

#[derive(Default)]
struct Inbox {
    deliveries: Vec<Delivery>,
    /// What to answer per name; 201 otherwise.
    answers: HashMap<String, u16>,
    /// Answers for the next messages per name, before `answers`: a status
    /// and a `Retry-After` in seconds.
    next: HashMap<String, VecDeque<(u16, Option<u64>)>>,
}

pub struct PushService {
    pub origin: String,
    inbox: Arc<Mutex<Inbox>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn take(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // What every push service must take, and no more is promised.
    assert!(body.len() <= 4096, "a message of {} bytes", body.len());
    let mut inbox = inbox.lock().unwrap();
    let (answer, retry_after) = match inbox.next.get_mut(&name).and_then(VecDeque::pop_front) {
        Some(next) => next,
        None => (inbox.answers.get(&name).copied().unwrap_or(201), None),
    };
    inbox.deliveries.push(Delivery {
        name,
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let status = StatusCode::from_u16(answer).unwrap();
    match retry_after {
        Some(secs) => (status, [("retry-after", secs.to_string())]).into_response(),
        None => status.into_response(),
    }
}

impl PushService {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let router = axum::Router::new()
            .route("/push/{name}", axum::routing::post(take))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            origin,
            inbox,
            server,
        }
    }

    /// Answers messages for `name` with `status` from now on.
    pub fn answer(&self, name: &str, status: u16) {
        self.inbox
            .lock()
            .unwrap()
            .answers
            .insert(name.to_owned(), status);
    }

    /// Answers the next message for `name` with `status` (and a
    /// `Retry-After` of `retry_after` seconds), once; queued after any
    /// answer set this way before.
    pub fn answer_next(&self, name: &str, status: u16, retry_after: Option<u64>) {
        self.inbox
            .lock()
            .unwrap()
            .next
            .entry(name.to_owned())
            .or_default()
            .push_back((status, retry_after));
    }

    pub fn deliveries(&self, name: &str) -> Vec<Delivery> {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .deliveries
            .iter()
            .filter(|delivery| delivery.name == name)
            .cloned()
            .collect()
    }

    /// Waits until `count` messages for `name` arrived.
    pub async fn wait_for(&self, name: &str, count: usize) -> Vec<Delivery> {
        for _ in 0..200 {
            let deliveries = self.deliveries(name);
            if deliveries.len() >= count {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{count} push messages for {name} within 10 s; got {}",
            self.deliveries(name).len()
        );
    }
}

/// A browser's subscription: its key pair and auth secret.
pub struct Browser {
    pub endpoint: String,
    secret: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    pub fn new(service: &PushService, name: &str) -> Self {
        let mut seed = [0u8; 32];
        let mut auth = [0u8; 16];
        getrandom::getrandom(&mut seed).unwrap();
        getrandom::getrandom(&mut auth).unwrap();
        Self {
            endpoint: format!("{}/push/{name}", service.origin),
            secret: SecretKey::from_slice(&seed).unwrap(),
            auth,
        }
    }

    /// What `PushSubscription.toJSON()` gives the page.
    pub fn subscription(&self) -> serde_json::Value {
        serde_json::json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
        })
    }

    /// Decrypts an `aes128gcm` message (RFC 8188, RFC 8291 §4) and returns
    /// the JSON inside.
    pub fn read(&self, body: &[u8]) -> serde_json::Value {
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
        let key_len = body[20] as usize;
        let sender = PublicKey::from_sec1_bytes(&body[21..21 + key_len]).expect("the sender's key");
        let record = &body[21 + key_len..];
        assert!(record.len() <= record_size, "one record");

        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(self.secret.public_key().to_encoded_point(false).as_bytes());
        info.extend_from_slice(sender.to_encoded_point(false).as_bytes());
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut key, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut key)
            .unwrap();
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .unwrap();
        let mut plain = Aes128Gcm::new(&key.into())
            .decrypt(Nonce::from_slice(&nonce), record)
            .expect("the message decrypts with the subscription's keys");
        // Padding: zeros after the last record's delimiter, 2.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        serde_json::from_slice(&plain).expect("the message is JSON")
    }
}

/// Checks the `Authorization: vapid t=…, k=…` header: signed (ES256) by
/// the key the server publishes, for this push service, not expired.
/// Returns the token's claims.
pub fn check_vapid(delivery: &Delivery, server_key: &str, audience: &str) -> serde_json::Value {
    let header = delivery.headers["authorization"].to_str().unwrap();
    let rest = header.strip_prefix("vapid t=").expect("the vapid scheme");
    let (token, key) = rest.split_once(", k=").expect("t and k");
    assert_eq!(
        key, server_key,
        "signed by the key browsers subscribed with"
    );
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let (jose, claims) = signed.split_once('.').unwrap();
    let jose: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jose).unwrap()).unwrap();
    assert_eq!(jose["alg"], "ES256");
    let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    verifying
        .verify(signed.as_bytes(), &signature)
        .expect("the token's signature verifies");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["aud"], audience);
    let now = crate::helpers::unix_now() as i64;
    let expires = claims["exp"].as_i64().unwrap();
    assert!(expires > now && expires <= now + 24 * 3600, "{claims}");
    claims
}

//! A fake upstream on port 0 that replies from a script and records what it
//! was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use meritree_ai::{
    ChatRequest, ChatStream, HttpConfig, Message, Provider, ProviderError, Role, StreamEvent,
    Timeouts, Usage,
};

pub enum Payload {
    Whole(String),
    /// Sent in pieces of this many bytes, with a pause between, so the
    /// client sees splits anywhere: inside lines, CRLFs and UTF-8.
    Pieces(String, usize),
    /// Headers only after this long.
    Late(Duration, String),
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Payload,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            payload: Payload::Whole(body.into()),
        }
    }

    pub fn sse(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "text/event-stream".into())],
            payload: Payload::Pieces(body.into(), 7),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn late(mut self, by: Duration) -> Self {
        self.payload = match self.payload {
            Payload::Whole(b) | Payload::Pieces(b, _) | Payload::Late(_, b) => Payload::Late(by, b),
        };
        self
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

pub struct Fake {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Fake {
    pub fn last(&self) -> Recorded {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

pub async fn serve(reply: impl Fn() -> Reply + Clone + Send + Sync + 'static) -> Fake {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let reply = reply.clone();
        let log = log.clone();
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let headers = req.headers().clone();
            let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap();
            let body = serde_json::from_slice(&bytes).unwrap_or_default();
            log.lock().unwrap().push(Recorded {
                path,
                headers,
                body,
            });
            respond(reply()).await
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { base_url, requests }
}

async fn respond(reply: Reply) -> Response {
    let body = match reply.payload {
        Payload::Whole(b) => Body::from(b),
        Payload::Late(delay, b) => {
            tokio::time::sleep(delay).await;
            Body::from(b)
        }
        Payload::Pieces(b, size) => {
            let pieces: Vec<Vec<u8>> = b.as_bytes().chunks(size).map(<[u8]>::to_vec).collect();
            Body::from_stream(stream::iter(pieces).then(|piece| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, std::io::Error>(piece)
            }))
        }
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(body).unwrap()
}

pub fn config(fake: &Fake, base_suffix: &str) -> HttpConfig {
    HttpConfig::new("fake", format!("{}{base_suffix}", fake.base_url))
        .api_key("test-key")
        .timeouts(Timeouts {
            first_byte: Duration::from_millis(300),
            total: Duration::from_secs(5),
        })
}

pub fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            Message::new(Role::System, "Be brief."),
            Message::new(Role::User, "Hello"),
            Message::new(Role::Assistant, "Hi."),
            Message::new(Role::User, "How are you?"),
        ],
        max_tokens: Some(64),
        temperature: Some(0.5),
        stream: false,
        ..Default::default()
    }
}

/// Text joined, the last usage, whether `Done` came, and the error if any.
pub struct Collected {
    pub text: String,
    pub usage: Option<Usage>,
    pub done: bool,
    pub error: Option<ProviderError>,
}

pub async fn collect(mut stream: ChatStream) -> Collected {
    let mut c = Collected {
        text: String::new(),
        usage: None,
        done: false,
        error: None,
    };
    while let Some(item) = stream.next().await {
        assert!(!c.done && c.error.is_none(), "nothing after the end");
        match item {
            Ok(StreamEvent::TextDelta { text }) => c.text.push_str(&text),
            Ok(StreamEvent::Usage { usage }) => c.usage = Some(usage),
            Ok(StreamEvent::Done { .. }) => c.done = true,
            Ok(StreamEvent::Error { error }) | Err(error) => c.error = Some(error),
        }
    }
    c
}

/// The status mapping every adapter must get right, from the provider's own
/// error bodies.
pub async fn check_error(
    make: fn(HttpConfig) -> Arc<dyn Provider>,
    suffix: &str,
    reply: fn() -> Reply,
    expected: ProviderError,
) {
    let fake = serve(reply).await;
    let provider = make(config(&fake, suffix));
    let got = provider.chat(&request("m")).await.unwrap_err();
    assert_eq!(got, expected, "chat");
    let got = match provider.chat_stream(&request("m")).await {
        Err(e) => e,
        Ok(s) => collect(s).await.error.expect("an error"),
    };
    assert_eq!(got, expected, "stream");
}

/// A stream cut off before its terminal event, and an upstream slower than
/// the first-byte timeout.
pub async fn check_stream_failures(
    make: fn(HttpConfig) -> Arc<dyn Provider>,
    suffix: &str,
    cut: fn() -> Reply,
    slow: fn() -> Reply,
) {
    let fake = serve(cut).await;
    let provider = make(config(&fake, suffix));
    let got = collect(provider.chat_stream(&request("m")).await.unwrap()).await;
    assert!(!got.text.is_empty(), "output came before the cut");
    assert!(!got.done);
    assert_eq!(got.error, Some(ProviderError::StreamBroken));

    let fake = serve(slow).await;
    let provider = make(config(&fake, suffix));
    let got = provider.chat_stream(&request("m")).await.err();
    assert_eq!(got, Some(ProviderError::Timeout), "first byte");
    let provider = make(config(&fake, suffix).timeouts(Timeouts {
        first_byte: Duration::from_secs(5),
        total: Duration::from_millis(300),
    }));
    let got = provider.chat(&request("m")).await.err();
    assert_eq!(got, Some(ProviderError::Timeout), "total");
}

/// An upstream that redirects: the request, with its key, goes no further
/// than the configured base URL, and the redirect is an error of its own.
pub async fn check_redirect_not_followed(make: fn(HttpConfig) -> Arc<dyn Provider>, suffix: &str) {
    let elsewhere = serve(|| Reply::json(200, "{}")).await;
    let target = format!("{}/collect", elsewhere.base_url);
    let fake = serve(move || Reply::json(307, "").header("location", &target)).await;
    let provider = make(config(&fake, suffix));
    let expected = ProviderError::Redirected { status: 307 };
    assert_eq!(
        provider.chat(&request("m")).await.err(),
        Some(expected.clone())
    );
    let got = match provider.chat_stream(&request("m")).await {
        Err(e) => e,
        Ok(s) => collect(s).await.error.expect("an error"),
    };
    assert_eq!(got, expected, "stream");
    assert_eq!(fake.requests.lock().unwrap().len(), 2);
    assert!(
        elsewhere.requests.lock().unwrap().is_empty(),
        "nothing reached the redirect's target"
    );
}

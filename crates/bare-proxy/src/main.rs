//! A reference for `scripts/bench gateway-wrk`: the least any gateway on
//! this HTTP stack does — take the POST with axum, send its body upstream
//! with reqwest, return the upstream's body. No key, no validation, no
//! routing, no usage row. What it serves is the ceiling for the gateway
//! on the same machine; the gap between them is the gateway's own work.
//!
//!   cargo run --release -p meritree-bare-proxy -- PORT UPSTREAM_URL

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

// As the server: mimalloc (docs/decisions/0020).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    url: String,
}

async fn forward(State(upstream): State<Upstream>, body: Bytes) -> Response {
    let answer = upstream
        .client
        .post(&upstream.url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => match answer.bytes().await {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
        },
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(url)) = (args.next(), args.next()) else {
        return Err("usage: meritree-bare-proxy PORT UPSTREAM_URL".into());
    };
    let upstream = Upstream {
        client: reqwest::Client::new(),
        url,
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(forward))
        .with_state(upstream);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

//! What the AI gateway adds, printed as numbers (run: `scripts/bench
//! gateway`): the real application on SQLite in front of a fake
//! OpenAI upstream that answers at once, everything on the same 2 cores.
//!
//! - latency added per request: the same request sent straight to the
//!   upstream and through the gateway, one client, p50/p99 of each;
//! - open-loop fixed rates (1k and 5k requests/s): achieved rate and the
//!   latency of each path;
//! - time to first token added on streams;
//! - the same request served by a community node: a `meritree node`
//!   worker in this process, its backend the same fake upstream, the request
//!   sent to the gateway as `nodes/m` (gateway → task → node's socket →
//!   backend → result back), one client, p50/p99 beside the straight call;
//! - resident memory of the whole process at rest and after the load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use meritree_ai::config::{Capability, ModelSettings, ProviderKind, ProviderSettings};
use serde_json::{json, Value};
use server::configuration::Settings;
use server::startup::Application;
use tokio::sync::Semaphore;

use crate::support::{self, report, resident_mib};

async fn upstream(Json(body): Json<Value>) -> Response {
    if body["stream"] == json!(true) {
        let mut sse = String::new();
        for word in ["Hello", " from", " the", " fake", " upstream"] {
            let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]});
            sse.push_str(&format!("data: {chunk}\n\n"));
        }
        sse.push_str("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5,\"total_tokens\":14}}\n\ndata: [DONE]\n\n");
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(sse))
            .unwrap();
    }
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the fake upstream"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    }))
    .into_response()
}

struct Target {
    url: String,
    key: Option<String>,
}

impl Target {
    fn request(&self, client: &reqwest::Client, body: &Value) -> reqwest::RequestBuilder {
        let request = client.post(&self.url).json(body);
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }
}

async fn one(client: &reqwest::Client, target: &Target, body: &Value) -> Duration {
    let sent = Instant::now();
    let response = target.request(client, body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.bytes().await.unwrap();
    sent.elapsed()
}

/// Sends at `rate` per second for `duration`, whatever the answers take
/// (open loop), at most 512 in flight; returns latencies and the rate achieved.
async fn fixed_rate(
    client: &reqwest::Client,
    target: &Arc<Target>,
    body: &Value,
    rate: u32,
    duration: Duration,
) -> (Vec<Duration>, f64) {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let in_flight = Arc::new(Semaphore::new(512));
    let started = Instant::now();
    let mut tasks = Vec::new();
    while started.elapsed() < duration {
        ticker.tick().await;
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let (client, target, body) = (client.clone(), target.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let latency = one(&client, &target, &body).await;
            drop(permit);
            latency
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    let achieved = latencies.len() as f64 / started.elapsed().as_secs_f64();
    (latencies, achieved)
}

/// Time until the first content chunk of a stream arrives.
async fn first_token(client: &reqwest::Client, target: &Target, body: &Value) -> Duration {
    let sent = Instant::now();
    let mut response = target.request(client, body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    let mut first = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_none() && seen.contains("\"content\"") {
            first = Some(sent.elapsed());
        }
    }
    first.expect("a content chunk")
}

pub async fn run() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            Router::new().route("/v1/chat/completions", post(upstream)),
        )
        .await
        .unwrap()
    });

    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = data.path().to_owned();
    settings.log.filter = "warn".into();
    settings.rate_limits.enabled = false;
    // No chain: these measure HTTP, auth and AI, not settlement.
    settings.chain.embedded = false;
    settings.ai.local.enabled = false;
    settings.ai.providers = vec![ProviderSettings {
        name: "fake".into(),
        kind: ProviderKind::Openai,
        base_url: upstream_url.clone(),
        api_key_env: String::new(),
        first_byte_timeout_secs: 10,
        total_timeout_secs: 30,
        models: vec![ModelSettings {
            name: "m".into(),
            input_price: 150_000,
            output_price: 600_000,
            context: 8192,
            capabilities: vec![Capability::Chat],
        }],
    }];
    // The same model offered by the community nodes.
    settings.ai.nodes.models = settings.ai.providers[0].models.clone();
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let db = app.platform().db().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let credentials =
        json!({ "email": "bench@example.org", "password": "correct horse battery staple" });
    let registered = client
        .post(format!("{url}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    let access = support::access_token(&registered);
    let created: Value = client
        .post(format!("{url}/api/v1/user/api-keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    println!("resident memory at rest: {:.1} MiB", resident_mib());

    let direct = Arc::new(Target {
        url: format!("{upstream_url}/chat/completions"),
        key: None,
    });
    let gateway = Arc::new(Target {
        url: format!("{url}/v1/chat/completions"),
        key: Some(key),
    });
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Say hello"}]});
    let routed = json!({"model": "fake/m", "messages": [{"role": "user", "content": "Say hello"}]});

    // Warm both paths (connections, SQLite pages).
    for _ in 0..200 {
        one(&client, &direct, &body).await;
        one(&client, &gateway, &routed).await;
    }

    let mut straight = Vec::new();
    let mut through = Vec::new();
    for _ in 0..3_000 {
        straight.push(one(&client, &direct, &body).await);
        through.push(one(&client, &gateway, &routed).await);
    }
    report("1 client, straight to the upstream", &mut straight);
    report("1 client, through the gateway", &mut through);
    let added_p50 = support::percentile(&mut through, 0.5)
        .saturating_sub(support::percentile(&mut straight, 0.5));
    let added_p99 = support::percentile(&mut through, 0.99)
        .saturating_sub(support::percentile(&mut straight, 0.99));
    println!("added by the gateway: p50 {added_p50:.2?}, p99 {added_p99:.2?}");

    for rate in [1_000, 5_000] {
        for (name, target, body) in [("straight", &direct, &body), ("gateway", &gateway, &routed)] {
            let (mut latencies, achieved) =
                fixed_rate(&client, target, body, rate, Duration::from_secs(5)).await;
            report(
                &format!("{rate}/s offered, {name}: {achieved:.0}/s achieved"),
                &mut latencies,
            );
        }
    }

    let stream_body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Say hello"}]});
    let stream_routed = json!({"model": "fake/m", "stream": true, "messages": [{"role": "user", "content": "Say hello"}]});
    let mut straight = Vec::new();
    let mut through = Vec::new();
    for _ in 0..1_000 {
        straight.push(first_token(&client, &direct, &stream_body).await);
        through.push(first_token(&client, &gateway, &stream_routed).await);
    }
    report("time to first token, straight", &mut straight);
    report("time to first token, through the gateway", &mut through);

    let key = support::operator_key(&client, &url, &db, "operator@example.org").await;
    support::spawn_node(&url, &key, "bench-node", "m", &upstream_url);
    support::until_online(&client, &url, 1).await;
    let by_node = Arc::new(Target {
        url: format!("{url}/v1/chat/completions"),
        key: gateway.key.clone(),
    });
    let noded = json!({"model": "nodes/m", "messages": [{"role": "user", "content": "Say hello"}]});
    for _ in 0..100 {
        one(&client, &direct, &body).await;
        one(&client, &by_node, &noded).await;
    }
    let mut straight = Vec::new();
    let mut through = Vec::new();
    for _ in 0..1_000 {
        straight.push(one(&client, &direct, &body).await);
        through.push(one(&client, &by_node, &noded).await);
    }
    report("1 client, straight to the node's backend", &mut straight);
    report("1 client, through the gateway and a node", &mut through);
    let added_p50 = support::percentile(&mut through, 0.5)
        .saturating_sub(support::percentile(&mut straight, 0.5));
    let added_p99 = support::percentile(&mut through, 0.99)
        .saturating_sub(support::percentile(&mut straight, 0.99));
    println!("added by the gateway and the node: p50 {added_p50:.2?}, p99 {added_p99:.2?}");
    println!("resident memory after the load: {:.1} MiB", resident_mib());
}

//! The AI gateway through OpenAI's API: fake upstreams that speak OpenAI's
//! wire format on port 0, the real server in front of them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use meritree_ai::config::{
    Capability, ModelSettings, ProviderKind, ProviderSettings, RouteSettings,
};
use meritree_platform::ai::{BudgetPeriod, BudgetScope};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::{json, Value};
use server::configuration::Settings;

use crate::helpers::{admin_session, error_code, spawn_app, spawn_app_with, TestApp};

/// An OpenAI-compatible upstream: answers, or fails with `status` while
/// `failing` is set; counts the calls it gets.
#[derive(Clone)]
struct Upstream {
    calls: Arc<AtomicU32>,
    failing: Option<StatusCode>,
    reply: &'static str,
}

async fn chat(State(up): State<Upstream>, Json(body): Json<Value>) -> Response {
    up.calls.fetch_add(1, Ordering::SeqCst);
    if let Some(status) = up.failing {
        return (
            status,
            Json(json!({"error": {"message": "down", "type": "server_error"}})),
        )
            .into_response();
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    if body["stream"] == json!(true) {
        let mut sse = String::new();
        for piece in up.reply.split_inclusive(' ') {
            let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            sse.push_str(&format!("data: {chunk}\n\n"));
        }
        let last = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        let usage = json!({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}});
        sse.push_str(&format!(
            "data: {last}\n\ndata: {usage}\n\ndata: [DONE]\n\n"
        ));
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(sse))
            .unwrap();
    }
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": up.reply}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
    }))
    .into_response()
}

async fn embeddings(State(up): State<Upstream>, Json(body): Json<Value>) -> Response {
    up.calls.fetch_add(1, Ordering::SeqCst);
    let inputs = body["input"].as_array().map_or(1, Vec::len);
    let data: Vec<Value> = (0..inputs)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.5, -0.25, i as f32]}))
        .collect();
    Json(
        json!({"object": "list", "data": data, "model": body["model"],
        "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
    )
    .into_response()
}

pub(crate) async fn start_upstream(
    failing: Option<StatusCode>,
    reply: &'static str,
) -> (String, Arc<AtomicU32>) {
    let up = Upstream {
        calls: Arc::new(AtomicU32::new(0)),
        failing,
        reply,
    };
    let calls = up.calls.clone();
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .with_state(up);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

pub(crate) fn provider(name: &str, base_url: &str) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        kind: ProviderKind::Openai,
        base_url: base_url.into(),
        api_key_env: String::new(),
        first_byte_timeout_secs: 5,
        total_timeout_secs: 10,
        models: vec![
            ModelSettings {
                name: "gpt-test".into(),
                // $1 in, $2 out per million tokens.
                input_price: 1_000_000,
                output_price: 2_000_000,
                context: 8192,
                capabilities: vec![Capability::Chat],
            },
            ModelSettings {
                name: "embed-test".into(),
                input_price: 100_000,
                output_price: 0,
                context: 8192,
                capabilities: vec![Capability::Embeddings],
            },
        ],
    }
}

pub(crate) fn upstreams_only(settings: &mut Settings, providers: Vec<ProviderSettings>) {
    settings.ai.local.enabled = false;
    settings.ai.providers = providers;
    settings.ai.retry.base_delay_ms = 1;
    settings.ai.retry.max_delay_ms = 2;
}

/// A member with an API key, as a program would use the platform.
pub(crate) async fn member_key(app: &TestApp, email: &str) -> (String, String) {
    let session = app.register(email).await;
    let me = app.get_json("/api/v1/user/me", &session).await;
    let created = app.create_api_key(&session, "sdk").await;
    (me["id"].as_str().unwrap().to_owned(), created.key)
}

pub(crate) async fn complete(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

test_both_backends! {
    async fn openai_clients_get_answers_streams_embeddings_and_models(backend: Backend) {
        let (url, calls) = start_upstream(None, "Hello there, friend").await;
        let app = spawn_app_with(backend, |s| upstreams_only(s, vec![provider("fake", &url)])).await;
        let (_, key) = member_key(&app, "ada@example.org").await;

        let response = complete(&app, &key, hello("cost")).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["choices"][0]["message"]["content"], "Hello there, friend");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["model"], "fake/gpt-test");
        assert_eq!(body["usage"]["total_tokens"], 16);
        // 12 × $1/M + 4 × $2/M = $0.00002 = 20,000 n$.
        assert_eq!(body["meritree"]["cost_nanos"], 20_000);

        let response = complete(&app, &key, json!({
            "model": "fake/gpt-test", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
        })).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let text = response.text().await.unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(*events.last().unwrap(), "data: [DONE]");
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        let streamed: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(streamed, "Hello there, friend");
        assert!(chunks.len() >= 4, "one chunk per piece: {text}");
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);

        let response = app.client.post(app.url("/v1/embeddings")).bearer_auth(&key)
            .json(&json!({"model": "embed-test", "input": ["a", "b"]})).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"][1]["embedding"], json!([0.5, -0.25, 1.0]));
        assert_eq!(body["usage"]["prompt_tokens"], 3);
        let response = app.client.post(app.url("/v1/embeddings")).bearer_auth(&key)
            .json(&json!({"model": "embed-test", "input": "a", "encoding_format": "base64"})).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body["data"][0]["embedding"].as_str().unwrap()).unwrap();
        let floats: Vec<f32> = bytes.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(floats, [0.5, -0.25, 0.0]);

        let models: Value = app.client.get(app.url("/v1/models")).bearer_auth(&key)
            .send().await.unwrap().json().await.unwrap();
        let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        for id in ["quality", "speed", "cost", "fake/gpt-test", "fake/embed-test"] {
            assert!(ids.contains(&id), "{id} in {ids:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    async fn bad_requests_are_refused_before_any_upstream_call(backend: Backend) {
        let (url, calls) = start_upstream(None, "unused").await;
        let app = spawn_app_with(backend, |s| upstreams_only(s, vec![provider("fake", &url)])).await;
        let (_, key) = member_key(&app, "bo@example.org").await;

        let unauthenticated = app.client.post(app.url("/v1/chat/completions")).json(&hello("cost")).send().await.unwrap();
        assert_eq!(unauthenticated.status(), 401);
        let cases = [
            (json!({"model": "cost", "messages": []}), 400, "invalid_request"),
            (json!({"model": "cost"}), 400, "invalid_request"),
            (json!({"model": "cost", "messages": [{"role": "tool", "content": "x"}]}), 400, "invalid_request"),
            (json!({"model": "cost", "temperature": 3, "messages": [{"role": "user", "content": "x"}]}), 400, "invalid_request"),
            (json!({"model": "cost", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}), 400, "invalid_request"),
            (json!({"model": "cost", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}), 400, "invalid_request"),
            (hello("gpt-nonexistent"), 404, "model_not_found"),
            (hello("fake/embed-test"), 400, "invalid_request"),
        ];
        for (body, status, code) in cases {
            let response = complete(&app, &key, body.clone()).await;
            assert_eq!(response.status(), status, "{body}");
            assert_eq!(error_code(response).await, code, "{body}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    async fn budgets_stop_spending_and_the_cache_answers_repeats_for_free(backend: Backend) {
        let (url, calls) = start_upstream(None, "Cached answer").await;
        let app = spawn_app_with(backend, |s| upstreams_only(s, vec![provider("fake", &url)])).await;
        let (account, key) = member_key(&app, "cy@example.org").await;

        let cached = json!({"model": "cost", "cache_ttl_secs": 60, "messages": [{"role": "user", "content": "Same"}]});
        let first: Value = complete(&app, &key, cached.clone()).await.json().await.unwrap();
        assert_eq!(first["meritree"]["cached"], false);
        let second: Value = complete(&app, &key, cached.clone()).await.json().await.unwrap();
        assert_eq!(second["meritree"]["cached"], true);
        assert_eq!(second["meritree"]["cost_nanos"], 0);
        assert_eq!(second["choices"][0]["message"]["content"], "Cached answer");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the repeat never reached the upstream");

        // 20,000 n$ spent so far; a budget of 30,000 allows one more request.
        app.platform
            .ai().set_budget(&BudgetScope::Account(account.clone()), BudgetPeriod::Day, 30_000)
            .await
            .unwrap();
        assert_eq!(complete(&app, &key, hello("cost")).await.status(), 200);
        let refused = complete(&app, &key, hello("cost")).await;
        assert_eq!(refused.status(), 402);
        assert_eq!(error_code(refused).await, "budget_exceeded");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "nothing sent once the budget is spent");
    }

    async fn members_cap_their_keys_admins_cap_accounts_over_http(backend: Backend) {
        let (url, calls) = start_upstream(None, "Within budget").await;
        let app = spawn_app_with(backend, |s| upstreams_only(s, vec![provider("fake", &url)])).await;
        let session = app.register("ed@example.org").await;
        let created = app.create_api_key(&session, "bot").await;
        let (key, key_id) = (created.key, created.api_key.id);
        let key_budget = format!("/api/v1/user/api-keys/{key_id}/ai-budgets/day");

        // One request costs 20,000 n$ here: a 10,000 n$ daily cap lets the
        // first through and stops the next, before the upstream.
        let set = app
            .request(Method::PUT, &key_budget, &session)
            .json(&json!({ "limit_nanos": 10_000 }))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200);
        assert_eq!(complete(&app, &key, hello("cost")).await.status(), 200);
        let refused = complete(&app, &key, hello("cost")).await;
        assert_eq!(refused.status(), 402);
        assert_eq!(error_code(refused).await, "budget_exceeded");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let budgets = app.get_json("/api/v1/user/ai/budgets", &session).await;
        assert_eq!(budgets.as_array().unwrap().len(), 1);
        assert_eq!(budgets[0]["scope"], "api_key");
        assert_eq!(budgets[0]["api_key_id"], key_id.as_str());
        assert_eq!(budgets[0]["limit_nanos"], 10_000);
        assert_eq!(budgets[0]["spent_nanos"], 20_000);
        let usage = app.get_json("/api/v1/user/ai/usage", &session).await;
        assert_eq!(usage["total"]["requests"], 1);
        assert_eq!(usage["total"]["cost_nanos"], 20_000);
        assert_eq!(usage["models"][0]["provider"], "fake");

        // Nobody else's key, no other period, no admin's budget.
        let other = app.register("fi@example.org").await;
        let foreign = app
            .request(Method::PUT, &key_budget, &other)
            .json(&json!({ "limit_nanos": 0 }))
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 404);
        assert_eq!(error_code(foreign).await, "not_found");
        let weekly = app
            .request(Method::PUT, &format!("/api/v1/user/api-keys/{key_id}/ai-budgets/week"), &session)
            .json(&json!({ "limit_nanos": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(weekly).await, "invalid_request");
        let me = app.get_json("/api/v1/user/me", &session).await;
        let account_budget = format!("/api/v1/admin/accounts/{}/ai-budgets/month", me["id"].as_str().unwrap());
        let not_admin = app
            .request(Method::PUT, &account_budget, &session)
            .json(&json!({ "limit_nanos": 1_000_000_000 }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(not_admin).await, "forbidden");

        let by_the_program = app
            .client
            .delete(app.url(&key_budget))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(by_the_program).await, "session_required");

        // Lifting the key's cap lets it spend again.
        let lifted = app.request(Method::DELETE, &key_budget, &session).send().await.unwrap();
        assert_eq!(lifted.status(), 204);
        assert_eq!(complete(&app, &key, hello("cost")).await.status(), 200);

        // An admin caps the whole account: every key stops.
        let admin = admin_session(&app).await;
        let capped = app
            .request(Method::PUT, &account_budget, &admin)
            .json(&json!({ "limit_nanos": 40_000 }))
            .send()
            .await
            .unwrap();
        assert_eq!(capped.status(), 200);
        let refused = complete(&app, &key, hello("cost")).await;
        assert_eq!(refused.status(), 402);
        let unknown = app
            .request(Method::PUT, "/api/v1/admin/accounts/nobody/ai-budgets/day", &admin)
            .json(&json!({ "limit_nanos": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(unknown).await, "not_found");

        // The admin sees every account's spending per day and model, by
        // either door; members do not; a span past the limit is a 400.
        let spending = app.get_json("/api/v1/admin/ai/spending?days=7", &admin).await;
        assert_eq!(spending.as_array().unwrap().len(), 1, "{spending}");
        assert_eq!(spending[0]["provider"], "fake");
        assert_eq!(spending[0]["requests"], 2);
        assert_eq!(spending[0]["cost_nanos"], 40_000);
        assert_eq!(spending[0]["day"].as_i64().unwrap() % 86_400, 0);
        let console = app.request(Method::POST, "/api/admin/ai_spending", &admin).form(&[("days", "7")]).send().await.unwrap();
        assert_eq!(console.json::<Value>().await.unwrap(), spending);
        let member = app.request(Method::GET, "/api/v1/admin/ai/spending", &session).send().await.unwrap();
        assert_eq!(error_code(member).await, "forbidden");
        let too_long = app.request(Method::GET, "/api/v1/admin/ai/spending?days=93", &admin).send().await.unwrap();
        assert_eq!(error_code(too_long).await, "invalid_request");
    }

    async fn a_hung_provider_costs_one_first_byte_timeout_before_failover(backend: Backend) {
        // Accepts connections and never answers.
        let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hung_url = format!("http://{}/v1", hung.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = hung.accept().await {
                held.push(socket);
            }
        });
        let (up, _) = start_upstream(None, "From the backup").await;
        let app = spawn_app_with(backend, |s| {
            let mut primary = provider("primary", &hung_url);
            primary.first_byte_timeout_secs = 1;
            primary.total_timeout_secs = 30;
            upstreams_only(s, vec![primary, provider("backup", &up)]);
            s.ai.routes = vec![RouteSettings {
                name: "house".into(),
                candidates: vec!["primary/gpt-test".into(), "backup/gpt-test".into()],
            }];
        })
        .await;
        let (_, key) = member_key(&app, "hu@example.org").await;
        let started = std::time::Instant::now();
        let body: Value = complete(&app, &key, hello("house")).await.json().await.unwrap();
        let waited = started.elapsed();
        assert_eq!(body["choices"][0]["message"]["content"], "From the backup");
        assert!(waited >= std::time::Duration::from_secs(1), "{waited:?}");
        assert!(waited < std::time::Duration::from_secs(3), "one first-byte timeout, not the total: {waited:?}");
    }

    async fn a_failing_provider_is_failed_over_and_shown_held_off(backend: Backend) {
        let (down, down_calls) = start_upstream(Some(StatusCode::SERVICE_UNAVAILABLE), "").await;
        let (up, up_calls) = start_upstream(None, "From the backup").await;
        let app = spawn_app_with(backend, |s| {
            upstreams_only(s, vec![provider("primary", &down), provider("backup", &up)]);
            s.ai.routes = vec![RouteSettings {
                name: "house".into(),
                candidates: vec!["primary/gpt-test".into(), "backup/gpt-test".into()],
            }];
            s.ai.breaker.consecutive_failures = 3;
        })
        .await;
        let (_, key) = member_key(&app, "di@example.org").await;

        for _ in 0..3 {
            let body: Value = complete(&app, &key, hello("house")).await.json().await.unwrap();
            assert_eq!(body["choices"][0]["message"]["content"], "From the backup");
            assert_eq!(body["model"], "backup/gpt-test");
        }
        let tried = down_calls.load(Ordering::SeqCst);
        assert!(tried >= 3, "the primary was tried first");
        let providers: Value = app.get("/api/v1/network/providers").await.json().await.unwrap();
        let primary = providers.as_array().unwrap().iter().find(|p| p["name"] == "primary").unwrap();
        assert_eq!(primary["breaker"], "open");
        assert_eq!(primary["health"], "down");
        // Held off: the next request goes straight to the backup.
        complete(&app, &key, hello("house")).await;
        assert_eq!(down_calls.load(Ordering::SeqCst), tried);
        assert_eq!(up_calls.load(Ordering::SeqCst), 4);

        let status: Value = app.get("/api/v1/status").await.json().await.unwrap();
        let names: Vec<&str> = status["ai_providers"].as_array().unwrap().iter()
            .map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["primary", "backup", "nodes"]);

        // Only the primary, exactly: nothing left to answer.
        let response = complete(&app, &key, hello("primary/gpt-test")).await;
        assert_eq!(response.status(), 503);
        assert_eq!(error_code(response).await, "upstream_unavailable");
    }
}

test_both_backends! {
    async fn stop_seed_and_response_format_reach_the_provider_and_tools_are_refused(backend: Backend) {
        let (url, judge) = crate::fake_judge::start_judge("{\"ok\": true}".into()).await;
        let app = spawn_app_with(backend, |s| crate::fake_judge::judged_by(s, &url)).await;
        let (_, key) = member_key(&app, "sdk@example.org").await;
        let schema = json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]});
        let response = complete(&app, &key, json!({
            "model": "judge/judge-1",
            "messages": [{"role": "user", "content": "Answer in JSON"}],
            "stop": ["\n\n", "END"],
            "seed": 42,
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}},
        })).await;
        assert_eq!(response.status(), 200);
        let sent = judge.last_request.lock().unwrap().clone();
        assert_eq!(sent["stop"], json!(["\n\n", "END"]));
        assert_eq!(sent["seed"], 42);
        assert_eq!(sent["response_format"]["type"], "json_schema");
        assert_eq!(sent["response_format"]["json_schema"]["schema"], schema);

        for (field, value) in [
            ("tools", json!([{"type": "function", "function": {"name": "f"}}])),
            ("logprobs", json!(true)),
            ("stop", json!(["a", "b", "c", "d", "e"])),
        ] {
            let mut body = json!({"model": "judge/judge-1", "messages": [{"role": "user", "content": "hi"}]});
            body[field] = value;
            let refused = complete(&app, &key, body).await;
            assert_eq!(refused.status(), 400, "{field}");
            assert_eq!(error_code(refused).await, "invalid_request");
        }
    }

    async fn a_form_no_provider_can_guarantee_is_a_400_not_an_outage(backend: Backend) {
        // Only the embedded model, whose constrained decoding cannot
        // enforce a pattern.
        let app = spawn_app(backend).await;
        let (_, key) = member_key(&app, "sdk@example.org").await;
        let schema = json!({"type": "object", "properties": {"id": {"type": "string", "pattern": "^[a-z]+$"}}});
        let response = complete(&app, &key, json!({
            "model": "local/smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "id", "schema": schema}},
        })).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("response_format") && message.contains("pattern"), "{body}");
    }
}

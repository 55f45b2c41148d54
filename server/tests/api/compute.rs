//! The compute network over its doors: operators register nodes, members
//! submit tasks, a node takes them on its socket and returns results —
//! every lease rule and refusal as a client sees it. A node here is the
//! test speaking the node protocol; `nodes.rs` runs real `meritree node`
//! processes.

use futures_util::{SinkExt, StreamExt};
use meritree_store::{test_both_backends, Backend};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{error_code, spawn_app_with, Session, TestApp};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The models the tests' nodes serve, offered as `nodes/…`.
pub fn network_models(settings: &mut server::configuration::Settings) {
    use meritree_ai::config::{Capability, ModelSettings};
    let model = |name: &str, capability| ModelSettings {
        name: name.into(),
        input_price: 0,
        output_price: 0,
        context: 4096,
        capabilities: vec![capability],
    };
    settings.ai.nodes.models = vec![
        model("fake-chat", Capability::Chat),
        model("m", Capability::Chat),
        model("embed-1", Capability::Embeddings),
    ];
}

pub async fn spawn_network(backend: Backend) -> TestApp {
    spawn_app_with(backend, network_models).await
}

/// A signed-in operator (role `node_operator`) and their `node` key.
pub async fn operator(app: &TestApp, email: &str) -> (Session, String) {
    app.register(email).await;
    meritree_store::accounts::set_role_by_email(app.platform.db(), email, "node_operator", 1)
        .await
        .unwrap();
    let session = app.sign_in(email).await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/user/api-keys", &session)
        .json(&json!({"name": "node", "scopes": ["node", "read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let key: Value = response.json().await.unwrap();
    (session, key["key"].as_str().unwrap().to_owned())
}

pub async fn register_node(app: &TestApp, key: &str, name: &str, models: &[&str]) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/nodes/register"))
        .bearer_auth(key)
        .json(&json!({"name": name, "models": models, "capacity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

pub async fn connect(app: &TestApp, key: &str, node: &str) -> Socket {
    let mut request = format!("ws://{}/api/v1/nodes/{node}/connect", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let welcome = next(&mut socket).await;
    assert_eq!(welcome["type"], "welcome");
    socket
}

/// The next frame from the platform (within 10 s).
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

pub async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

pub fn chat_task(key: &str) -> Value {
    json!({"idempotency_key": key, "input": {"kind": "chat", "model": "fake-chat",
           "messages": [{"role": "user", "content": "Say something memorable."}]}})
}

pub async fn submit(app: &TestApp, session: &mut Session, task: Value) -> reqwest::Response {
    app.post_json("/api/v1/tasks/submit", session, task).await
}

/// A network with one node connected and a member's chat task offered to
/// it: the app, the node's socket, the member, the task and its lease.
async fn one_task_offered(backend: Backend) -> (TestApp, Socket, Session, Value, u64) {
    let app = spawn_network(backend).await;
    let (_, key) = operator(&app, "op@example.org").await;
    let node = register_node(&app, &key, "box-1", &["fake-chat"]).await;
    let mut socket = connect(&app, &key, node["id"].as_str().unwrap()).await;
    let mut member = app.register("ada@example.org").await;
    let task: Value = submit(&app, &mut member, chat_task("t-1"))
        .await
        .json()
        .await
        .unwrap();
    let lease = next(&mut socket).await["lease"].as_u64().unwrap();
    (app, socket, member, task, lease)
}

async fn balance(app: &TestApp, session: &Session) -> i64 {
    app.get_json("/api/v1/user/points", session).await["balance"]
        .as_i64()
        .unwrap()
}

test_both_backends! {
    async fn a_task_runs_on_a_node_once_and_pays_its_operator_once(backend: Backend) {
        let app = spawn_network(backend).await;
        let (operator_session, key) = operator(&app, "op@example.org").await;
        let node = register_node(&app, &key, "box-1", &["fake-chat"]).await;
        let node_id = node["id"].as_str().unwrap();
        assert_eq!(node["status"], "offline");
        let mut socket = connect(&app, &key, node_id).await;
        let status = app.get_json(&format!("/api/v1/nodes/{node_id}/status"), &Session::default()).await;
        assert_eq!(status["status"], "online");

        let mut member = app.register("ada@example.org").await;
        let submitted = submit(&app, &mut member, chat_task("t-1")).await;
        assert_eq!(submitted.status(), 201);
        let task: Value = submitted.json().await.unwrap();
        let again = submit(&app, &mut member, chat_task("t-1")).await;
        assert_eq!(again.status(), 200, "the same key is the same task");
        assert_eq!(again.json::<Value>().await.unwrap()["id"], task["id"]);

        let offered = next(&mut socket).await;
        assert_eq!(offered["type"], "task");
        assert_eq!(offered["id"], task["id"]);
        assert_eq!(offered["input"]["messages"][0]["content"], "Say something memorable.");
        let lease = offered["lease"].as_u64().unwrap();
        send(&mut socket, json!({"type": "started", "id": task["id"], "lease": lease})).await;
        let done = json!({"type": "completed", "id": task["id"], "lease": lease,
            "output": {"kind": "chat", "text": "Hello.", "input_tokens": 1000, "output_tokens": 1000}});
        send(&mut socket, done.clone()).await;
        assert_eq!(next(&mut socket).await["type"], "accepted");
        // A duplicate result is harmless and pays nothing more.
        send(&mut socket, done).await;
        assert_eq!(next(&mut socket).await["type"], "accepted");

        let seen = app.get_json(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &member).await;
        assert_eq!(seen["status"], "completed");
        assert_eq!(seen["node_id"], node_id);
        assert_eq!(seen["output"]["text"], "Hello.");
        // The node claimed 2,000 tokens; the texts hold at most 40 and 22
        // (a token is at least a character, plus a margin), so it is paid 1
        // per task and nothing for tokens: 1 point, once.
        assert_eq!((seen["output"]["input_tokens"].as_u64(), seen["output"]["output_tokens"].as_u64()), (Some(40), Some(22)));
        // Paid just after the node's result is accepted.
        let seen = crate::crash::until("the task is paid", async || {
            let seen = app.get_json(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &member).await;
            (seen["reward"] != Value::Null).then_some(seen)
        })
        .await;
        assert_eq!(seen["reward"], 1);
        assert_eq!(balance(&app, &operator_session).await, 1);
        let node = app.get_json(&format!("/api/v1/nodes/{node_id}/status"), &Session::default()).await;
        assert_eq!((node["tasks_completed"].as_u64(), node["earned"].as_i64()), (Some(1), Some(1)));
        let stats = app.get_json("/api/v1/network/stats", &Session::default()).await;
        assert_eq!(stats["active_nodes"], 1);
        assert_eq!(stats["completed_last_hour"], 1);
        let billing = app.get_json("/api/v1/user/billing", &member).await;
        assert_eq!(billing["tasks"], json!({"submitted": 1, "completed": 1, "failed": 0, "cancelled": 0, "tokens": 62}));
        assert!(billing["ai"]["budgets"].is_array());
        let profile = app.get_json("/api/v1/user/profile", &operator_session).await;
        assert_eq!((profile["balance"].as_i64(), profile["nodes"][0]["id"].as_str()), (Some(1), Some(node_id)));
        app.stop().await;
    }

    async fn a_node_streaming_past_its_frame_budget_is_slowed_not_dropped(backend: Backend) {
        let (app, mut socket, member, task, lease) = one_task_offered(backend).await;

        // Twice what the platform reads in a second, sent at once.
        let started = std::time::Instant::now();
        send(&mut socket, json!({"type": "started", "id": task["id"], "lease": lease})).await;
        for _ in 0..1_000 {
            send(&mut socket, json!({"type": "delta", "id": task["id"], "lease": lease, "text": "a"})).await;
        }
        send(&mut socket, json!({"type": "completed", "id": task["id"], "lease": lease,
            "output": {"kind": "chat", "text": "a".repeat(1_000), "input_tokens": 1, "output_tokens": 1}})).await;
        assert_eq!(next(&mut socket).await["type"], "accepted", "the node is still connected");
        assert!(started.elapsed() >= std::time::Duration::from_secs(1), "read at the budget's pace");
        let seen = app.get_json(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &member).await;
        assert_eq!(seen["status"], "completed");
        app.stop().await;
    }

    async fn a_result_is_taken_when_the_task_moved_on_without_this_instance_seeing_it(backend: Backend) {
        let (app, mut socket, member, task, lease) = one_task_offered(backend).await;

        // The node's start is stored, but not through the link that holds
        // it (a commit whose outcome the writer could not tell, another
        // instance): the link still has the task as assigned.
        let db = app.platform.db();
        let stored = meritree_store::compute::get_task(db, task["id"].as_str().unwrap()).await.unwrap().unwrap();
        assert_eq!(stored.status, "assigned");
        let started = meritree_store::compute::TaskWrite {
            id: stored.id.clone(),
            from_status: stored.status.clone(),
            from_lease: stored.lease,
            status: "in_progress".into(),
            lease: stored.lease,
            node_id: stored.node_id.clone(),
            lease_until: stored.lease_until,
            leased_at: stored.leased_at,
            failures: stored.failures,
            error: None,
            progress: 0,
            output: None,
            input_tokens: 0,
            output_tokens: 0,
            completed_at: None,
            now: stored.updated_at,
        };
        assert!(meritree_store::compute::apply(db, &started).await.unwrap());

        send(&mut socket, json!({"type": "completed", "id": task["id"], "lease": lease,
            "output": {"kind": "chat", "text": "Hello.", "input_tokens": 1, "output_tokens": 1}})).await;
        assert_eq!(next(&mut socket).await["type"], "accepted", "decided by the task as stored");
        let seen = app.get_json(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &member).await;
        assert_eq!(seen["status"], "completed");
        app.stop().await;
    }

    async fn only_the_lease_holder_may_answer_and_cancelling_stops_the_node(backend: Backend) {
        let app = spawn_network(backend).await;
        let (_, key) = operator(&app, "op@example.org").await;
        let node = register_node(&app, &key, "box-1", &["fake-chat"]).await;
        let node_id = node["id"].as_str().unwrap().to_owned();
        let mut member = app.register("ada@example.org").await;
        let task: Value = submit(&app, &mut member, chat_task("t-1")).await.json().await.unwrap();
        let task_id = task["id"].as_str().unwrap().to_owned();

        // Not leased to anyone yet: a result is refused.
        let result = |lease: u64| json!({"node_id": node_id, "lease": lease,
            "output": {"kind": "chat", "text": "x", "input_tokens": 1, "output_tokens": 1}});
        let early = app.client.post(app.url(&format!("/api/v1/tasks/{task_id}/result")))
            .bearer_auth(&key).json(&result(1)).send().await.unwrap();
        assert_eq!(early.status(), 409);
        assert_eq!(error_code(early).await, "lease_lost");

        let mut socket = connect(&app, &key, &node_id).await;
        let offered = next(&mut socket).await;
        let lease = offered["lease"].as_u64().unwrap();
        // An old lease number is not this lease.
        let stale = app.client.post(app.url(&format!("/api/v1/tasks/{task_id}/result")))
            .bearer_auth(&key).json(&result(lease + 1)).send().await.unwrap();
        assert_eq!(stale.status(), 409);

        // Another operator's key cannot answer for this node.
        let (_, other_key) = operator(&app, "eve@example.org").await;
        let foreign = app.client.post(app.url(&format!("/api/v1/tasks/{task_id}/result")))
            .bearer_auth(&other_key).json(&result(lease)).send().await.unwrap();
        assert_eq!(foreign.status(), 403);

        // Another member cannot see or cancel it.
        let mut eve = app.register("mallory@example.org").await;
        let peek = app.request(reqwest::Method::GET, &format!("/api/v1/tasks/{task_id}"), &eve).send().await.unwrap();
        assert_eq!(peek.status(), 404);
        let cancel_path = format!("/api/v1/tasks/{task_id}/cancel");
        assert_eq!(app.post_json(&cancel_path, &mut eve, json!({})).await.status(), 404);

        let cancelled = app.post_json(&cancel_path, &mut member, json!({})).await;
        assert_eq!(cancelled.status(), 200);
        assert_eq!(cancelled.json::<Value>().await.unwrap()["status"], "cancelled");
        let abandon = next(&mut socket).await;
        assert_eq!((abandon["type"].as_str(), abandon["id"].as_str()), (Some("abandon"), Some(task_id.as_str())));
        send(&mut socket, json!({"type": "completed", "id": task_id, "lease": lease,
            "output": {"kind": "chat", "text": "late", "input_tokens": 1, "output_tokens": 1}})).await;
        let refused = next(&mut socket).await;
        assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("refused"), Some("lease_lost")));
        // Cancelling again is harmless.
        assert_eq!(app.post_json(&cancel_path, &mut member, json!({})).await.status(), 200);
        app.stop().await;
    }

    async fn a_node_that_goes_away_gives_its_task_to_another(backend: Backend) {
        let app = spawn_network(backend).await;
        let (operator_session, key) = operator(&app, "op@example.org").await;
        let first = register_node(&app, &key, "box-1", &["fake-chat"]).await;
        let mut member = app.register("ada@example.org").await;
        let mut socket = connect(&app, &key, first["id"].as_str().unwrap()).await;
        let task: Value = submit(&app, &mut member, chat_task("t-1")).await.json().await.unwrap();
        let offered = next(&mut socket).await;
        assert_eq!(offered["lease"], 1);
        drop(socket); // the node vanishes mid-task

        let second = register_node(&app, &key, "box-2", &["fake-chat"]).await;
        let mut other = connect(&app, &key, second["id"].as_str().unwrap()).await;
        let offered = next(&mut other).await;
        assert_eq!(offered["id"], task["id"]);
        assert_eq!(offered["lease"], 2, "a new lease fences the old one off");
        send(&mut other, json!({"type": "completed", "id": task["id"], "lease": 2,
            "output": {"kind": "chat", "text": "Hi", "input_tokens": 1, "output_tokens": 1}})).await;
        assert_eq!(next(&mut other).await["type"], "accepted");
        let seen = app.get_json(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &member).await;
        assert_eq!((seen["status"].as_str(), seen["failures"].as_u64()), (Some("completed"), Some(1)));
        assert_eq!(seen["node_id"], second["id"]);
        crate::crash::until("the operator is paid", async || {
            (balance(&app, &operator_session).await == 1).then_some(())
        })
        .await;
        let gone = app.get_json(&format!("/api/v1/nodes/{}/status", first["id"].as_str().unwrap()), &Session::default()).await;
        assert_eq!(gone["status"], "offline");
        app.stop().await;
    }

    async fn bad_tasks_nodes_and_frames_are_refused_with_their_codes(backend: Backend) {
        let app = spawn_app_with(backend, |settings| {
            network_models(settings);
            settings.compute.max_open_tasks = 1;
        })
        .await;
        let mut member = app.register("ada@example.org").await;
        let member_node = app.post_json("/api/v1/nodes/register", &mut member,
            json!({"name": "n", "models": ["m"], "capacity": 1})).await;
        assert_eq!(member_node.status(), 403, "members do not run nodes");
        let bad = submit(&app, &mut member, json!({"idempotency_key": "k", "input":
            {"kind": "chat", "model": "m", "messages": []}})).await;
        assert_eq!(bad.status(), 422);
        assert_eq!(error_code(bad).await, "invalid_task");
        let unknown = submit(&app, &mut member, json!({"idempotency_key": "k", "input":
            {"kind": "train", "model": "m"}})).await;
        assert_eq!(unknown.status(), 400);
        let invented = submit(&app, &mut member, json!({"idempotency_key": "k", "input":
            {"kind": "chat", "model": "made-up", "messages": [{"role": "user", "content": "hi"}]}})).await;
        assert_eq!(invented.status(), 404, "only the network's models");
        assert_eq!(error_code(invented).await, "model_not_found");
        assert_eq!(submit(&app, &mut member, chat_task("open-1")).await.status(), 201);
        let over = submit(&app, &mut member, chat_task("open-2")).await;
        assert_eq!(over.status(), 429, "one open task at most here");
        assert_eq!(error_code(over).await, "too_many_tasks");

        let (_, key) = operator(&app, "op@example.org").await;
        let idle = app.client.post(app.url("/api/v1/nodes/register")).bearer_auth(&key)
            .json(&json!({"name": "n", "models": ["m"], "capacity": 0})).send().await.unwrap();
        assert_eq!(idle.status(), 422);
        assert_eq!(error_code(idle).await, "invalid_node");
        let node = register_node(&app, &key, "box-1", &["m"]).await;
        for n in 2..=32 {
            register_node(&app, &key, &format!("box-{n}"), &["m"]).await;
        }
        let one_too_many = app.client.post(app.url("/api/v1/nodes/register")).bearer_auth(&key)
            .json(&json!({"name": "box-33", "models": ["m"], "capacity": 1})).send().await.unwrap();
        assert_eq!(one_too_many.status(), 422, "32 nodes per operator");
        assert_eq!(error_code(one_too_many).await, "invalid_node");
        let again = register_node(&app, &key, "box-1", &["m", "n"]).await;
        assert_eq!(again["id"], node["id"], "a name registers once; again updates it");
        assert_eq!(again["models"], json!(["m", "n"]));

        let mut socket = connect(&app, &key, node["id"].as_str().unwrap()).await;
        send(&mut socket, json!({"type": "steal", "id": "x"})).await;
        let refused = next(&mut socket).await;
        assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("refused"), Some("invalid_request")));
        send(&mut socket, json!({"type": "heartbeat", "running": 0})).await;
        // The socket stays open after a refusal.
        send(&mut socket, json!({"type": "completed", "id": "nope", "lease": 1,
            "output": {"kind": "chat", "text": "x", "input_tokens": 1, "output_tokens": 1}})).await;
        assert_eq!(next(&mut socket).await["code"], "not_found");
        let health = app.get_json("/api/v1/network/health", &Session::default()).await;
        assert_eq!((health["status"].as_str(), health["active_nodes"].as_u64()), (Some("ok"), Some(1)));
        app.stop().await;
    }
}

/// The next task offered to either node: which one, and the frame.
/// Waits (10 s at most) for the platform to close the socket.
async fn closed(socket: &mut Socket) {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("the socket closes within 10 s")
        {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
            Some(Ok(_)) => {}
        }
    }
}

test_both_backends! {
    async fn a_connected_node_is_dropped_when_its_key_is_revoked_or_its_operator_demoted(backend: Backend) {
        let app = spawn_app_with(backend, |settings| {
            network_models(settings);
            settings.compute.credential_recheck_secs = 1;
        })
        .await;
        let (session, key) = operator(&app, "op@example.org").await;
        let node = register_node(&app, &key, "box-1", &["fake-chat"]).await;
        let node_id = node["id"].as_str().unwrap();
        let mut socket = connect(&app, &key, node_id).await;
        let keys = app.get_json("/api/v1/user/api-keys", &session).await;
        let key_id = keys[0]["id"].as_str().unwrap();
        let revoked = app.request(reqwest::Method::DELETE, &format!("/api/v1/user/api-keys/{key_id}"), &session)
            .send().await.unwrap();
        assert!(revoked.status().is_success(), "{}", revoked.status());
        closed(&mut socket).await;
        // Marked offline as the socket's end is handled, just after it closes.
        crate::crash::until("the node is offline", async || {
            let status = app.get_json(&format!("/api/v1/nodes/{node_id}/status"), &Session::default()).await;
            (status["status"] == "offline").then_some(())
        })
        .await;

        // An operator demoted to member: their key still signs them in, but
        // runs no node.
        let (_, key) = operator(&app, "op2@example.org").await;
        let node = register_node(&app, &key, "box-2", &["fake-chat"]).await;
        let mut socket = connect(&app, &key, node["id"].as_str().unwrap()).await;
        meritree_store::accounts::set_role_by_email(app.platform.db(), "op2@example.org", "member", 2)
            .await
            .unwrap();
        closed(&mut socket).await;
        app.stop().await;
    }
}

test_both_backends! {
    async fn a_node_on_a_session_outlives_its_access_token_but_not_the_session(backend: Backend) {
        use std::time::{Duration, Instant};
        let app = spawn_app_with(backend, |settings| {
            network_models(settings);
            settings.auth.access_token_minutes = 1;
            settings.compute.credential_recheck_secs = 1;
        })
        .await;
        // A wallet node connects with its session's access token, as the
        // browser would; the token expires after a minute, the session not.
        let (session, _) = operator(&app, "op@example.org").await;
        let token = session.access.clone().unwrap();
        let node = register_node(&app, &token, "box-1", &["fake-chat"]).await;
        let mut socket = connect(&app, &token, node["id"].as_str().unwrap()).await;
        let deadline = Instant::now() + Duration::from_secs(65);
        while Instant::now() < deadline {
            send(&mut socket, json!({"type": "heartbeat", "running": 0})).await;
            match tokio::time::timeout(Duration::from_secs(1), socket.next()).await {
                Err(_) | Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => panic!("the node heard {other:?} while its session lives"),
            }
        }
        let expired = app.client.get(app.url("/api/v1/nodes/mine")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(error_code(expired).await, "token_expired", "the token it connected with has expired");

        // Signing out ends the session, and the node's connection with it.
        let out = app.request(reqwest::Method::POST, "/api/v1/auth/logout", &session).send().await.unwrap();
        assert_eq!(out.status(), 204);
        closed(&mut socket).await;
        app.stop().await;
    }
}

async fn offered_to_either(a: &mut Socket, b: &mut Socket) -> (usize, Value) {
    let (frame, which) = tokio::select! {
        frame = next(a) => (frame, 0),
        frame = next(b) => (frame, 1),
    };
    assert_eq!(frame["type"], "task", "{frame}");
    (which, frame)
}

fn embeddings(vectors: Value) -> Value {
    json!({"kind": "embeddings", "vectors": vectors, "input_tokens": 1000})
}

test_both_backends! {
    async fn a_second_node_checks_a_result_and_disagreement_costs_both(backend: Backend) {
        let app = spawn_app_with(backend, |settings| {
            network_models(settings);
            settings.compute.verify_per_mille = 1_000;
        })
        .await;
        // Two operators: a check never goes to the same operator's node.
        let (operator_session, key) = operator(&app, "op@example.org").await;
        let (other_session, other_key) = operator(&app, "op2@example.org").await;
        let first = register_node(&app, &key, "box-1", &["embed-1"]).await;
        let second = register_node(&app, &other_key, "box-2", &["embed-1"]).await;
        let mut a = connect(&app, &key, first["id"].as_str().unwrap()).await;
        let mut b = connect(&app, &other_key, second["id"].as_str().unwrap()).await;
        let mut member = app.register("ada@example.org").await;
        let task = |key: &str| json!({"idempotency_key": key, "input":
            {"kind": "embeddings", "model": "embed-1", "inputs": ["one", "two"]}});

        for (round, answer, agreed) in [(1, json!([[0.1, 0.2], [0.3, 0.4]]), true),
                                        (2, json!([[0.4, -0.3], [0.3, 0.4]]), false)] {
            let submitted: Value = submit(&app, &mut member, task(&format!("t-{round}"))).await.json().await.unwrap();
            let (which, offered) = offered_to_either(&mut a, &mut b).await;
            assert_eq!(offered["id"], submitted["id"]);
            let (runner, checker) = if which == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
            send(runner, json!({"type": "completed", "id": offered["id"], "lease": offered["lease"],
                "output": embeddings(json!([[0.1, 0.2], [0.3, 0.4]]))})).await;
            assert_eq!(next(runner).await["type"], "accepted");
            let path = format!("/api/v1/tasks/{}", submitted["id"].as_str().unwrap());
            let waiting = app.get_json(&path, &member).await;
            assert_eq!((waiting["status"].as_str(), waiting["verdict"].as_str()), (Some("completed"), Some("pending")));
            assert_eq!(waiting["reward"], Value::Null, "paid only once checked");

            // The check goes to the other node, with the same input.
            let check = next(checker).await;
            assert_eq!(check["type"], "task");
            assert_ne!(check["id"], submitted["id"]);
            assert_eq!(check["input"], offered["input"]);
            send(checker, json!({"type": "completed", "id": check["id"], "lease": check["lease"],
                "output": embeddings(answer)})).await;
            assert_eq!(next(checker).await["type"], "accepted");

            let judged = crate::crash::until("the check is judged and paid", async || {
                let judged = app.get_json(&path, &member).await;
                (judged["reward"] != Value::Null).then_some(judged)
            })
            .await;
            let expected = if agreed { "agreed" } else { "disagreed" };
            assert_eq!(judged["verdict"], expected);
            assert_eq!(judged["reward"], if agreed { json!(1) } else { json!(0) });
        }
        // Two checks each: one agreement (capped at full), one disagreement.
        for node in [&first, &second] {
            let seen = app.get_json(&format!("/api/v1/nodes/{}/status", node["id"].as_str().unwrap()), &Session::default()).await;
            assert_eq!((seen["checks"].as_u64(), seen["mismatches"].as_u64()), (Some(2), Some(1)));
            assert_eq!(seen["reputation"], 900);
            assert_eq!(seen["flagged"], false);
        }
        // Round 1 paid the task and its check (1 point each, one to each
        // operator); round 2 nothing.
        assert_eq!(balance(&app, &operator_session).await, 1);
        assert_eq!(balance(&app, &other_session).await, 1);
        app.stop().await;
    }
}

test_both_backends! {
    async fn an_evaluation_takes_a_nodes_embedding_only_once_another_operators_node_agrees(backend: Backend) {
        use crate::fake_judge::{judged_by, scores, start_judge};
        use crate::work::{evaluated, member, submit as submit_work};
        let (url, _judge) = start_judge(scores(9, 8, 7)).await;
        let app = spawn_app_with(backend, |settings| {
            judged_by(settings, &url);
            network_models(settings);
            settings.work.embedding_model = "nodes/embed-1".into();
        })
        .await;
        let (_, key) = operator(&app, "op@example.org").await;
        let (_, other_key) = operator(&app, "op2@example.org").await;
        let first = register_node(&app, &key, "box-1", &["embed-1"]).await;
        let second = register_node(&app, &other_key, "box-2", &["embed-1"]).await;
        let mut a = connect(&app, &key, first["id"].as_str().unwrap()).await;
        let mut b = connect(&app, &other_key, second["id"].as_str().unwrap()).await;
        let alice = member(&app, "alice@example.org", "alice").await;
        let work_status = |id: String| {
            let app = &app;
            async move { app.get(&format!("/api/v1/submissions/{id}")).await.json::<Value>().await.unwrap() }
        };

        // Agreement: the work's embedding goes to one node and the same
        // input to the other operator's; only then is the work judged.
        let created: Value = submit_work(&app, &alice, "A river poem", "The river keeps its own counsel.", "k-1")
            .await.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let (which, offered) = offered_to_either(&mut a, &mut b).await;
        assert_eq!(offered["input"]["kind"], "embeddings", "{offered}");
        let (runner, checker) = if which == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
        send(runner, json!({"type": "completed", "id": offered["id"], "lease": offered["lease"],
            "output": embeddings(json!([[0.6, 0.8]]))})).await;
        assert_eq!(next(runner).await["type"], "accepted");
        let check = next(checker).await;
        assert_eq!(check["input"], offered["input"], "the check runs the same input");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let waiting = work_status(id.clone()).await;
        assert_eq!((waiting["status"].as_str(), waiting["stage"].as_str()), (Some("evaluating"), Some("originality")),
            "one node's answer is not taken alone: {waiting}");
        send(checker, json!({"type": "completed", "id": check["id"], "lease": check["lease"],
            "output": embeddings(json!([[0.6, 0.8]]))})).await;
        assert_eq!(next(checker).await["type"], "accepted");
        let work = evaluated(&app, &id).await;
        assert_eq!((work["status"].as_str(), work["score"].as_i64()), (Some("scored"), Some(80)), "{work}");
        assert_eq!(work["stages"][1]["provider"], "nodes");
        for node in [&first, &second] {
            let path = format!("/api/v1/nodes/{}/status", node["id"].as_str().unwrap());
            let status = crate::crash::until("the node is paid", async || {
                let status = app.get_json(&path, &Session::default()).await;
                (status["tasks_completed"] == 1).then_some(status)
            })
            .await;
            assert_eq!((status["checks"].as_u64(), status["mismatches"].as_u64()), (Some(1), Some(0)), "{status}");
        }

        // Disagreement: neither answer is taken, both nodes pay for it in
        // reputation, and the work waits for another try.
        let created: Value = submit_work(&app, &alice, "A second poem", "Stones remember every flood.", "k-2")
            .await.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let (which, offered) = offered_to_either(&mut a, &mut b).await;
        let (runner, checker) = if which == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
        send(runner, json!({"type": "completed", "id": offered["id"], "lease": offered["lease"],
            "output": embeddings(json!([[0.6, 0.8]]))})).await;
        assert_eq!(next(runner).await["type"], "accepted");
        let check = next(checker).await;
        send(checker, json!({"type": "completed", "id": check["id"], "lease": check["lease"],
            "output": embeddings(json!([[0.8, -0.6]]))})).await;
        assert_eq!(next(checker).await["type"], "accepted");
        // Each node's verdict is its own write: wait for both.
        for node in [&first, &second] {
            let path = format!("/api/v1/nodes/{}/status", node["id"].as_str().unwrap());
            crate::crash::until("the node's mismatch is recorded", async || {
                let status = app.get_json(&path, &Session::default()).await;
                (status["mismatches"] == 1).then_some(())
            })
            .await;
        }
        let waiting = work_status(id).await;
        assert_eq!(waiting["status"], "evaluating", "a disagreement decides nothing: {waiting}");
        assert_eq!(waiting["score"], Value::Null);
        app.stop().await;
    }
}

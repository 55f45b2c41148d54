//! Real `meritree node` processes against a server: a task completed once
//! when its node is killed with SIGKILL mid-answer; a node drained with
//! SIGTERM finishes what it holds; a server killed with SIGKILL finds its
//! tasks done after it restarts.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;

use meritree_store::testing::TestDatabase;
use meritree_store::{test_both_backends, Backend, DatabaseTarget};
use serde_json::{json, Value};

use crate::compute::{chat_task, operator, spawn_network, submit};
use crate::crash::{kill_9, serve_on, until, Process};
use crate::fake_backend::{start_backend, ANSWER};
use crate::helpers::{Session, PASSWORD};
use crate::staking::{bind_wallet, OPERATOR_KEY};

/// `meritree node` serving `fake-chat` from `backend`.
fn node(server: &str, key: &str, name: &str, backend: &str) -> Process {
    node_as(server, ("MERITREE_NODE_API_KEY", key), name, backend)
}

/// [`node`] with its credential in the environment variable `credential`.
fn node_as(server: &str, credential: (&str, &str), name: &str, backend: &str) -> Process {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_meritree"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(credential.0, credential.1)
        .current_dir(dir.keep())
        .args([
            "node",
            "--server",
            server,
            "--name",
            name,
            "--model",
            "fake-chat",
        ])
        .args([
            "--backend",
            backend,
            "--capacity",
            "1",
            "--drain-secs",
            "30",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
        .into()
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap()
}

async fn get(client: &reqwest::Client, url: String, headers: &[(&str, String)]) -> Value {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until the task is running; answers the node running it.
async fn running_on(client: &reqwest::Client, url: &str, cookie: &[(&str, String)]) -> String {
    until("the task runs on a node", async || {
        let task = get(client, url.to_owned(), cookie).await;
        (task["status"] == "in_progress").then(|| task["node_id"].as_str().unwrap().to_owned())
    })
    .await
}

async fn completed(client: &reqwest::Client, url: &str, cookie: &[(&str, String)]) -> Value {
    until("the task completes", async || {
        let task = get(client, url.to_owned(), cookie).await;
        (task["status"] == "completed").then_some(task)
    })
    .await
}

test_both_backends! {
    async fn a_node_killed_mid_task_hands_it_to_the_other_and_it_is_paid_once(backend: Backend) {
        let app = spawn_network(backend).await;
        let (backend_url, fake) = start_backend().await;
        fake.word_delay_ms.store(300, Ordering::SeqCst);
        let (operator_session, key) = operator(&app, "op@example.org").await;
        let server = format!("http://{}", app.addr);
        let mut nodes = [
            ("box-a", node(&server, &key, "box-a", &backend_url)),
            ("box-b", node(&server, &key, "box-b", &backend_url)),
        ];
        until("both nodes are online", async || {
            let stats = app.get_json("/api/v1/nodes/stats", &Session::default()).await;
            (stats["online"] == 2).then_some(())
        })
        .await;

        let mut member = app.register("ada@example.org").await;
        let task: Value = submit(&app, &mut member, chat_task("t-1")).await.json().await.unwrap();
        let task_url = app.url(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()));
        let cookie = [("cookie", member.cookie_header())];
        let first = running_on(&app.client, &task_url, &cookie).await;
        let mine = app.get_json("/api/v1/nodes/mine", &operator_session).await;
        let name_of = |id: &str| -> String {
            mine.as_array().unwrap().iter().find(|n| n["id"] == id).unwrap()["name"]
                .as_str().unwrap().to_owned()
        };
        let victim = nodes.iter().position(|(name, _)| *name == name_of(&first)).unwrap();
        kill_9(&mut nodes[victim].1);

        let done = completed(&app.client, &task_url, &cookie).await;
        assert_ne!(done["node_id"].as_str().unwrap(), first, "the other node finished it");
        assert_eq!(done["output"]["text"], ANSWER);
        assert_eq!(done["failures"], 1);
        // Paying follows completion off the node's socket: the task shows
        // its reward once the ledger has it.
        let paid = until("the task is paid", async || {
            let task = get(&app.client, task_url.clone(), &cookie).await;
            (task["reward"] != Value::Null).then_some(task)
        })
        .await;
        assert_eq!(paid["reward"], 1);
        let points = app.get_json("/api/v1/user/points", &operator_session).await;
        let rewards: Vec<&Value> = points["entries"].as_array().unwrap().iter()
            .filter(|e| e["reference"] == format!("task:{}", task["id"].as_str().unwrap()))
            .collect();
        assert_eq!(rewards.len(), 1, "paid once: {points}");
        assert_eq!(points["balance"], 1);

        // The survivor, stopped with SIGTERM mid-task, finishes it first.
        let second: Value = submit(&app, &mut member, chat_task("t-2")).await.json().await.unwrap();
        let second_url = app.url(&format!("/api/v1/tasks/{}", second["id"].as_str().unwrap()));
        running_on(&app.client, &second_url, &cookie).await;
        let (_, survivor) = &mut nodes[1 - victim];
        assert!(terminate(survivor).success(), "a drained node exits 0");
        // The result left before the node exited; the server applies it
        // moments later. Dropped instead, the task would wait for another
        // node and never complete.
        let after = completed(&app.client, &second_url, &cookie).await;
        assert_eq!(after["failures"], 0, "drained, not dropped: {after}");
        app.stop().await;
    }

    async fn tasks_resume_after_the_server_is_killed(backend: Backend) {
        let db = TestDatabase::fresh(backend).await;
        let database = match &db.target {
            DatabaseTarget::SqliteFile(path) => format!("sqlite:{}", path.display()),
            DatabaseTarget::Postgres(url) => url.clone(),
        };
        let (backend_url, fake) = start_backend().await;
        fake.word_delay_ms.store(400, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("meritree.toml"), CONFIG).unwrap();
        let port = free_port();
        let (mut server, url) = serve_on(dir.path(), &database, port);
        let client = reqwest::Client::new();
        let key = operator_over_http(&client, &url, &database).await;
        let mut worker = node(&url, &key, "box-a", &backend_url);
        let mut member = Session::default();
        let registered = client.post(format!("{url}/api/v1/auth/register")).header("origin", &url)
            .json(&json!({"email": "ada@example.org", "password": PASSWORD})).send().await.unwrap();
        member.absorb(&registered);
        let cookie = [("cookie", member.cookie_header())];
        until("the node is online", async || {
            let stats = get(&client, format!("{url}/api/v1/nodes/stats"), &[]).await;
            (stats["online"] == 1).then_some(())
        }).await;
        let submitted = client.post(format!("{url}/api/v1/tasks/submit")).header("origin", &url)
            .header("cookie", member.cookie_header()).json(&chat_task("t-1")).send().await.unwrap();
        assert_eq!(submitted.status(), 201);
        let task: Value = submitted.json().await.unwrap();
        let task_url = format!("{url}/api/v1/tasks/{}", task["id"].as_str().unwrap());
        running_on(&client, &task_url, &cookie).await;

        kill_9(&mut server);
        let (mut server, _) = serve_on(dir.path(), &database, port);
        let done = completed(&client, &task_url, &cookie).await;
        assert_eq!(done["output"]["text"], ANSWER);
        assert!(done["lease"].as_u64().unwrap() >= 2, "leased again after the restart: {done}");
        kill_9(&mut worker);
        kill_9(&mut server);
    }
}

/// Short leases and heartbeats, so a lease outlives its server briefly.
const CONFIG: &str = r#"
[chain]
embedded = false

[ai.local]
enabled = false

[[ai.nodes.models]]
name = "fake-chat"
context = 4096
capabilities = ["chat"]

[compute]
heartbeat_secs = 1
lease_secs = 3
"#;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Registers an operator on the server at `url` (the role set in its
/// database) and answers their `node` key.
async fn operator_over_http(client: &reqwest::Client, url: &str, database: &str) -> String {
    let mut session = Session::default();
    let registered = client
        .post(format!("{url}/api/v1/auth/register"))
        .header("origin", url)
        .json(&json!({"email": "op@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let target = meritree_store::DatabaseTarget::parse(database).unwrap();
    let db = meritree_store::Database::connect(&target, Default::default())
        .await
        .unwrap();
    meritree_store::accounts::set_role_by_email(&db, "op@example.org", "node_operator", 1)
        .await
        .unwrap();
    db.close().await;
    let signed_in = client
        .post(format!("{url}/api/v1/auth/login"))
        .header("origin", url)
        .json(&json!({"email": "op@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    session.absorb(&signed_in);
    let response = client
        .post(format!("{url}/api/v1/user/api-keys"))
        .header("origin", url)
        .header("cookie", session.cookie_header())
        .json(&json!({"name": "node", "scopes": ["node"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

test_both_backends! {
    async fn the_gateway_serves_chat_from_a_node_streamed_and_whole(backend: Backend) {
        let app = crate::helpers::spawn_app_with(backend, |settings| {
            settings.ai.local.enabled = false;
            settings.ai.nodes.models = vec![meritree_ai::config::ModelSettings {
                name: "fake-chat".into(),
                input_price: 1_000_000,
                output_price: 1_000_000,
                context: 4096,
                capabilities: vec![meritree_ai::config::Capability::Chat],
            }];
        })
        .await;
        let (backend_url, fake) = start_backend().await;
        fake.word_delay_ms.store(50, Ordering::SeqCst);
        let member = app.register("ada@example.org").await;
        let ai_key = app.create_api_key(&member, "sdk").await.key;
        let ask = |stream: bool| {
            app.client.post(app.url("/v1/chat/completions")).bearer_auth(&ai_key).json(&json!({
                "model": "nodes/fake-chat", "stream": stream,
                "messages": [{"role": "user", "content": "Quote Lincoln."}]}))
        };
        // No node online: refused at once, nothing queued.
        let early = ask(false).send().await.unwrap();
        assert_eq!(early.status(), 503);
        assert_eq!(crate::helpers::error_code(early).await, "upstream_unavailable");

        let (_, key) = operator(&app, "op@example.org").await;
        let mut worker = node(&format!("http://{}", app.addr), &key, "box-a", &backend_url);
        until("the node is online", async || {
            let stats = app.get_json("/api/v1/nodes/stats", &Session::default()).await;
            (stats["online"] == 1).then_some(())
        })
        .await;

        let whole: Value = ask(false).send().await.unwrap().json().await.unwrap();
        assert_eq!(whole["choices"][0]["message"]["content"], ANSWER, "{whole}");
        assert_eq!(whole["usage"]["completion_tokens"], 6);

        let streamed = ask(true).send().await.unwrap();
        assert_eq!(streamed.status(), 200);
        let body = streamed.text().await.unwrap();
        let pieces: Vec<String> = body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
            .collect();
        assert!(pieces.len() >= 2, "the answer arrived in pieces: {body}");
        assert_eq!(pieces.concat(), ANSWER);
        assert!(body.trim_end().ends_with("data: [DONE]"));
        assert_eq!(fake.chat_calls.load(Ordering::SeqCst), 2, "each request ran once on the node");

        let stats = app.get_json("/api/v1/network/stats", &Session::default()).await;
        assert_eq!(stats["completed_last_hour"], 2);

        // The member's usage names the node that answered both requests
        // (the streamed one is recorded as its stream ends).
        let nodes = app.get_json("/api/v1/nodes/stats", &Session::default()).await;
        let node_id = nodes["nodes"][0]["id"].clone();
        let usage = until("both requests' usage is recorded", async || {
            let usage = app.get_json("/api/v1/user/ai/usage", &member).await;
            (usage["models"][0]["requests"] == 2).then_some(usage)
        })
        .await;
        assert_eq!(usage["models"].as_array().unwrap().len(), 1, "{usage}");
        assert_eq!(usage["models"][0]["provider"], "nodes");
        assert_eq!(usage["models"][0]["served_by"], node_id, "{usage}");
        kill_9(&mut worker);
        app.stop().await;
    }
}

test_both_backends! {
    async fn a_node_signs_in_with_the_operators_wallet(backend: Backend) {
        let app = spawn_network(backend).await;
        let (backend_url, _fake) = start_backend().await;
        let (operator_session, _) = operator(&app, "op@example.org").await;
        bind_wallet(&app, &operator_session).await;
        let keys = tempfile::tempdir().unwrap();
        let key_file = |name: &str, key: &str| {
            let path = keys.path().join(name);
            std::fs::write(&path, format!("{key}\n")).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let server = format!("http://{}", app.addr);
        let operators = key_file("operator.key", OPERATOR_KEY);
        let mut worker = node_as(&server, ("MERITREE_NODE_WALLET_KEY_FILE", &operators), "wallet-box", &backend_url);
        until("the wallet's node is online", async || {
            let stats = app.get_json("/api/v1/nodes/stats", &Session::default()).await;
            (stats["online"] == 1).then_some(())
        })
        .await;
        let mine = app.get_json("/api/v1/nodes/mine", &operator_session).await;
        assert_eq!(mine[0]["name"], "wallet-box", "registered to the wallet's account: {mine}");

        let mut member = app.register("ada@example.org").await;
        let task: Value = submit(&app, &mut member, chat_task("w-1")).await.json().await.unwrap();
        let task_url = app.url(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()));
        let done = completed(&app.client, &task_url, &[("cookie", member.cookie_header())]).await;
        assert_eq!(done["node_id"], mine[0]["id"]);
        assert_eq!(done["output"]["text"], ANSWER);

        // A wallet bound to no operator signs in as a new member, whose
        // node the platform refuses: the process stops with an error.
        let strangers = key_file("stranger.key", "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
        let mut stranger = node_as(&server, ("MERITREE_NODE_WALLET_KEY_FILE", &strangers), "intruder", &backend_url);
        let status = until("the stranger's node exits", async || stranger.try_wait().unwrap()).await;
        assert!(!status.success());
        kill_9(&mut worker);
        app.stop().await;
    }
}

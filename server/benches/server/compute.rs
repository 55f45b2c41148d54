//! The compute network's task machinery, printed as numbers (run: `scripts/bench
//! compute`; `COMPUTE_NODES` simulated nodes, 100 by
//! default, `COMPUTE_TASKS` tasks, 20,000; `COMPUTE_DATABASE_URL` for
//! PostgreSQL instead of a fresh SQLite file).
//!
//! The platform runs in this process with its dispatcher and reaper; each
//! simulated node is a task holding a node link exactly as a node's socket
//! does (`Compute::connect`, `on_frame`), without the WebSocket transport.
//! Submitters queue every task as fast as the service takes them; each node
//! answers a task the moment it arrives (started, then completed). Reported:
//! tasks completed per second and task transitions per second (assign,
//! start, complete: three per task); then, with the network idle, tasks
//! submitted at a steady `COMPUTE_RATE` per second (200 by default,
//! `COMPUTE_PACED` of them, 2,000) and the time from each one's submission
//! to its arrival at a node (assignment latency, not queueing behind a
//! flood); the process's resident memory with every node connected and
//! heartbeating once a second; and then with `COMPUTE_SOCKETS` (500) nodes
//! more, each on a real WebSocket, heartbeating every second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use meritree_core::accounts::Role;
use meritree_core::compute::protocol::{FromNode, ToNode};
use meritree_core::compute::{
    ChatMessage, ChatRole, NewTask, NodeRegistration, TaskInput, TaskOutput, MAX_NODES_PER_OPERATOR,
};
use meritree_platform::access::RequestContext;
use meritree_platform::principal::{Credential, Principal};
use meritree_platform::Platform;
use server::configuration::Settings;
use server::startup::Application;

use crate::support::{self, report, resident_mib};

const MODEL: &str = "bench-chat";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn run() {
    let nodes = env("COMPUTE_NODES", 100);
    let tasks = env("COMPUTE_TASKS", 20_000);
    let submitters_n = env("COMPUTE_SUBMITTERS", 8);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = dir.path().to_owned();
    if let Ok(url) = std::env::var("COMPUTE_DATABASE_URL") {
        settings.storage.database_url = url.into();
    }
    settings.log.filter = "warn".into();
    settings.rate_limits.enabled = false;
    settings.chain.embedded = false;
    settings.ai.local.enabled = false;
    settings.ai.nodes.models = vec![meritree_ai::config::ModelSettings {
        name: MODEL.into(),
        input_price: 0,
        output_price: 0,
        context: 4096,
        capabilities: vec![meritree_ai::config::Capability::Chat],
    }];
    settings.compute.verify_per_mille = 0;
    settings.compute.max_open_tasks = 1_000_000;
    settings.compute.heartbeat_secs = 1;
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let platform = app.platform().clone();
    let backend = platform.db().backend();
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    // An operator runs at most MAX_NODES_PER_OPERATOR nodes.
    let mut operators = Vec::new();
    for o in 0..nodes.div_ceil(MAX_NODES_PER_OPERATOR) {
        operators.push(
            account(
                &platform,
                &format!("operator{o}@bench.example"),
                Role::NodeOperator,
            )
            .await,
        );
    }
    // Two at a time: each account's password hash takes 19 MiB, and a
    // hundred at once would leave the allocator holding gigabytes that the
    // memory figures below would count.
    let submitters: Vec<Principal> = futures_util::stream::iter(0..submitters_n)
        .map(|i| {
            let platform = platform.clone();
            async move { account(&platform, &format!("s{i}@bench.example"), Role::Member).await }
        })
        .buffered(2)
        .collect()
        .await;

    // Keyed by the task's text, which the node sees in its input.
    let submitted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for n in 0..nodes {
        let operator = &operators[n / MAX_NODES_PER_OPERATOR];
        let node = platform
            .compute()
            .register_node(
                operator,
                NodeRegistration {
                    name: format!("node-{n}"),
                    models: vec![MODEL.into()],
                    capacity: 8,
                },
            )
            .await
            .unwrap();
        let link = platform
            .compute()
            .connect(operator, &node.id)
            .await
            .unwrap();
        tokio::spawn(simulated_node(
            platform.clone(),
            link,
            submitted_at.clone(),
            latencies.clone(),
            done_tx.clone(),
        ));
    }
    let connected = resident_mib();

    let started = Instant::now();
    let per_submitter = tasks / submitters_n;
    let submitting: Vec<_> = submitters
        .into_iter()
        .enumerate()
        .map(|(s, me)| {
            let platform = platform.clone();
            let submitted_at = submitted_at.clone();
            tokio::spawn(async move {
                for i in 0..per_submitter {
                    let text = format!("task {s}-{i}");
                    let task = chat(format!("{s}-{i}"), text.clone());
                    submitted_at.lock().unwrap().insert(text, Instant::now());
                    platform.compute().submit(&me, task).await.unwrap();
                }
            })
        })
        .collect();
    for handle in submitting {
        handle.await.unwrap();
    }
    let total = per_submitter * submitters_n;
    for _ in 0..total {
        done_rx.recv().await.unwrap();
    }
    let elapsed = started.elapsed();
    let per_sec = total as f64 / elapsed.as_secs_f64();
    println!("backend {backend}, {nodes} nodes (capacity 8 each), {total} tasks");
    println!(
        "{:<48} {:>10.0} tasks/s, {:>10.0} transitions/s ({:.1} s)",
        "submit → assign → start → complete",
        per_sec,
        per_sec * 3.0,
        elapsed.as_secs_f64()
    );
    report(
        "flood: submitted → at the node (queueing)",
        &mut latencies.lock().unwrap(),
    );

    // Assignment latency at a steady rate the network keeps up with.
    let rate = env("COMPUTE_RATE", 200);
    let paced = env("COMPUTE_PACED", 2_000);
    latencies.lock().unwrap().clear();
    let me = account(&platform, "paced@bench.example", Role::Member).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..paced {
        tick.tick().await;
        let text = format!("paced {i}");
        submitted_at
            .lock()
            .unwrap()
            .insert(text.clone(), Instant::now());
        platform
            .compute()
            .submit(&me, chat(format!("p-{i}"), text))
            .await
            .unwrap();
    }
    for _ in 0..paced {
        done_rx.recv().await.unwrap();
    }
    report(
        &format!("assignment latency at {rate} tasks/s"),
        &mut latencies.lock().unwrap(),
    );
    // Every node heartbeats once a second for a few seconds.
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!(
        "{:<48} {:>10.1} MiB with {nodes} nodes connected ({:.1} MiB before the tasks)",
        "resident memory",
        resident_mib(),
        connected
    );

    // Nodes on real WebSockets, heartbeating every second: registered over
    // HTTP with their operator's key, each a bare socket client (what the
    // server holds per node is what this measures, not a worker's HTTP
    // client and backend).
    let sockets = env("COMPUTE_SOCKETS", 500);
    let before = resident_mib();
    let client = reqwest::Client::new();
    for o in 0..sockets.div_ceil(MAX_NODES_PER_OPERATOR) {
        let email = format!("worker{o}@bench.example");
        let key = support::operator_key(&client, &url, platform.db(), &email).await;
        let first = o * MAX_NODES_PER_OPERATOR;
        for n in first..sockets.min(first + MAX_NODES_PER_OPERATOR) {
            let registered: serde_json::Value = client
                .post(format!("{url}/api/v1/nodes/register"))
                .bearer_auth(&key)
                .json(&serde_json::json!({"name": format!("socket-{n}"), "models": [MODEL], "capacity": 8}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = registered["id"].as_str().expect("a node id").to_owned();
            tokio::spawn(socket_node(url.clone(), key.clone(), id));
        }
    }
    support::until_online(&client, &url, (nodes + sockets) as u64).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!(
        "{:<48} {:>10.1} MiB with {sockets} more on sockets ({:.1} MiB before them; {:.1} MiB of it mapped files; {:.1} MiB with each shared page counted once)",
        "resident memory",
        resident_mib(),
        before,
        support::file_backed_mib(),
        support::proportional_mib()
    );
}

/// A node on a WebSocket that heartbeats every second and reads what it is
/// sent.
async fn socket_node(url: String, key: String, id: String) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let address = format!(
        "{}/api/v1/nodes/{id}/connect",
        url.replacen("http", "ws", 1)
    );
    let mut request = address.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    // Buffers as `meritree node` sizes them.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .unwrap();
    let (mut send, mut receive) = socket.split();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                let frame = Message::text(r#"{"type":"heartbeat","running":0}"#);
                if send.send(frame).await.is_err() {
                    return;
                }
            }
            frame = receive.next() => if frame.is_none_or(|f| f.is_err()) {
                return;
            },
        }
    }
}

/// A chat task whose text the node reports back by.
fn chat(idempotency_key: String, text: String) -> NewTask {
    NewTask {
        idempotency_key,
        input: TaskInput::Chat {
            model: MODEL.into(),
            messages: vec![ChatMessage {
                role: ChatRole::User,
                content: text,
            }],
            max_tokens: Some(8),
            temperature: None,
        },
    }
}

async fn account(platform: &Platform, email: &str, role: Role) -> Principal {
    let signed_in = platform
        .accounts()
        .register(
            &RequestContext::default(),
            email,
            "correct horse battery staple",
        )
        .await
        .unwrap();
    Principal {
        account_id: signed_in.account.id,
        role,
        credential: Credential::Session { id: "bench".into() },
    }
}

/// A node that answers every task at once and heartbeats every second.
async fn simulated_node(
    platform: Platform,
    mut link: meritree_platform::compute::NodeLink,
    submitted_at: Arc<Mutex<HashMap<String, Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    done: tokio::sync::mpsc::UnboundedSender<()>,
) {
    let compute = platform.compute();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            frame = link.frames.recv() => {
                let Some(frame) = frame else { return };
                if let ToNode::Task { id, lease, input } = frame {
                    let arrived = Instant::now();
                    if let TaskInput::Chat { messages, .. } = &input {
                        if let Some(since) = submitted_at.lock().unwrap().remove(&messages[0].content) {
                            latencies.lock().unwrap().push(arrived - since);
                        }
                    }
                    compute.on_frame(&link, FromNode::Started { id: id.clone(), lease }).await;
                    let output = TaskOutput::Chat { text: "ok".into(), input_tokens: 4, output_tokens: 1 };
                    let reply = compute.on_frame(&link, FromNode::Completed { id, lease, output }).await;
                    assert!(matches!(reply, Some(ToNode::Accepted { .. })), "{reply:?}");
                    let _ = done.send(());
                }
            }
            _ = heartbeat.tick() => {
                compute.on_frame(&link, FromNode::Heartbeat { running: 0 }).await;
            }
        }
    }
}

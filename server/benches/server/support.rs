//! What the benchmarks share: percentiles and one printed line per
//! measurement; node operators and `meritree node` workers run in the
//! bench's own process.

use std::time::Duration;

use meritree_core::compute::NodeRegistration;
use meritree_store::Database;
use serde_json::{json, Value};
use server::node::{self, Backend, Credential, NodeOptions};

pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

#[allow(dead_code)] // Each bench is its own crate; not every one reports samples.
pub fn report(name: &str, samples: &mut [Duration]) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<48} n={:<7} p50={p50:>10.2?} p99={p99:>10.2?}",
        samples.len()
    );
}

/// The access token a sign-in (or registration) answer set as a cookie.
#[allow(dead_code)]
pub fn access_token(signed_in: &reqwest::Response) -> String {
    signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| v.to_str().ok()?.strip_prefix("mt_access="))
        .and_then(|v| v.split(';').next())
        .expect("an mt_access cookie")
        .to_owned()
}

/// Resident memory of this process, from /proc (Linux).
#[allow(dead_code)]
pub fn resident_mib() -> f64 {
    status_mib("VmRSS:")
}

/// The part of [`resident_mib`] that is mapped files: the database file as
/// each SQLite connection maps it (counted once per connection that touched
/// a page, though the pages are the kernel's shared cache).
#[allow(dead_code)]
pub fn file_backed_mib() -> f64 {
    status_mib("RssFile:")
}

/// Memory this process holds with every shared page counted once (its
/// proportional set size): a database page mapped by several SQLite
/// connections counts once here, once per connection in [`resident_mib`].
#[allow(dead_code)]
pub fn proportional_mib() -> f64 {
    proc_mib("/proc/self/smaps_rollup", "Pss:")
}

fn status_mib(field: &str) -> f64 {
    proc_mib("/proc/self/status", field)
}

fn proc_mib(file: &str, field: &str) -> f64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Registers `email` over HTTP, makes it a node operator and returns an API
/// key with the `node` scope.
#[allow(dead_code)]
pub async fn operator_key(
    client: &reqwest::Client,
    url: &str,
    db: &Database,
    email: &str,
) -> String {
    let credentials = json!({ "email": email, "password": "correct horse battery staple" });
    client
        .post(format!("{url}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    meritree_store::accounts::set_role_by_email(db, email, "node_operator", 1)
        .await
        .unwrap();
    // Signed in again: the session carries the new role.
    let signed_in = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    let created: Value = client
        .post(format!("{url}/api/v1/user/api-keys"))
        .bearer_auth(access_token(&signed_in))
        .json(&json!({"name": "node", "scopes": ["node"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["key"].as_str().expect("an API key").to_owned()
}

/// Runs a `meritree node` worker in this process: registers `name` serving
/// `model` on the OpenAI-compatible backend at `backend_url`, then keeps its
/// socket (heartbeats, tasks) until the process ends.
#[allow(dead_code)]
pub fn spawn_node(url: &str, key: &str, name: &str, model: &str, backend_url: &str) {
    let options = NodeOptions {
        server: url.to_owned(),
        credential: Credential::ApiKey(key.to_owned()),
        registration: NodeRegistration {
            name: name.to_owned(),
            models: vec![model.to_owned()],
            capacity: 8,
        },
        backend: Backend::openai(backend_url, None),
        drain: Duration::from_secs(1),
    };
    tokio::spawn(async move { node::run(options, std::future::pending()).await.unwrap() });
}

/// Waits until the platform counts at least `nodes` nodes online.
#[allow(dead_code)]
pub async fn until_online(client: &reqwest::Client, url: &str, nodes: u64) {
    for _ in 0..1_200 {
        let stats: Value = client
            .get(format!("{url}/api/v1/nodes/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["online"].as_u64().unwrap_or(0) >= nodes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {nodes} nodes came online within a minute");
}

//! The real binary killed with SIGKILL while the judge is answering, then
//! started again on the same database: every submission is scored once and
//! paid once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use meritree_store::testing::TestDatabase;
use meritree_store::{test_both_backends, Backend, DatabaseTarget};
use serde_json::{json, Value};

use crate::fake_judge::{scores, start_judge};
use crate::helpers::{Session, PASSWORD};

/// A config file pointing the judge and the embeddings at `judge_url`,
/// with short rounds and leases so the test runs in seconds.
fn config(judge_url: &str) -> String {
    let judged = judged_by(judge_url);
    format!(
        r#"
[rewards]
round_secs = 3

[chain]
embedded = false
tick_secs = 1

{judged}payout_deadline_secs = 600
"#
    )
}

/// Configuration that leaves the embedded models off and has the fake
/// judge at `judge_url` judge work and embed it, with short evaluation
/// leases; ends inside the `[work]` section.
pub fn judged_by(judge_url: &str) -> String {
    format!(
        r#"
[ai.local]
enabled = false

[[ai.providers]]
name = "judge"
kind = "openai"
base_url = "{judge_url}"
api_key_env = ""
[[ai.providers.models]]
name = "judge-1"
input_price = 1000000
output_price = 2000000
context = 8192
capabilities = ["chat"]
[[ai.providers.models]]
name = "bow-64"
input_price = 100000
output_price = 0
context = 8192
capabilities = ["embeddings"]

[work]
judge_model = "judge/judge-1"
embedding_model = "judge/bow-64"
lease_secs = 2
"#
    )
}

/// A process the test started, killed (SIGKILL) when the test drops it:
/// a test that fails half-way leaves no server or node running behind it.
pub struct Process(Child);

impl From<Child> for Process {
    fn from(child: Child) -> Self {
        Self(child)
    }
}

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Already ended and reaped (kill_9, a wait): both are no-ops.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `meritree serve` in `dir` on `database`; returns once it listens.
pub fn serve(dir: &Path, database: &str) -> (Process, String) {
    serve_on(dir, database, 0)
}

/// [`serve`] on `port` (0: any free one).
pub fn serve_on(dir: &Path, database: &str, port: u16) -> (Process, String) {
    serve_with(dir, database, port, &[])
}

/// [`serve_on`] with more environment variables.
pub fn serve_with(
    dir: &Path,
    database: &str,
    port: u16,
    env: &[(&str, &str)],
) -> (Process, String) {
    let mut child: Process = Command::new(env!("CARGO_BIN_EXE_meritree"))
        .env_clear()
        .envs(env.iter().copied())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .env("MERITREE_SERVER__PORT", port.to_string())
        .env("MERITREE_LOG__FORMAT", "json")
        .env("MERITREE_STORAGE__DATABASE_URL", database)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
        .into();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("\"listening\""))
        .expect("the server logs where it listens");
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let event: Value = serde_json::from_str(&listening).unwrap();
    (child, event["url"].as_str().unwrap().to_owned())
}

/// Options for a platform in the test on the database of the real binary
/// serving from `dir`: its sealing key, so both open the same secrets.
pub fn options_beside(dir: &Path) -> meritree_platform::PlatformOptions {
    let hex = std::fs::read_to_string(dir.join("data/secrets.key"))
        .expect("the server made its secrets key");
    meritree_platform::PlatformOptions {
        sealing_key: meritree_platform::sealing::SealingKey::parse_hex(&hex).unwrap(),
        ..Default::default()
    }
}

pub fn kill_9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    child.wait().unwrap();
}

pub async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

test_both_backends! {
    async fn a_server_killed_mid_evaluation_scores_and_pays_each_work_once(backend: Backend) {
        let db = TestDatabase::fresh(backend).await;
        let database = match &db.target {
            DatabaseTarget::SqliteFile(path) => format!("sqlite:{}", path.display()),
            DatabaseTarget::Postgres(url) => url.clone(),
        };
        let (judge_url, judge) = start_judge(scores(8, 8, 8)).await;
        judge.hold.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("meritree.toml"), config(&judge_url)).unwrap();
        let client = reqwest::Client::new();
        let mut session = Session::default();

        let (mut first, url) = serve(dir.path(), &database);
        let registered = client.post(format!("{url}/api/v1/auth/register")).header("origin", &url)
            .json(&json!({"email": "ada@example.org", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(registered.status(), 201);
        session.absorb(&registered);
        let cookie = session.cookie_header();
        let handle = client.put(format!("{url}/api/v1/user/handle")).header("origin", &url)
            .header("cookie", &cookie).json(&json!({"handle": "ada"})).send().await.unwrap();
        assert_eq!(handle.status(), 200);
        let mut ids = Vec::new();
        for (i, text) in ["Gulls argue over the tide", "Frost writes on the window", "Bread rises in the dark"].iter().enumerate() {
            let response = client.post(format!("{url}/api/v1/submissions")).header("origin", &url)
                .header("cookie", &cookie)
                .json(&json!({"title": format!("Work {i}"), "body": text, "idempotency_key": format!("k{i}")}))
                .send().await.unwrap();
            assert_eq!(response.status(), 201);
            ids.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
        }
        // The judge has work in hand when the server dies.
        until("the judge to be asked", async || (judge.calls.load(Ordering::SeqCst) > 0).then_some(())).await;
        kill_9(&mut first);
        judge.hold.store(false, Ordering::SeqCst);

        let (mut second, url) = serve(dir.path(), &database);
        let get = |path: String| client.get(format!("{url}{path}")).header("cookie", &cookie).send();
        for id in &ids {
            let work = until("the work to be scored", async || {
                let work: Value = get(format!("/api/v1/submissions/{id}")).await.ok()?.json().await.ok()?;
                (work["status"] == "scored").then_some(work)
            }).await;
            let judged: Vec<&Value> = work["stages"].as_array().unwrap().iter()
                .filter(|s| s["stage"] == "quality" && s["outcome"] == "ok").collect();
            assert_eq!(judged.len(), 1, "judged once: {work}");
            assert_eq!(work["score"], 80);
        }
        // Paid once: every work's reward is posted exactly once, and the
        // balance is their sum.
        let rewards = async |url: &str| -> (Vec<i64>, Value) {
            let mut rewards = Vec::new();
            for id in &ids {
                let work: Value = client.get(format!("{url}/api/v1/submissions/{id}")).send().await.unwrap().json().await.unwrap();
                rewards.push(work["reward"].as_i64().unwrap_or(-1));
            }
            let points: Value = client.get(format!("{url}/api/v1/user/points")).header("cookie", &cookie)
                .send().await.unwrap().json().await.unwrap();
            (rewards, points)
        };
        let (paid, points) = until("every pool to pay", async || {
            let (paid, points) = rewards(&url).await;
            paid.iter().all(|r| *r >= 0).then_some((paid, points))
        }).await;
        let credits: Vec<i64> = points["entries"].as_array().unwrap().iter()
            .filter(|e| e["reason"] == "content_reward").map(|e| e["amount"].as_i64().unwrap()).collect();
        assert_eq!(credits.len(), paid.iter().filter(|r| **r > 0).count(), "{points}");
        assert_eq!(points["balance"].as_i64().unwrap(), paid.iter().sum::<i64>());
        assert!(points["balance"].as_i64().unwrap() > 0);

        // Killed again after paying, and back: nothing is paid twice.
        kill_9(&mut second);
        let (mut third, url) = serve(dir.path(), &database);
        // The second server died without saving its near-duplicate index:
        // the third rebuilt it from the database and saved it under the
        // data directory.
        let saved = dir.path().join("data/index");
        until("the index to be saved", async || {
            let manifests = std::fs::read_dir(&saved).ok()?.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json")).count();
            (manifests == 1).then_some(())
        }).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(rewards(&url).await, (paid, points));
        // The index came back with the server: earlier work reworded is a
        // copy of it.
        let copy = client.post(format!("{url}/api/v1/submissions")).header("origin", &url)
            .header("cookie", &cookie)
            .json(&json!({"title": "Work 0", "body": "the tide Gulls argue over", "idempotency_key": "again"}))
            .send().await.unwrap();
        assert_eq!(copy.status(), 201);
        let copy = copy.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let work = until("the copy to be evaluated", async || {
            let work: Value = client.get(format!("{url}/api/v1/submissions/{copy}")).header("cookie", &cookie)
                .send().await.ok()?.json().await.ok()?;
            (work["status"] != "evaluating").then_some(work)
        }).await;
        assert_eq!((work["status"].as_str(), work["duplicate_of"].as_str()), (Some("duplicate"), Some(ids[0].as_str())), "{work}");
        kill_9(&mut third);
    }
}

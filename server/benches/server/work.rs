//! Work that pays, printed as numbers (run: `scripts/bench work`): the
//! platform on SQLite in front of a fake judge that answers at once
//! (model time excluded), everything on the same 2 cores.
//!
//! - submissions taken in per second (the service, no HTTP);
//! - pipeline throughput: every stage of every submission (moderation,
//!   fingerprint and embedding through the gateway and the HNSW index, the
//!   judge through the gateway, fraud counts), with 4 workers;
//! - closing a round: sharing one pool among all its entries, ledger
//!   credits included;
//! - ledger postings through the points service, one at a time, and 8,
//!   64 and 256 at once (group-committed);
//! - ledger postings over HTTP from 8 connections at once (an admin's
//!   `POST /api/v1/admin/points`), the load generator in this process.
//!
//! `WORK_ONLY=ledger` runs the ledger postings alone (for profiling them).

use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use meritree_ai::config::{Capability, ModelSettings, ProviderKind, ProviderSettings};
use meritree_core::accounts::Role;
use meritree_core::points::PointsReason;
use meritree_core::submissions::payout::PayoutRule;
use meritree_core::submissions::NewSubmission;
use meritree_platform::access::RequestContext;
use meritree_platform::points::PointsPosting;
use meritree_platform::principal::{Credential, Principal};
use meritree_platform::Platform;
use serde_json::{json, Value};
use server::configuration::Settings;
use server::startup::Application;

use crate::support::{self, report};

const ENTRIES: usize = 10_000;
const MEMBERS: usize = 100;
const ROUND_SECS: u64 = 86_400;
const WORKERS: usize = 4;

async fn chat(Json(body): Json<Value>) -> Json<Value> {
    let content = json!({"scores": {"relevance": 7, "craft": 8, "insight": 6}, "safe": true, "reason": "Fine."}).to_string();
    Json(json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240}
    }))
}

/// A 384-dimension vector from the words' hashes: distinct texts, distinct
/// vectors, at the size of all-MiniLM-L6-v2's.
async fn embeddings(Json(body): Json<Value>) -> Json<Value> {
    let text = body["input"][0]
        .as_str()
        .or(body["input"].as_str())
        .unwrap_or_default();
    let mut v = vec![0.0_f32; 384];
    for word in text.split_whitespace() {
        let h = word
            .bytes()
            .fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        v[(h % 384) as usize] += 1.0;
        v[((h >> 20) % 384) as usize] += 0.5;
    }
    Json(
        json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": v}],
                "model": body["model"], "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
    )
}

async fn start_judge() -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn settings(dir: &std::path::Path, judge: &str) -> Settings {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = dir.to_owned();
    settings.storage.database_url = format!("sqlite:{}", dir.join("bench.db").display()).into();
    settings.chain.embedded = false;
    settings.rate_limits.enabled = false;
    // The benchmark runs the evaluation workers itself, after the intake.
    settings.work.workers = 0;
    // A day-long round: the run never crosses a round's end, so the
    // settlement loop cannot pay the pool before the measured close does.
    settings.rewards.round_secs = ROUND_SECS;
    settings.ai.local.enabled = false;
    let model = |name: &str, capability| ModelSettings {
        name: name.into(),
        input_price: 1_000_000,
        output_price: 2_000_000,
        context: 8192,
        capabilities: vec![capability],
    };
    settings.ai.providers = vec![ProviderSettings {
        name: "judge".into(),
        kind: ProviderKind::Openai,
        base_url: judge.into(),
        api_key_env: String::new(),
        first_byte_timeout_secs: 5,
        total_timeout_secs: 10,
        models: vec![
            model("judge-1", Capability::Chat),
            model("embed-384", Capability::Embeddings),
        ],
    }];
    settings.work.judge_model = "judge/judge-1".into();
    settings.work.embedding_model = "judge/embed-384".into();
    settings.work.max_per_round = u32::try_from(ENTRIES).unwrap();
    settings.work.pool = 1_000_000;
    settings.work.rule = PayoutRule::Proportional {
        threshold: 10,
        per_account_cap: 1_000_000,
    };
    settings.work.fraud.max_per_account = u32::MAX;
    settings.work.fraud.max_per_address = u32::MAX;
    settings
}

async fn members(platform: &Platform) -> Vec<Principal> {
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let signed_in = platform
            .accounts()
            .register(
                &RequestContext::default(),
                &format!("m{i}@bench.example"),
                "correct horse battery staple",
            )
            .await
            .unwrap();
        platform
            .accounts()
            .set_handle(&signed_in.account.id, &format!("member{i}"))
            .await
            .unwrap();
        members.push(Principal {
            account_id: signed_in.account.id,
            role: Role::Member,
            credential: Credential::Session { id: "bench".into() },
        });
    }
    members
}

fn words(i: usize) -> String {
    // Distinct texts, none near another: each word drawn from a million
    // by a hash of (text, position), so two texts share a word by chance
    // only, and every entry is scored and paid.
    (0..40_u64)
        .map(|w| format!("w{}", splitmix((i as u64) << 8 | w) % 1_000_003))
        .collect::<Vec<_>>()
        .join(" ")
}

/// SplitMix64's output function: a well-mixed hash of `x`.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub async fn run() {
    let judge = start_judge().await;
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(settings(dir.path(), &judge))
        .await
        .unwrap();
    let platform = app.platform().clone();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let members = members(&platform).await;
    if std::env::var("WORK_ONLY").is_ok_and(|only| only == "ledger") {
        return ledger(&platform, &members, &url).await;
    }

    // Taken in.
    let request = RequestContext::default();
    let started = Instant::now();
    let mut submit_samples = Vec::with_capacity(ENTRIES);
    for i in 0..ENTRIES {
        let sent = Instant::now();
        platform
            .submissions()
            .submit(
                &members[i % MEMBERS],
                &request,
                NewSubmission {
                    title: format!("Work {i}"),
                    body: words(i),
                    idempotency_key: format!("k{i}"),
                    image: None,
                },
            )
            .await
            .unwrap();
        submit_samples.push(sent.elapsed());
    }
    let taken = started.elapsed();
    report("submit (service, one at a time)", &mut submit_samples);
    println!(
        "submissions taken in            {:.0}/s",
        ENTRIES as f64 / taken.as_secs_f64()
    );

    // Evaluated.
    let started = Instant::now();
    let mut workers = Vec::new();
    // `WORK_WORKERS=8` runs more workers (the server's `work.workers`).
    let worker_count = std::env::var("WORK_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(WORKERS);
    for _ in 0..worker_count {
        let platform = platform.clone();
        workers.push(tokio::spawn(async move {
            let mut stages = 0_usize;
            loop {
                let ran = platform.evaluation().run_batch().await.unwrap();
                if ran.is_empty() {
                    break stages;
                }
                stages += ran.len();
            }
        }));
    }
    let mut stages = 0;
    for worker in workers {
        stages += worker.await.unwrap();
    }
    let evaluated = started.elapsed();
    println!(
        "pipeline, {worker_count} workers                {:.0} submissions/s ({stages} stages in {evaluated:.2?})",
        ENTRIES as f64 / evaluated.as_secs_f64()
    );
    let round = platform
        .competitions()
        .current_round()
        .await
        .unwrap()
        .unwrap();
    stage_times(&platform).await;
    let board = platform.competitions().leaderboard(round).await.unwrap();
    assert_eq!(board.len(), 200.min(ENTRIES), "entries were scored");

    // Paid.
    let later = meritree_platform::clock::unix_secs() + 3 * ROUND_SECS as i64;
    platform.rounds().tick(later).await.unwrap();
    let started = Instant::now();
    let paid = platform.competitions().pay_due(later).await.unwrap();
    let paying = started.elapsed();
    let pool = paid.iter().find(|p| p.round == round).unwrap();
    println!(
        "round close: pool shared         {} entries, {} points in {paying:.2?}",
        pool.entries, pool.credited
    );
    // What the close spends announcing the board (its three reads; the
    // board is unchanged now, so nothing is published).
    let started = Instant::now();
    platform.competitions().announce_leaderboard(round).await;
    println!(
        "  of which reading the board to announce it {:.2?}",
        started.elapsed()
    );

    ledger(&platform, &members, &url).await;
}

/// Ledger postings from one caller, then from callers at once, whose
/// postings are group-committed, then over HTTP.
async fn ledger(platform: &Platform, members: &[Principal], url: &str) {
    concurrent_credits(platform, members, 1, 5_000).await;
    for at_once in [8, 64, 256] {
        concurrent_credits(platform, members, at_once, 20_000).await;
    }
    http_credits(platform, url, members, 8, 20_000).await;
}

/// The mean time each stage took inside the pipeline, from the stage
/// records every evaluation keeps for audit.
async fn stage_times(platform: &Platform) {
    let rows = meritree_store::evaluations::stage_durations(platform.db())
        .await
        .unwrap();
    for (stage, n, mean_ms) in rows {
        println!("  stage {stage:<14} n={n:<7} mean {mean_ms:.2} ms (inside the stage)");
    }
}

/// `n` credits over HTTP (`POST /api/v1/admin/points`, an admin's session)
/// from `connections` clients at once, each posting one after another.
async fn http_credits(
    platform: &Platform,
    url: &str,
    members: &[Principal],
    connections: usize,
    n: usize,
) {
    let email = "admin@bench.example";
    let password = "correct horse battery staple";
    platform
        .accounts()
        .register(&RequestContext::default(), email, password)
        .await
        .unwrap();
    // Promoted in the store, as an operator's first admin is: admin work
    // needs a session signed in with the role.
    assert!(
        meritree_store::accounts::set_role_by_email(platform.db(), email, "admin", 0)
            .await
            .unwrap()
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let login = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let access = support::access_token(&login);

    let accounts = accounts_of(members, connections);
    let url = url.to_owned();
    measured(
        &format!("ledger credits over HTTP, {connections} connections"),
        connections,
        n,
        move |c, i| {
            let (client, url, access, account) = (
                client.clone(),
                url.clone(),
                access.clone(),
                accounts[c].clone(),
            );
            async move {
                let response = client
                    .post(format!("{url}/api/v1/admin/points"))
                    .bearer_auth(&access)
                    .json(&json!({
                        "account_id": account,
                        "amount": 1,
                        "reason": "admin_adjustment",
                        "idempotency_key": format!("http-{c}-{i}"),
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                assert_eq!(status, 201, "{}", response.text().await.unwrap_or_default());
            }
        },
    )
    .await;
}

/// `n` credits from `at_once` callers, each posting to its own member.
async fn concurrent_credits(platform: &Platform, members: &[Principal], at_once: usize, n: usize) {
    let accounts = accounts_of(members, at_once);
    let platform = platform.clone();
    measured(
        &format!("ledger credits, {at_once} at once"),
        at_once,
        n,
        move |t, i| {
            let (platform, account) = (platform.clone(), accounts[t].clone());
            async move {
                platform
                    .points()
                    .post(PointsPosting {
                        account_id: &account,
                        amount: 1,
                        reason: PointsReason::TaskReward,
                        reference: None,
                        idempotency_key: &format!("at-once-{at_once}-{t}-{i}"),
                    })
                    .await
                    .unwrap();
            }
        },
    )
    .await;
}

/// The accounts of the first `n` members (again from the first when
/// there are fewer).
fn accounts_of(members: &[Principal], n: usize) -> std::sync::Arc<Vec<String>> {
    std::sync::Arc::new(
        members
            .iter()
            .cycle()
            .take(n)
            .map(|m| m.account_id.to_string())
            .collect(),
    )
}

/// Runs `n` calls from `callers` tasks at once, each task calling one
/// after another (`call(task, i)`); prints the rate and the latencies.
async fn measured<F, Fut>(name: &str, callers: usize, n: usize, call: F)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..callers {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(n / callers);
            for i in 0..n / callers {
                let sent = Instant::now();
                call(task, i).await;
                samples.push(sent.elapsed());
            }
            samples
        }));
    }
    let mut samples: Vec<Duration> = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    println!(
        "{name:<40} {:.0}/s",
        samples.len() as f64 / started.elapsed().as_secs_f64()
    );
    report(&format!("{name}: latency"), &mut samples);
}

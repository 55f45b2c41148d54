//! Several instances, one truth: three `meritree serve` on one PostgreSQL
//! and one Redis behind HAProxy, under a mixed load (sign-ins, AI requests
//! against a fake upstream, submissions, credits, claims) while a random
//! instance is killed with SIGKILL every few seconds and started again.
//! Afterwards: no acknowledged credit lost or doubled, every balance the
//! sum of its entries, every round's root published once, the platform's
//! nonces without gaps or duplicates, every claim paid once. Prints the
//! load held and the error rate clients saw.
//!
//! `scripts/scale-test [SECONDS]` runs it for longer than the test
//! command's bounded run (`MERITREE_SCALE_SECS`, default 40).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::contracts::{RewardDistributor, RewardToken};
use meritree_store::testing::TestDatabase;
use meritree_store::{Backend, DatabaseTarget};
use serde_json::{json, Value};

use crate::chain_deploy::setting;
use crate::crash::{judged_by, kill_9, serve_with, until, Process};
use crate::fake_judge::{scores, start_judge};
use crate::helpers::{wallet_sign_in_at, Session, TestWallet, PASSWORD};
use crate::nodes::free_port;

const INSTANCES: usize = 3;
const MEMBERS: usize = 6;
const KILL_EVERY: Duration = Duration::from_secs(4);

/// Requests as clients saw them.
#[derive(Default)]
struct Load {
    requests: AtomicU64,
    /// 5xx answers and requests that got no answer.
    errors: AtomicU64,
}

impl Load {
    /// Sends `request` until it gets an answer below 500 (at most `tries`
    /// times; the same body, so the same idempotency key). Every attempt
    /// counts as a request; failed ones as errors.
    async fn send(
        &self,
        tries: u32,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Option<reqwest::Response> {
        for _ in 0..tries {
            self.requests.fetch_add(1, Ordering::Relaxed);
            match request().send().await {
                Ok(response) if response.status().as_u16() < 500 => return Some(response),
                _ => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        None
    }
}

/// The instances and the load balancer; everything is killed when dropped.
struct Cluster {
    // Fields drop in this order: the processes before their directories.
    servers: Vec<Option<Process>>,
    /// Held only to be killed when the cluster is dropped, as the servers are.
    _haproxy: Process,
    dirs: Vec<tempfile::TempDir>,
    ports: Vec<u16>,
    database: String,
    key: String,
    /// The sealing key every instance shares.
    secrets: String,
}

impl Cluster {
    fn start_instance(&mut self, i: usize) {
        let (child, _) = serve_with(
            self.dirs[i].path(),
            &self.database,
            self.ports[i],
            &[
                ("MERITREE_CHAIN_KEY", &self.key),
                ("MERITREE_SECRETS_KEY", &self.secrets),
            ],
        );
        self.servers[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].take() {
            kill_9(&mut child);
        }
    }
}

fn haproxy_config(lb_port: u16, ports: &[u16]) -> String {
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("    server i{i} 127.0.0.1:{port} check\n"))
        .collect();
    format!(
        "global\n    maxconn 2048\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         \x20   retries 3\n    option redispatch\n    option forwardfor\n\
         frontend meritree\n    bind 127.0.0.1:{lb_port}\n    default_backend instances\n\
         backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n\
         \x20   default-server inter 300ms fall 1 rise 1\n{servers}"
    )
}

fn config(lb: &str, redis: &str, judge: &str, chain: &str) -> String {
    let judged = judged_by(judge);
    format!(
        r#"
{chain}

[server]
public_url = "{lb}"
trusted_proxy_hops = 1

[cache]
redis_url = "{redis}"

[rate_limits]
register_per_ip_per_hour = 100000
sign_in_per_ip_per_minute = 100000
sign_in_per_email_per_hour = 100000
nonce_per_ip_per_minute = 100000
api_per_account_per_minute = 100000

[rewards]
round_secs = 4

{judged}"#
    )
    .replace("[chain]\n", "[chain]\ntick_secs = 1\nbump_after_secs = 2\n")
}

/// `meritree chain deploy` on `rpc`; the configuration it prints.
fn deploy(rpc: &str, key: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_meritree"))
        .env_clear()
        .env("MERITREE_CHAIN_KEY", key)
        // Claims follow their round within seconds here; the timelock has
        // its own tests.
        .args(["chain", "deploy", "--rpc", rpc, "--root-timelock-secs", "0"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

async fn register(load: &Load, client: &reqwest::Client, lb: &str, email: &str) -> Session {
    let mut session = Session::default();
    let response = load
        .send(20, || {
            client
                .post(format!("{lb}/api/v1/auth/register"))
                .header("origin", lb)
                .json(&json!({"email": email, "password": PASSWORD}))
        })
        .await
        .expect("registered");
    if response.status() == 409 {
        // A retry after the first attempt was written and its answer lost.
        let signed_in = load
            .send(20, || {
                client
                    .post(format!("{lb}/api/v1/auth/login"))
                    .header("origin", lb)
                    .json(&json!({"email": email, "password": PASSWORD}))
            })
            .await
            .expect("signed in");
        assert_eq!(signed_in.status(), 200, "{email}");
        session.absorb(&signed_in);
        return session;
    }
    assert_eq!(response.status(), 201, "{email}");
    session.absorb(&response);
    session
}

/// A member's loop: a handle and a key, then AI calls, submissions and
/// sign-ins until `stop`.
async fn member(load: Arc<Load>, lb: String, i: usize, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::new();
    let email = format!("member{i}@example.org");
    let session = register(&load, &client, &lb, &email).await;
    let cookie = session.cookie_header();
    load.send(20, || {
        client
            .put(format!("{lb}/api/v1/user/handle"))
            .header("origin", &lb)
            .header("cookie", &cookie)
            .json(&json!({"handle": format!("member{i}")}))
    })
    .await
    .expect("handle");
    let key: Value = load
        .send(20, || {
            client
                .post(format!("{lb}/api/v1/user/api-keys"))
                .header("origin", &lb)
                .header("cookie", &cookie)
                .json(&json!({"name": "load", "scopes": ["ai", "submit"]}))
        })
        .await
        .expect("an API key")
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", key["key"].as_str().expect("the key's secret"));
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        load.send(3, || {
            client
                .post(format!("{lb}/v1/chat/completions"))
                .header("authorization", &bearer)
                .json(&json!({"model": "judge/judge-1", "messages": [{"role": "user", "content": "Hello"}]}))
        })
        .await;
        if n % 3 == 0 {
            let body = json!({
                "title": format!("Work {i}.{n}"),
                "body": format!("Member {i} writes piece {n} about tides, frost and bread number {n}"),
                "idempotency_key": format!("work-{n}"),
            });
            load.send(10, || {
                client
                    .post(format!("{lb}/api/v1/submissions"))
                    .header("authorization", &bearer)
                    .json(&body)
            })
            .await;
        }
        if n % 5 == 0 {
            load.send(3, || {
                client
                    .post(format!("{lb}/api/v1/auth/login"))
                    .header("origin", &lb)
                    .json(&json!({"email": email, "password": PASSWORD}))
            })
            .await;
        }
    }
}

/// A wallet member's loop: claims whatever is claimable, with a new key
/// each time (a retry keeps its key).
async fn claimer(load: Arc<Load>, lb: String, wallet: TestWallet, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::new();
    let mut session = None;
    while session.is_none() {
        let (response, signed_in) = wallet_sign_in_at(&client, &lb, &wallet).await;
        load.requests.fetch_add(1, Ordering::Relaxed);
        if response.status() == 200 {
            session = Some(signed_in);
        } else {
            load.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let cookie = session.unwrap().cookie_header();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({"idempotency_key": format!("claim-{n}")});
        load.send(10, || {
            client
                .post(format!("{lb}/api/v1/user/claims"))
                .header("origin", &lb)
                .header("cookie", &cookie)
                .json(&body)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// The admin's loop: credits to the members and wallets; returns every
/// credit the platform acknowledged (key → account, amount).
async fn crediter(
    load: Arc<Load>,
    lb: String,
    session: Session,
    accounts: Vec<String>,
    stop: Arc<AtomicBool>,
) -> BTreeMap<String, (String, i64)> {
    let client = reqwest::Client::new();
    let cookie = session.cookie_header();
    let mut acknowledged = BTreeMap::new();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let account = &accounts[(n as usize * 7) % accounts.len()];
        let amount = (n % 5 + 1) as i64;
        let key = format!("credit-{n}");
        let body = json!({"account_id": account, "amount": amount, "reason": "task_reward", "idempotency_key": key});
        let answer = load
            .send(10, || {
                client
                    .post(format!("{lb}/api/v1/admin/points"))
                    .header("origin", &lb)
                    .header("cookie", &cookie)
                    .json(&body)
            })
            .await;
        if let Some(response) = answer {
            assert!(
                response.status().is_success(),
                "credit refused: {}",
                response.text().await.unwrap_or_default()
            );
            acknowledged.insert(key, (account.clone(), amount));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_behind_haproxy_lose_nothing_while_killed_at_random() {
    let secs: u64 = std::env::var("MERITREE_SCALE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let redis = std::env::var("MERITREE_TEST_REDIS_URL")
        .expect("MERITREE_TEST_REDIS_URL: a Redis server (scripts/test starts one)");
    let db = TestDatabase::fresh(Backend::Postgres).await;
    let DatabaseTarget::Postgres(database) = db.target.clone() else {
        unreachable!()
    };
    let pool = sqlx::PgPool::connect(&database).await.unwrap();

    // One chain, the contracts deployed by the command operators use, and
    // the distributor funded by the token's admin.
    let binary = anvil::binary_for_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let chain = Anvil::start(&AnvilOptions::new(binary)).await.unwrap();
    let key = anvil::DEV_KEY_0.to_owned();
    let deployed = deploy(chain.url(), &key);
    let distributor_address = Address::from_str(setting(&deployed, "distributor_address")).unwrap();
    let token_address = Address::from_str(setting(&deployed, "token_address")).unwrap();
    let signer = PrivateKeySigner::from_str(&key).unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_http(chain.url().parse().unwrap());
    let token = RewardToken::new(token_address, &provider);
    token
        .mint(distributor_address, U256::from(10).pow(U256::from(30)))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let nonce_before = provider
        .get_transaction_count(signer.address())
        .await
        .unwrap();

    let (judge_url, _judge) = start_judge(scores(8, 7, 6)).await;
    let lb_port = free_port();
    let lb = format!("http://127.0.0.1:{lb_port}");
    let ports: Vec<u16> = (0..INSTANCES).map(|_| free_port()).collect();
    let dirs: Vec<tempfile::TempDir> = (0..INSTANCES)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let settings = config(&lb, &redis, &judge_url, &deployed);
    for dir in &dirs {
        std::fs::write(dir.path().join("meritree.toml"), &settings).unwrap();
    }
    let haproxy_cfg = dirs[0].path().join("haproxy.cfg");
    std::fs::write(&haproxy_cfg, haproxy_config(lb_port, &ports)).unwrap();
    let haproxy: Process = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&haproxy_cfg)
        .stdout(Stdio::null())
        .spawn()
        .expect("haproxy (scripts/setup installs it)")
        .into();
    let cluster = Arc::new(Mutex::new(Cluster {
        dirs,
        ports,
        servers: (0..INSTANCES).map(|_| None).collect(),
        _haproxy: haproxy,
        database: database.clone(),
        key,
        secrets: meritree_platform::sealing::SealingKey::generate_hex(),
    }));
    // The first applies the migrations alone; the others join it.
    for i in 0..INSTANCES {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || cluster.lock().unwrap().start_instance(i))
            .await
            .unwrap();
    }
    let client = reqwest::Client::new();
    until("the load balancer to answer", async || {
        let ready = client.get(format!("{lb}/readyz")).send().await.ok()?;
        ready.status().is_success().then_some(())
    })
    .await;

    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let admin = register(&load, &client, &lb, "admin@example.org").await;
    sqlx::query("UPDATE accounts SET role = 'admin' WHERE email = 'admin@example.org'")
        .execute(&pool)
        .await
        .unwrap();
    let mut admin_session = Session::default();
    let signed_in = load
        .send(20, || {
            client
                .post(format!("{lb}/api/v1/auth/login"))
                .header("origin", &lb)
                .json(&json!({"email": "admin@example.org", "password": PASSWORD}))
        })
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    admin_session.absorb(&signed_in);
    drop(admin);

    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..MEMBERS {
        workers.push(tokio::spawn(member(
            load.clone(),
            lb.clone(),
            i,
            stop.clone(),
        )));
    }
    let wallets: Vec<Address> = (1..=2).map(|i| TestWallet::anvil(i).address).collect();
    for i in 1..=2 {
        workers.push(tokio::spawn(claimer(
            load.clone(),
            lb.clone(),
            TestWallet::anvil(i),
            stop.clone(),
        )));
    }
    // Credits go to the wallets (which claim them) and to members.
    let accounts = until("the members and wallets to have accounts", async || {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM accounts WHERE role = 'member' AND (email IS NULL OR email LIKE 'member%')",
        )
        .fetch_all(&pool)
        .await
        .ok()?;
        (rows.len() == MEMBERS + wallets.len()).then(|| rows.into_iter().map(|(id,)| id).collect::<Vec<_>>())
    })
    .await;
    let credits = tokio::spawn(crediter(
        load.clone(),
        lb.clone(),
        admin_session,
        accounts,
        stop.clone(),
    ));

    // Kill a random instance every few seconds and start it again.
    let mut kills = 0;
    let mut seed: u64 = 0x5eed;
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(KILL_EVERY).await;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let victim = (seed >> 33) as usize % INSTANCES;
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            let mut cluster = cluster.lock().unwrap();
            cluster.kill(victim);
            std::thread::sleep(Duration::from_millis(300));
            cluster.start_instance(victim);
        })
        .await
        .unwrap();
        kills += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged = credits.await.unwrap();
    let requests = load.requests.load(Ordering::Relaxed);
    let errors = load.errors.load(Ordering::Relaxed);

    // Everything credited settles: the round open now closes, its root is
    // confirmed, and the outbox empties.
    let (last,): (i64,) = sqlx::query_as("SELECT MAX(number) FROM rounds")
        .fetch_one(&pool)
        .await
        .unwrap();
    until_long(
        "the last round to be confirmed and the outbox to empty",
        async || {
            let (status,): (String,) =
                sqlx::query_as("SELECT status FROM rounds WHERE number = $1")
                    .bind(last)
                    .fetch_one(&pool)
                    .await
                    .ok()?;
            let (moving,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM chain_txs WHERE status IN ('queued', 'sent', 'mined')",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (status == "confirmed" && moving == 0).then_some(())
        },
    )
    .await;

    // No acknowledged credit lost or doubled.
    for (key, (account, amount)) in &acknowledged {
        let (count, sum): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), SUM(amount)::BIGINT FROM points_entries WHERE account_id = $1 AND idempotency_key = $2",
        )
        .bind(account)
        .bind(key)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((count, sum), (1, Some(*amount)), "credit {key}");
    }
    // Every balance is the sum of its entries.
    let (off,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT e.account_id, SUM(e.amount) AS total FROM points_entries e \
         GROUP BY e.account_id) s FULL JOIN points_balances b ON b.account_id = s.account_id \
         WHERE COALESCE(b.balance, 0) <> COALESCE(s.total, 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(off, 0, "balances that are not the sum of their entries");

    // Every round's root published once, in order, and the chain holds the last.
    let distributor = RewardDistributor::new(distributor_address, &provider);
    // Read before the events, which then include it.
    let on_chain = distributor.round().call().await.unwrap();
    let updates = distributor
        .RootUpdated_filter()
        .from_block(0)
        .query()
        .await
        .unwrap();
    let published: Vec<u64> = updates.iter().map(|(event, _)| event.round).collect();
    let distinct: BTreeSet<u64> = published.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        published.len(),
        "a round published twice: {published:?}"
    );
    assert!(published.windows(2).all(|w| w[0] < w[1]), "{published:?}");
    let (confirmed,): (i64,) =
        sqlx::query_as("SELECT MAX(number) FROM rounds WHERE status = 'confirmed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // Settlement goes on: a later round may have landed since.
    assert!(on_chain >= confirmed as u64, "{on_chain} < {confirmed}");
    assert!(
        published.contains(&on_chain),
        "{on_chain} not in {published:?}"
    );

    // The platform's nonces: each used once, none skipped, all on chain.
    // Rounds keep closing, so a snapshot is taken between two of them: every
    // transaction final and the chain's count of them the same. A gap or a
    // duplicate never reaches that state, and the wait fails.
    let nonces = until(
        "every transaction of the platform to be final and on chain",
        async || {
            let nonces: Vec<(i64, String)> = sqlx::query_as(
                "SELECT nonce, status FROM chain_txs WHERE nonce IS NOT NULL ORDER BY nonce",
            )
            .fetch_all(&pool)
            .await
            .ok()?;
            let on_chain = provider
                .get_transaction_count(signer.address())
                .await
                .ok()?;
            let settled = nonces.iter().all(|(_, status)| status == "confirmed")
                && on_chain == nonce_before + nonces.len() as u64;
            settled.then_some(nonces)
        },
    )
    .await;
    let expected: Vec<i64> =
        (nonce_before as i64..nonce_before as i64 + nonces.len() as i64).collect();
    assert_eq!(
        nonces.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        expected,
        "nonces in order, no gap"
    );

    // Every claim paid once: each wallet holds what the distributor says it
    // claimed, claimed in strictly growing cumulative steps.
    let claimed_events = distributor
        .Claimed_filter()
        .from_block(0)
        .query()
        .await
        .unwrap();
    let mut paid = 0;
    for wallet in &wallets {
        let steps: Vec<U256> = claimed_events
            .iter()
            .filter(|(event, _)| event.account == *wallet)
            .map(|(event, _)| event.cumulativeAmount)
            .collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "a claim paid twice: {steps:?}"
        );
        let claimed = distributor.claimed(*wallet).call().await.unwrap();
        assert_eq!(token.balanceOf(*wallet).call().await.unwrap(), claimed);
        assert_eq!(steps.last().copied().unwrap_or_default(), claimed);
        paid += steps.len();
    }

    // How often the settlement lease changed hands (a killed holder's
    // lease taken over by another instance).
    let (fence,): (i64,) = sqlx::query_as("SELECT fence FROM leases WHERE name = 'settlement'")
        .fetch_one(&pool)
        .await
        .unwrap();

    println!(
        "scale test: {INSTANCES} instances behind HAProxy for {:.0} s, {kills} SIGKILLs, \
         the settlement lease taken {fence} times; \
         {requests} requests ({:.0}/s), {errors} errors ({:.2}%); {} credits acknowledged, \
         {} roots published, {paid} claims paid, {} transactions",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        100.0 * errors as f64 / requests.max(1) as f64,
        acknowledged.len(),
        published.len(),
        nonces.len(),
    );
    assert!(!acknowledged.is_empty() && paid > 0 && kills > 0);
    chain.stop().await;
}

/// [`until`] with the time settlement needs after the load: the last round
/// closes, its root is mined and confirmed.
async fn until_long(what: &str, mut check: impl AsyncFnMut() -> Option<()>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if check().await.is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "{what} within 120 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

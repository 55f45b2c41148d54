//! Authentication costs, printed as numbers (run: `scripts/bench auth`).
//!
//! - password hashing and verification (Argon2id, the production parameters);
//! - access-token verification (the per-request cost of a signed-in call);
//! - sign-in throughput and latency over HTTP against the real application
//!   on the embedded default (SQLite), with several clients at once.

use std::time::{Duration, Instant};

use meritree_core::accounts::Role;
use meritree_platform::accounts::password;
use meritree_platform::sessions::{AccessClaims, AccessTokenKey};
use server::configuration::Settings;
use server::startup::Application;

use crate::support::{self, report};

pub async fn run() {
    // Argon2id, one hash at a time.
    let mut hashes = Vec::new();
    let mut stored = String::new();
    for _ in 0..30 {
        let started = Instant::now();
        stored = password::hash("correct horse battery staple".into()).await;
        hashes.push(started.elapsed());
    }
    report("argon2id hash (19 MiB, t=2, p=1)", &mut hashes);
    let mut verifies = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        assert!(
            password::verify("correct horse battery staple".into(), Some(stored.clone())).await
        );
        verifies.push(started.elapsed());
    }
    report("argon2id verify", &mut verifies);

    // Access-token check: what every authenticated request pays.
    let key = AccessTokenKey::new(&[7; 32]);
    let token = key.sign(&AccessClaims {
        sub: "00000000-0000-4000-8000-000000000000".into(),
        role: Role::Member,
        sid: "00000000-0000-4000-8000-000000000001".into(),
        iat: 0,
        exp: i64::MAX,
        jti: "bench".into(),
    });
    let mut checks = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let started = Instant::now();
        std::hint::black_box(key.verify(std::hint::black_box(&token), 1).unwrap());
        checks.push(started.elapsed());
    }
    report("access token verify (HS256)", &mut checks);

    // Sign-in over HTTP.
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = data.path().to_owned();
    settings.log.filter = "warn".into();
    // Measures the work, not the limiter: one IP signs in thousands of times.
    settings.rate_limits.enabled = false;
    // No chain: these measure HTTP, auth and AI, not settlement.
    settings.chain.embedded = false;
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let credentials = serde_json::json!({ "email": "bench@example.org", "password": "correct horse battery staple" });
    let created = client
        .post(format!("{url}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    for concurrency in [1_usize, 4, 16] {
        let duration = Duration::from_secs(5);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, url, credentials) = (client.clone(), url.clone(), credentials.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{url}/api/v1/auth/login"))
                        .json(&credentials)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    latencies.push(sent.elapsed());
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let rate = all.len() as f64 / started.elapsed().as_secs_f64();
        report(
            &format!("HTTP sign-in, {concurrency} clients ({rate:.1}/s)"),
            &mut all,
        );
    }

    // An authenticated request end to end, for the token check in context.
    let login = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    let access = support::access_token(&login);
    for (path, name) in [
        ("/healthz", "GET /healthz (no auth), 1 client"),
        ("/api/v1/user/me", "GET /api/v1/user/me (token + 1 query)"),
    ] {
        let mut requests = Vec::with_capacity(5_000);
        for _ in 0..5_000 {
            let sent = Instant::now();
            let response = client
                .get(format!("{url}{path}"))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            requests.push(sent.elapsed());
        }
        report(name, &mut requests);
    }
}

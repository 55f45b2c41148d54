//! One leaderboard event delivered to many connected sockets, printed as
//! numbers (run: `scripts/bench live`; `LIVE_CLIENTS=…`
//! for another count than 10,000).
//!
//! The platform serves on SQLite in this process; the sockets are opened by
//! a second copy of this program (`sockets_process`) (a process holds at most 20,000 files
//! here, and 10,000 sockets need that many on each side). Once every
//! socket is open, the server publishes what one scored entry changes on a
//! full leaderboard (200 entries, the size `/rounds/{n}` shows), and each
//! socket notes when it arrived; the
//! latencies are measured from the wall clock both processes share.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use meritree_core::live::{Audience, LiveEvent};
use meritree_core::submissions::leaderboard;
use meritree_core::submissions::{EntryView, SubmissionStatus};
use server::configuration::Settings;
use server::startup::Application;

use crate::support::{percentile, resident_mib};

const CLIENT_URL: &str = "LIVE_CLIENT_URL";
/// Sockets opened at once while connecting (the listen backlog is 4,096).
const CONNECTING: usize = 256;

fn micros_now() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

fn clients() -> usize {
    std::env::var("LIVE_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// The sockets' process: this same binary, started by [`run`] with the
/// server's address in [`CLIENT_URL`].
pub fn sockets_process() -> Option<impl std::future::Future<Output = ()>> {
    let url = std::env::var(CLIENT_URL).ok()?;
    Some(async move { sockets(&url, clients()).await })
}

pub async fn run() {
    server(clients()).await
}

/// The server side: serve, start the sockets' process, publish, report.
async fn server(clients: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = dir.path().to_owned();
    settings.log.filter = "warn".into();
    settings.rate_limits.enabled = false;
    settings.chain.embedded = false;
    settings.ai.local.enabled = false;
    let app = Application::build(settings).await.unwrap();
    let platform = app.platform().clone();
    let url = format!("ws://{}/api/v1/ws", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CLIENT_URL, &url)
        .env("LIVE_CLIENTS", clients.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut from_child = BufReader::new(child.stdout.take().unwrap());
    let mut to_child = child.stdin.take().unwrap();
    let mut line = String::new();
    from_child.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "open", "the sockets' process said {line:?}");
    // Each socket subscribes just after its upgrade answer: let the last
    // ones catch up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // What an announcement sends after one entry was scored into a full
    // board of 200: that entry, and the one it pushed off the bottom.
    let entry = |i: u32| EntryView {
        id: format!("0190c4a2-7d3e-7a31-9f1e-{i:012}").into(),
        round: 1,
        author: Some(format!("member{i}")),
        title: format!("Entry number {i}: a title of a usual length"),
        status: SubmissionStatus::Scored,
        score: Some(90 - (i % 200) / 4),
        reward: None,
        created_at: 1_767_000_000 + i64::from(i),
    };
    let before: Vec<EntryView> = (0..200).map(entry).collect();
    let mut after = before.clone();
    after.push(EntryView {
        score: Some(88),
        ..entry(200)
    });
    leaderboard::sort(&mut after);
    after.truncate(200);
    let change = leaderboard::diff(&before, &after);
    let digest = leaderboard::digest(&after);
    let published = micros_now();
    platform.hub().publish(
        Audience::Everyone,
        LiveEvent::Leaderboard {
            round: 1,
            change,
            digest,
        },
    );
    writeln!(to_child, "{published}").unwrap();
    line.clear();
    from_child.read_line(&mut line).unwrap();
    print!("{line}");
    println!(
        "server resident memory with the sockets open   {:.0} MiB",
        resident_mib()
    );
    child.wait().unwrap();
}

/// The sockets' side: open them all, say so, time the leaderboard's
/// arrival on each, and report once told when it was published.
async fn sockets(url: &str, clients: usize) {
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::with_capacity(clients)));
    let (opened_tx, mut opened) = tokio::sync::mpsc::channel::<()>(clients);
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING));
    for _ in 0..clients {
        let (url, arrivals, opened_tx, gate) = (
            url.to_owned(),
            arrivals.clone(),
            opened_tx.clone(),
            gate.clone(),
        );
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .expect("socket opens");
            drop(permit);
            opened_tx.send(()).await.unwrap();
            while let Some(frame) = socket.next().await {
                let frame = frame.expect("socket stays open");
                if frame.is_text() && frame.to_text().unwrap().contains("\"leaderboard\"") {
                    arrivals.lock().unwrap().push(micros_now());
                    break;
                }
            }
            // Held open until the process ends.
            std::future::pending::<()>().await;
        });
    }
    for _ in 0..clients {
        opened.recv().await.unwrap();
    }
    println!("open");
    std::io::stdout().flush().unwrap();

    let published: u64 = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < clients && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies: Vec<Duration> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|at| Duration::from_micros(at.saturating_sub(published)))
        .collect();
    let received = latencies.len();
    let p50 = percentile(&mut latencies, 0.50);
    let p99 = percentile(&mut latencies, 0.99);
    let last = latencies.last().copied().unwrap_or_default();
    println!(
        "a leaderboard change (one entry in, one out of 200) to {clients} sockets: {received} received, p50 {p50:.1?}, p99 {p99:.1?}, last {last:.1?}"
    );
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

//! The real binary: configuration errors, migrate, and SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn meritree() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meritree"));
    // Only what each test sets; nothing from the developer's shell.
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

#[test]
fn an_invalid_configuration_exits_with_status_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let output = meritree()
        .current_dir(dir.path())
        .env("MERITREE_SERVER__PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(stderr.contains("port"), "{stderr}");
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let status = meritree()
        .current_dir(dir.path())
        .arg("migrate")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.path().join("data/meritree.db").is_file());
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = meritree()
        .current_dir(dir.path())
        .env("MERITREE_SERVER__PORT", "0")
        .env("MERITREE_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the "listening" line, then ask it to stop.
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("\"listening\""))
        .expect("the server logs where it listens");
    assert!(listening.contains("127.0.0.1:"), "{listening}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());

    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("\"stopped\"")), "{rest:?}");
}

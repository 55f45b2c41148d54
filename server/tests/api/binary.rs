//! The real binary: configuration errors, migrate, and SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::crash::Process;

fn meritree() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meritree"));
    // Only what each test sets; nothing from the developer's shell.
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // No local chain: these tests are about the process, not settlement.
        .env("MERITREE_CHAIN__EMBEDDED", "false");
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

type LogLines = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

/// Starts `meritree serve` in `dir` on a free port and waits until it
/// listens. Returns the process, its URL and the rest of its JSON log.
fn serve_in(dir: &std::path::Path) -> (Process, String, LogLines) {
    let mut child: Process = meritree()
        .current_dir(dir)
        .env("MERITREE_SERVER__PORT", "0")
        .env("MERITREE_LOG__FORMAT", "json")
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
    let event: serde_json::Value = serde_json::from_str(&listening).unwrap();
    let url = event["url"]
        .as_str()
        .expect("the listening line names the URL")
        .to_owned();
    (child, url, lines)
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, lines) = serve_in(dir.path());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

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

/// `meritree admin create` makes an admin whose sign-in needs the printed
/// TOTP secret, and admins cannot turn two-factor off.
#[tokio::test]
async fn an_admin_created_on_the_command_line_signs_in_with_two_factors() {
    let dir = tempfile::tempdir().unwrap();
    let output = meritree()
        .current_dir(dir.path())
        .args(["admin", "create", "--email", "Root@Example.org"])
        .env("MERITREE_ADMIN_PASSWORD", crate::helpers::PASSWORD)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let secret = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .expect("the secret is printed")
        .to_owned();

    let again = meritree()
        .current_dir(dir.path())
        .args(["admin", "create", "--email", "root@example.org"])
        .env("MERITREE_ADMIN_PASSWORD", crate::helpers::PASSWORD)
        .output()
        .unwrap();
    assert!(!again.status.success(), "the email is taken");

    let (mut child, url, _log) = serve_in(dir.path());

    let client = reqwest::Client::new();
    let login = |body: serde_json::Value| {
        client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&body)
            .send()
    };
    let without = login(
        serde_json::json!({ "email": "root@example.org", "password": crate::helpers::PASSWORD }),
    )
    .await
    .unwrap();
    assert_eq!(crate::helpers::error_code(without).await, "totp_required");
    let code = crate::helpers::totp_code(&secret, crate::helpers::unix_now());
    let with = login(serde_json::json!({
        "email": "root@example.org", "password": crate::helpers::PASSWORD, "totp_code": code
    }))
    .await
    .unwrap();
    assert_eq!(with.status(), 200);
    let access = with
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| v.to_str().unwrap().strip_prefix("mt_access="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let info: serde_json::Value = with.json().await.unwrap();
    assert_eq!(info["account"]["role"], "admin");

    let disable = client
        .post(format!("{url}/api/v1/user/totp/disable"))
        .bearer_auth(access)
        .json(&serde_json::json!({ "code": "000000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::error_code(disable).await,
        "totp_required_for_admins"
    );

    // A recovery code printed with the secret stands in for a code, once.
    let recovery: Vec<String> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 19 && l.matches('-').count() == 3)
        .map(str::to_owned)
        .collect();
    assert_eq!(recovery.len(), 10, "{stdout}");
    let with_recovery = serde_json::json!({
        "email": "root@example.org", "password": crate::helpers::PASSWORD,
        "totp_code": recovery[0].to_lowercase()
    });
    assert_eq!(login(with_recovery.clone()).await.unwrap().status(), 200);
    let reused = login(with_recovery).await.unwrap();
    assert_eq!(crate::helpers::error_code(reused).await, "invalid_totp");

    // The authenticator and the codes lost: the operator resets the factor.
    // An admin gets a new one; the old secret's codes stop working.
    let reset = meritree()
        .current_dir(dir.path())
        .args(["admin", "reset-totp", "--email", "root@example.org"])
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let reset_out = String::from_utf8_lossy(&reset.stdout);
    let new_secret = reset_out
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .expect("the new secret is printed")
        .to_owned();
    assert_ne!(new_secret, secret);
    let old = login(serde_json::json!({
        "email": "root@example.org", "password": crate::helpers::PASSWORD,
        "totp_code": crate::helpers::totp_code(&secret, crate::helpers::unix_now() + 30)
    }))
    .await
    .unwrap();
    assert_eq!(crate::helpers::error_code(old).await, "invalid_totp");
    let old_recovery = login(serde_json::json!({
        "email": "root@example.org", "password": crate::helpers::PASSWORD, "totp_code": recovery[1]
    }))
    .await
    .unwrap();
    assert_eq!(
        crate::helpers::error_code(old_recovery).await,
        "invalid_totp"
    );
    let fresh = login(serde_json::json!({
        "email": "root@example.org", "password": crate::helpers::PASSWORD,
        "totp_code": crate::helpers::totp_code(&new_secret, crate::helpers::unix_now())
    }))
    .await
    .unwrap();
    assert_eq!(fresh.status(), 200);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

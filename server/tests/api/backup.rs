//! `meritree backup` while the platform serves, `meritree restore` into a
//! fresh data directory: the platform comes back with the same accounts,
//! balances, sessions and pictures. And PostgreSQL's own procedure
//! (pg_dump, pg_restore) brings back the same.

use std::path::Path;
use std::process::{Command, Output};

use meritree_core::points::PointsReason;
use meritree_platform::points::PointsPosting;
use meritree_platform::Platform;
use meritree_store::testing::TestDatabase;
use meritree_store::{Backend, Database, DatabaseTarget, PoolOptions};
use serde_json::{json, Value};

use crate::crash::{kill_9, options_beside, serve};
use crate::helpers::{Session, PASSWORD};
use crate::images::{encode, picture};

const CONFIG: &str = "[chain]\nembedded = false\n\n[ai.local]\nenabled = false\n";

fn meritree(dir: &Path, database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meritree"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MERITREE_STORAGE__DATABASE_URL", database)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Ada with 42 points and a picture; her session and the picture's id.
async fn ada_with_points_and_a_picture(
    url: &str,
    target: &DatabaseTarget,
    dir: &Path,
) -> (Session, String) {
    let client = reqwest::Client::new();
    let mut session = Session::default();
    let registered = client
        .post(format!("{url}/api/v1/auth/register"))
        .header("origin", url)
        .json(&json!({"email": "ada@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    session.absorb(&registered);
    let me: Value = registered.json().await.unwrap();
    let store = Database::connect(target, PoolOptions::default())
        .await
        .unwrap();
    Platform::start(store.clone(), options_beside(dir))
        .await
        .unwrap()
        .points()
        .post(PointsPosting {
            account_id: me["account"]["id"].as_str().unwrap(),
            amount: 42,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: "task:1",
        })
        .await
        .unwrap();
    store.close().await;
    let uploaded = client
        .post(format!("{url}/api/v1/images"))
        .header("origin", url)
        .header("cookie", session.cookie_header())
        .header("content-type", "image/png")
        .body(encode(&picture(64, 48), image::ImageFormat::Png))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let image: Value = uploaded.json().await.unwrap();
    (session, image["id"].as_str().unwrap().to_owned())
}

/// What Ada sees: her balance (through her old session) and her picture.
async fn what_ada_sees(url: &str, session: &Session, image: &str) -> (i64, u16) {
    let client = reqwest::Client::new();
    let points: Value = client
        .get(format!("{url}/api/v1/user/points"))
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let picture = client
        .get(format!("{url}/images/{image}"))
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap();
    (
        points["balance"].as_i64().unwrap_or(-1),
        picture.status().as_u16(),
    )
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_fresh_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meritree.toml"), CONFIG).unwrap();
    let file = dir.path().join("data/meritree.db");
    let database = format!("sqlite:{}", file.display());
    let (mut server, url) = serve(dir.path(), &database);
    let (session, image) =
        ada_with_points_and_a_picture(&url, &DatabaseTarget::SqliteFile(file.clone()), dir.path())
            .await;
    assert_eq!(what_ada_sees(&url, &session, &image).await, (42, 200));

    let backup = dir.path().join("meritree-backup.tar");
    let made = meritree(
        dir.path(),
        &database,
        &["backup", "--to", backup.to_str().unwrap()],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let again = meritree(
        dir.path(),
        &database,
        &["backup", "--to", backup.to_str().unwrap()],
    );
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    kill_9(&mut server);

    let fresh = tempfile::tempdir().unwrap();
    std::fs::write(fresh.path().join("meritree.toml"), CONFIG).unwrap();
    let restored_db = format!("sqlite:{}", fresh.path().join("data/meritree.db").display());
    let restored = meritree(
        fresh.path(),
        &restored_db,
        &["restore", "--from", backup.to_str().unwrap()],
    );
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let twice = meritree(
        fresh.path(),
        &restored_db,
        &["restore", "--from", backup.to_str().unwrap()],
    );
    assert!(
        !twice.status.success(),
        "a data directory in use is not overwritten without --force"
    );
    assert!(String::from_utf8_lossy(&twice.stderr).contains("--force"));

    let (mut server, url) = serve(fresh.path(), &restored_db);
    assert_eq!(what_ada_sees(&url, &session, &image).await, (42, 200));
    kill_9(&mut server);
}

#[tokio::test]
async fn postgres_comes_back_whole_through_pg_dump_and_pg_restore() {
    let source = TestDatabase::fresh(Backend::Postgres).await;
    let DatabaseTarget::Postgres(source_url) = source.target.clone() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meritree.toml"), CONFIG).unwrap();
    let (mut server, url) = serve(dir.path(), &source_url);
    let (session, image) = ada_with_points_and_a_picture(&url, &source.target, dir.path()).await;
    kill_9(&mut server);

    // The README's procedure.
    let dump = dir.path().join("meritree.dump");
    let dumped = Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&source_url)
        .output()
        .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let target = TestDatabase::fresh(Backend::Postgres).await;
    let DatabaseTarget::Postgres(target_url) = target.target.clone() else {
        unreachable!()
    };
    let restored = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname", &target_url])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    let (mut server, url) = serve(dir.path(), &target_url);
    assert_eq!(what_ada_sees(&url, &session, &image).await, (42, 200));
    kill_9(&mut server);
}

#[test]
fn a_backup_holding_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meritree.toml"), CONFIG).unwrap();
    let crafted = dir.path().join("crafted.tar");
    let mut archive = tar::Builder::new(std::fs::File::create(&crafted).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    archive
        .append_link(&mut header, "anvil-state.json", "/etc/passwd")
        .unwrap();
    archive.finish().unwrap();
    drop(archive);
    let database = format!("sqlite:{}", dir.path().join("data/meritree.db").display());
    let refused = meritree(
        dir.path(),
        &database,
        &["restore", "--from", crafted.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("neither a file nor a directory"));
    assert!(!dir.path().join("data/anvil-state.json").exists());
}

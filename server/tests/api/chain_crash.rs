//! The real binary on its embedded chain, killed with SIGKILL right after
//! a round's root is confirmed: its anvil does not outlive it, the chain
//! comes back with the root, and the member's claim pays after a restart.

use std::path::Path;
use std::str::FromStr;

use alloy::primitives::U256;
use meritree_core::claims::{ClaimStatus, ClaimView, Claimable};
use meritree_core::points::PointsReason;
use meritree_platform::points::PointsPosting;
use meritree_platform::Platform;
use meritree_store::testing::TestDatabase;
use meritree_store::{rounds, test_both_backends, Backend, Database, DatabaseTarget, PoolOptions};
use serde_json::{json, Value};

use crate::crash::{kill_9, options_beside, serve, until};
use crate::helpers::{wallet_sign_in_at, Session, TestWallet};

fn config() -> String {
    let anvil =
        meritree_chain::anvil::binary_for_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    format!(
        r#"
[rewards]
round_secs = 2

[chain]
embedded = true
anvil_bin = "{}"
tick_secs = 1

[ai.local]
enabled = false
"#,
        anvil.display()
    )
}

/// Whether an anvil runs in `dir` (the server's working directory, which
/// its chain inherits).
fn chain_running_in(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let is_anvil = std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("anvil"));
            is_anvil && std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == dir)
        })
}

async fn claimable(client: &reqwest::Client, url: &str, session: &Session) -> Option<Claimable> {
    let response = client
        .get(format!("{url}/api/v1/user/claimable"))
        .header("cookie", session.cookie_header())
        .send()
        .await
        .ok()?;
    (response.status() == 200).then_some(())?;
    response.json().await.ok()
}

test_both_backends! {
    async fn the_embedded_chain_keeps_a_root_confirmed_just_before_a_kill_9(backend: Backend) {
        let db = TestDatabase::fresh(backend).await;
        let database = match &db.target {
            DatabaseTarget::SqliteFile(path) => format!("sqlite:{}", path.display()),
            DatabaseTarget::Postgres(url) => url.clone(),
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("meritree.toml"), config()).unwrap();
        let state = dir.path().join("data/anvil-state.json");
        let client = reqwest::Client::new();

        let (mut first, url) = serve(dir.path(), &database);
        let wallet = TestWallet::anvil(1);
        let (response, session) = wallet_sign_in_at(&client, &url, &wallet).await;
        assert_eq!(response.status(), 200);
        let me: Value = response.json().await.unwrap();
        let account_id = me["account"]["id"].as_str().unwrap().to_owned();
        let store = Database::connect(&db.target, PoolOptions::default()).await.unwrap();
        let platform = Platform::start(store.clone(), options_beside(dir.path())).await.unwrap();
        platform.points().post(PointsPosting {
            account_id: &account_id,
            amount: 5,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: "task:1",
        }).await.unwrap();
        let owed = U256::from(5) * U256::from(10).pow(U256::from(18));

        // The round paying the points is confirmed, and the server dies at once.
        let published = until("the points' root to be published", async || {
            claimable(&client, &url, &session).await
                .filter(|c| U256::from_str(&c.cumulative_amount).unwrap() == owed)
        }).await;
        until("its round to be confirmed", async || {
            let round = rounds::get(&store, published.round).await.ok()??;
            (round.status == "confirmed").then_some(())
        }).await;
        assert!(chain_running_in(dir.path()));
        kill_9(&mut first);
        until("the chain to stop with its server", async || (!chain_running_in(dir.path())).then_some(())).await;
        assert!(state.is_file(), "the chain saved its state on the way down");

        let (mut second, url) = serve(dir.path(), &database);
        let after = claimable(&client, &url, &session).await.expect("still claimable after the restart");
        // Later (empty) rounds may have closed since; the amount is the same.
        assert!(after.round >= published.round, "{after:?}");
        assert_eq!(after.claimable, owed.to_string());
        let claim = client.post(format!("{url}/api/v1/user/claims"))
            .header("origin", &url)
            .header("cookie", session.cookie_header())
            .json(&json!({"idempotency_key": "after-the-crash"}))
            .send().await.unwrap();
        assert_eq!(claim.status(), 202, "the chain holds the root: the claim is accepted");
        let claim: ClaimView = claim.json().await.unwrap();
        let done = until("the claim to be final", async || {
            let view: ClaimView = client.get(format!("{url}/api/v1/user/claims/{}", claim.id))
                .header("cookie", session.cookie_header())
                .send().await.ok()?.json().await.ok()?;
            view.status.is_final().then_some(view)
        }).await;
        assert_eq!((done.status, done.succeeded), (ClaimStatus::Confirmed, Some(true)));
        let paid = claimable(&client, &url, &session).await.unwrap();
        assert_eq!(paid.token_balance, owed.to_string(), "the wallet holds its tokens");
        kill_9(&mut second);
    }
}

//! Settlement rounds over HTTP. Time is driven by calling the platform's
//! tick with explicit instants; rounds are years long so that the
//! server's own settlement loop, on the real clock, never closes one.

use meritree_core::accounts::AccountView;
use meritree_core::eth::U256;
use meritree_core::merkle;
use meritree_core::points::{PointsOverview, PointsReason};
use meritree_core::rounds::{RewardsView, RoundStatus, RoundView, RoundsPage};
use meritree_platform::points::PointsPosting;
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app_with, unix_now, Session, TestApp, TestWallet};

const ROUND_SECS: u64 = 10 * 365 * 86_400;

async fn get_json<T: serde::de::DeserializeOwned>(
    app: &TestApp,
    path: &str,
    session: &Session,
) -> T {
    let response = app
        .request(Method::GET, path, session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn account_id(app: &TestApp, session: &Session) -> String {
    get_json::<AccountView>(app, "/api/v1/user/me", session)
        .await
        .id
        .to_string()
}

async fn credit(app: &TestApp, account_id: &str, amount: i64) {
    app.platform
        .points()
        .post(PointsPosting {
            account_id,
            amount,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: "task:1",
        })
        .await
        .unwrap();
}

test_both_backends! {
    async fn rounds_settle_into_the_public_export_and_rewards(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rewards.round_secs = ROUND_SECS).await;
        let wallet = TestWallet::anvil(0);
        let (response, ann) = app.wallet_sign_in(&wallet).await;
        assert_eq!(response.status(), 200);
        let ann_id = account_id(&app, &ann).await;
        let bob = app.register("bob@example.org").await;
        let bob_id = account_id(&app, &bob).await;
        let nobody = Session::default();

        app.platform.rounds().tick(unix_now() as i64).await.unwrap();
        let page: RoundsPage = get_json(&app, "/api/v1/rounds", &nobody).await;
        assert_eq!(page.rounds.len(), 1);
        let first = page.rounds[0].clone();
        assert_eq!((first.number, first.status, first.root.as_deref()), (1, RoundStatus::Open, None));
        let open_export = app.get("/api/v1/rounds/1/export").await;
        assert_eq!(open_export.status(), 404);
        assert_eq!(error_code(open_export).await, "not_found");

        credit(&app, &ann_id, 30).await;
        credit(&app, &bob_id, 50).await;
        let report = app.platform.rounds().tick(first.ends_at).await.unwrap();
        assert_eq!((report.closed, report.opened, report.settled), (vec![1], vec![2], 1));

        let export: serde_json::Value = get_json(&app, "/api/v1/rounds/1/export", &nobody).await;
        let amount = U256::from(30_u64) * U256::from(10_u64).pow(U256::from(18_u64));
        let root = merkle::leaf_hash(&wallet.address, &amount);
        assert_eq!(
            export,
            json!({
                "round": 1,
                "root": format!("{root:#x}"),
                "leaves": [{ "address": wallet.address.to_string(), "amount": amount.to_string(), "proof": [] }],
            })
        );
        let closed: RoundView = get_json(&app, "/api/v1/rounds/1", &nobody).await;
        assert_eq!(closed.status, RoundStatus::Closing);
        assert_eq!((closed.leaf_count, closed.total_amount), (Some(1), Some(amount.to_string())));

        let ann_points: PointsOverview = get_json(&app, "/api/v1/user/points", &ann).await;
        assert_eq!(ann_points.balance, 0);
        assert_eq!(ann_points.history.entries[0].reason, PointsReason::Settlement);
        assert_eq!(ann_points.history.entries[0].reference.as_deref(), Some("round:1"));
        let bob_points: PointsOverview = get_json(&app, "/api/v1/user/points", &bob).await;
        assert_eq!(bob_points.balance, 50, "no wallet: the points wait");

        let rewards: serde_json::Value = get_json(&app, "/api/v1/user/rewards", &ann).await;
        assert_eq!(
            rewards,
            json!({
                "points_balance": 0,
                "wallet": wallet.address.to_string(),
                "settlements": [{ "round": 1, "wallet": wallet.address.to_string(), "points": 30 }],
                "claim": {
                    "round": 1, "status": "closing", "root": format!("{root:#x}"),
                    "wallet": wallet.address.to_string(), "amount": amount.to_string(), "proof": [],
                },
            })
        );
        let bobs: RewardsView = get_json(&app, "/api/v1/user/rewards", &bob).await;
        assert_eq!(
            bobs,
            RewardsView { points_balance: 50, wallet: None, settlements: vec![], claim: None }
        );
        let anonymous = app.get("/api/v1/user/rewards").await;
        assert_eq!(anonymous.status(), 401);

        // A second tick at the same instant changes nothing.
        let report = app.platform.rounds().tick(first.ends_at).await.unwrap();
        assert_eq!((report.closed.len(), report.opened.len(), report.settled), (0, 0, 0));
        let again: serde_json::Value = get_json(&app, "/api/v1/rounds/1/export", &nobody).await;
        assert_eq!(again, export);
        let page: RoundsPage = get_json(&app, "/api/v1/rounds?limit=5", &nobody).await;
        assert_eq!(
            page.rounds.iter().map(|r| (r.number, r.status)).collect::<Vec<_>>(),
            [(2, RoundStatus::Open), (1, RoundStatus::Closing)]
        );
        assert_eq!(page.rounds[0].starts_at, first.ends_at);
        let ann_points: PointsOverview = get_json(&app, "/api/v1/user/points", &ann).await;
        assert_eq!(ann_points.history.entries.len(), 2);

        let missing = app.get("/api/v1/rounds/99").await;
        assert_eq!(missing.status(), 404);
        let bad = app.get("/api/v1/rounds/one").await;
        assert_eq!(bad.status(), 400);
        assert_eq!(error_code(bad).await, "invalid_request");
        app.stop().await;
    }
}

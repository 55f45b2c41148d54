use std::str::FromStr;

use meritree_core::eth::{Address, B256, U256};
use meritree_core::merkle;
use meritree_core::points::PointsReason;
use meritree_core::rounds::{RoundExport, RoundStatus};
use meritree_store::accounts::{self, NewAccount};
use meritree_store::rounds as store;
use meritree_store::testing::TestDatabase;
use meritree_store::{points, test_both_backends, Backend, Database, PoolOptions};

use super::*;
use crate::points::PointsPosting;
use crate::{Platform, PlatformOptions};

const ANN: &str = "0x00000000000000000000000000000000000000a1";
const CAT: &str = "0x00000000000000000000000000000000000000c3";
const BOB: &str = "0x00000000000000000000000000000000000000b2";
/// A round boundary for 600-second rounds.
const T0: i64 = 1_800_000_000;

async fn database(test_db: &TestDatabase) -> Database {
    let db = Database::connect(&test_db.target, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

async fn platform(db: &Database, units: u64) -> Platform {
    Platform::start(
        db.clone(),
        PlatformOptions {
            rewards: RewardsPolicy {
                round_secs: 600,
                token_units_per_point: U256::from(units),
            },
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn account(db: &Database, id: &str, wallet: Option<&str>) {
    accounts::insert(
        db,
        NewAccount {
            id,
            email: Some(&format!("{id}@example.org")),
            email_skeleton: None,
            password_hash: Some("x"),
            wallet_address: wallet,
            telegram_id: None,
            role: "member",
            now: 1,
        },
    )
    .await
    .unwrap();
}

async fn credit(platform: &Platform, id: &str, amount: i64, key: &str) {
    platform
        .points()
        .post(PointsPosting {
            account_id: id,
            amount,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: key,
        })
        .await
        .unwrap();
}

async fn settlement_entries(db: &Database, id: &str) -> usize {
    points::history(db, id, 100, None)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.reason == "settlement")
        .count()
}

/// Every leaf's proof leads to the root, and the amounts are as expected.
fn assert_export(export: &RoundExport, expected: &[(&str, u64)]) {
    let root = B256::from_str(&export.root).unwrap();
    let got: Vec<(String, String)> = export
        .leaves
        .iter()
        .map(|l| (l.address.to_lowercase(), l.amount.clone()))
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(w, a)| (w.to_string(), a.to_string()))
        .collect();
    assert_eq!(got, want);
    for leaf in &export.leaves {
        let address = Address::from_str(&leaf.address).unwrap();
        let amount = U256::from_str(&leaf.amount).unwrap();
        let proof: Vec<B256> = leaf
            .proof
            .iter()
            .map(|p| B256::from_str(p).unwrap())
            .collect();
        assert!(merkle::verify(&root, &address, &amount, &proof), "{leaf:?}");
    }
}

test_both_backends! {
    async fn rounds_tick_opens_and_closes_each_round_once(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = database(&test_db).await;
        account(&db, "ann", Some(ANN)).await;
        account(&db, "bob", None).await;
        let platform = platform(&db, 1000).await;

        let report = platform.rounds().tick(T0 + 123).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![1], ..Default::default() });
        let first = platform.rounds().round(1).await.unwrap();
        assert_eq!((first.starts_at, first.ends_at, first.status), (T0, T0 + 600, RoundStatus::Open));
        assert_eq!(platform.rounds().tick(T0 + 599).await.unwrap(), TickReport::default());
        assert!(matches!(platform.rounds().export(1).await, Err(RoundsError::NoTree(1))));

        credit(&platform, "ann", 30, "t1").await;
        credit(&platform, "bob", 50, "t1").await;
        let report = platform.rounds().tick(T0 + 600).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![2], closed: vec![1], settled: 1 });
        let export = platform.rounds().export(1).await.unwrap();
        assert_export(&export, &[(ANN, 30_000)]);
        assert!(export.leaves[0].proof.is_empty(), "one leaf is its own root");
        let closed = platform.rounds().round(1).await.unwrap();
        assert_eq!(closed.status, RoundStatus::Closing);
        assert_eq!((closed.leaf_count, closed.total_amount.as_deref()), (Some(1), Some("30000")));
        assert_eq!(closed.root.as_deref(), Some(export.root.as_str()));
        assert_eq!(platform.points().balance(&"ann".into()).await.unwrap().balance, 0);
        assert_eq!(platform.points().balance(&"bob".into()).await.unwrap().balance, 50);

        // Again at the same time: nothing changes.
        assert_eq!(platform.rounds().tick(T0 + 600).await.unwrap(), TickReport::default());
        assert_eq!(platform.rounds().export(1).await.unwrap(), export);
        assert_eq!(settlement_entries(&db, "ann").await, 1);

        // Bob binds a wallet; both settle in round 2, Ann cumulatively.
        accounts::bind_wallet(&db, "bob", BOB, 2).await.unwrap();
        credit(&platform, "ann", 12, "t2").await;
        let report = platform.rounds().tick(T0 + 1200).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![3], closed: vec![2], settled: 2 });
        let export = platform.rounds().export(2).await.unwrap();
        assert_export(&export, &[(ANN, 42_000), (BOB, 50_000)]);
        assert_eq!(platform.rounds().round(2).await.unwrap().total_amount.as_deref(), Some("92000"));

        let rewards = platform.rounds().rewards_of(&"ann".into()).await.unwrap();
        assert_eq!(rewards.points_balance, 0);
        assert_eq!(rewards.wallet.as_deref().map(str::to_lowercase).as_deref(), Some(ANN));
        assert_eq!(
            rewards.settlements.iter().map(|s| (s.round, s.points)).collect::<Vec<_>>(),
            [(2, 12), (1, 30)]
        );
        let claim = rewards.claim.unwrap();
        assert_eq!((claim.round, claim.status, claim.leaf.amount.as_str()), (2, RoundStatus::Closing, "42000"));
        assert_eq!(claim.root, export.root);
        assert_eq!(claim.leaf.proof, export.leaves[0].proof);
        assert!(matches!(platform.rounds().rewards_of(&"nobody".into()).await, Err(RoundsError::NoSuchAccount)));

        let page = platform.rounds().list(Some(2), None).await.unwrap();
        assert_eq!(page.rounds.iter().map(|r| r.number).collect::<Vec<_>>(), [3, 2]);
        let rest = platform.rounds().list(Some(2), page.next_before).await.unwrap();
        assert_eq!(rest.rounds.iter().map(|r| r.number).collect::<Vec<_>>(), [1]);
        assert_eq!(rest.next_before, None);
        assert!(matches!(platform.rounds().round(9).await, Err(RoundsError::NoSuchRound(9))));
        assert!(points::mismatched_balances(&db).await.unwrap().is_empty());
    }

    async fn rounds_an_empty_round_gets_a_zero_root(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = database(&test_db).await;
        let platform = platform(&db, 1).await;
        platform.rounds().tick(T0).await.unwrap();
        platform.rounds().tick(T0 + 600).await.unwrap();
        let export = platform.rounds().export(1).await.unwrap();
        assert_eq!(export.root, format!("{:#x}", B256::ZERO));
        assert!(export.leaves.is_empty());
        assert_eq!(platform.rounds().round(1).await.unwrap().leaf_count, Some(0));
    }

    async fn rounds_a_crash_mid_close_converges(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = database(&test_db).await;
        account(&db, "ann", Some(ANN)).await;
        account(&db, "cat", Some(CAT)).await;
        let platform = platform(&db, 1).await;
        platform.rounds().tick(T0).await.unwrap();
        credit(&platform, "ann", 30, "t1").await;
        credit(&platform, "cat", 20, "t1").await;

        // The close settled Ann, then the process died.
        let settled = store::settle_account(&db, 1, "ann", ANN, T0 + 600).await.unwrap();
        assert!(matches!(settled, store::Settled::Created { .. }));
        // Points Ann earns meanwhile wait for round 2.
        credit(&platform, "ann", 5, "t2").await;

        let report = platform.rounds().tick(T0 + 601).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![2], closed: vec![1], settled: 1 });
        assert_export(&platform.rounds().export(1).await.unwrap(), &[(ANN, 30), (CAT, 20)]);
        assert_eq!(settlement_entries(&db, "ann").await, 1);
        assert_eq!(settlement_entries(&db, "cat").await, 1);
        assert_eq!(platform.points().balance(&"ann".into()).await.unwrap().balance, 5);

        // Died after the tree was stored, before round 2 opened: the next
        // tick opens it where round 1 ended.
        let fresh = TestDatabase::fresh(backend).await;
        let db = database(&fresh).await;
        let platform = self::platform(&db, 1).await;
        platform.rounds().tick(T0).await.unwrap();
        let closed = store::close(&db, store::ClosingRound {
            number: 1, root: "0x00", total_amount: "0", leaves: &[], settlements: 0, now: T0 + 600,
        }).await.unwrap();
        assert_eq!(closed, store::Closed::Closed);
        let report = platform.rounds().tick(T0 + 605).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![2], ..Default::default() });
        let second = platform.rounds().round(2).await.unwrap();
        assert_eq!((second.starts_at, second.ends_at), (T0 + 600, T0 + 1200));
    }

    async fn rounds_a_restart_closes_what_ended_while_down_once(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = database(&test_db).await;
        account(&db, "ann", Some(ANN)).await;
        let before = platform(&db, 1).await;
        before.rounds().tick(T0 + 10).await.unwrap();
        credit(&before, "ann", 30, "t1").await;
        drop(before);

        // Down for 25 minutes past round 1's end.
        let after = platform(&db, 1).await;
        let now = T0 + 600 + 1500;
        let report = after.rounds().tick(now).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![2], closed: vec![1], settled: 1 });
        let second = after.rounds().round(2).await.unwrap();
        assert_eq!((second.starts_at, second.ends_at), (T0 + 600, T0 + 2400), "one long round");
        assert_eq!(after.rounds().tick(now).await.unwrap(), TickReport::default());
        assert_export(&after.rounds().export(1).await.unwrap(), &[(ANN, 30)]);
        assert_eq!(settlement_entries(&db, "ann").await, 1);
    }

    async fn rounds_concurrent_ticks_close_once(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = database(&test_db).await;
        for (id, wallet) in [("ann", ANN), ("bob", BOB), ("cat", CAT)] {
            account(&db, id, Some(wallet)).await;
        }
        let first = platform(&db, 1).await;
        first.rounds().tick(T0).await.unwrap();
        for (i, id) in ["ann", "bob", "cat"].into_iter().enumerate() {
            credit(&first, id, 10 * (i as i64 + 1), "t1").await;
        }
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { platform(&db, 1).await.rounds().tick(T0 + 700).await.unwrap() })
            })
            .collect();
        let (mut closed, mut opened, mut settled) = (Vec::new(), Vec::new(), 0);
        for task in tasks {
            let report = task.await.unwrap();
            closed.extend(report.closed);
            opened.extend(report.opened);
            settled += report.settled;
        }
        assert_eq!((closed, opened, settled), (vec![1], vec![2], 3));
        assert_export(&first.rounds().export(1).await.unwrap(), &[(ANN, 10), (BOB, 20), (CAT, 30)]);
        assert!(points::mismatched_balances(&db).await.unwrap().is_empty());
    }

    async fn rounds_refuse_a_decreasing_total(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = database(&test_db).await;
        account(&db, "ann", Some(ANN)).await;
        let generous = platform(&db, 1000).await;
        generous.rounds().tick(T0).await.unwrap();
        credit(&generous, "ann", 30, "t1").await;
        generous.rounds().tick(T0 + 600).await.unwrap();

        // Lowering the units would lower Ann's total: the round stays open.
        let stingy = platform(&db, 1).await;
        credit(&stingy, "ann", 1, "t2").await;
        let err = stingy.rounds().tick(T0 + 1200).await.unwrap_err();
        assert!(matches!(err, RoundsError::CumulativeDecrease { round: 2, .. }), "{err}");
        assert_eq!(stingy.rounds().round(2).await.unwrap().status, RoundStatus::Open);

        // Restored, the next tick closes it with the points settled before.
        let report = generous.rounds().tick(T0 + 1200).await.unwrap();
        assert_eq!(report, TickReport { opened: vec![3], closed: vec![2], settled: 0 });
        assert_export(&generous.rounds().export(2).await.unwrap(), &[(ANN, 31_000)]);
    }
}

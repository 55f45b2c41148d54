//! The platform on a real anvil. The outbox: idempotent queueing, gap-free
//! nonces, the same nonce after a crash, fee bumping of a stuck transaction,
//! confirmation tracking, a reorg. Publication: exactly once across
//! restarts, again on a chain that lost its last blocks, and claims refused
//! while the distributor is paused. Version 2's timelocked roots, and a
//! platform still on version 1 or moving from it: `timelock`.

mod relay;
mod timelock;

use meritree_platform::error::PublicError;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::contracts::{
    deploy_distributor, deploy_distributor_v1, deploy_reward_contracts,
    deploy_reward_contracts_with, Deployed, DistributorVersion, RewardDistributor, RewardToken,
    Roles, RootPolicy,
};
use meritree_chain::sender::Sender;
use meritree_chain::Chain;
use meritree_platform::chain::{Settlement, SettlementError, TxKind};
use meritree_platform::rounds::RewardsPolicy;
use meritree_platform::{Platform, PlatformOptions};
use meritree_store::testing::TestDatabase;
use meritree_store::{chain_txs, test_both_backends, Backend, Database, PoolOptions, StoreError};

const ROUND_SECS: i64 = 600;

struct Setup {
    anvil: Anvil,
    platform: Platform,
    /// What the platform started with, to start it again (a restart).
    options: PlatformOptions,
    deployed: Deployed,
    db: Database,
    _test_db: TestDatabase,
}

async fn setup(bump_after: Duration) -> Setup {
    setup_on(Backend::Sqlite, bump_after).await
}

async fn setup_on(backend: Backend, bump_after: Duration) -> Setup {
    setup_with(backend, bump_after, Distributor::V2 { timelock_secs: 0 }).await
}

/// Which distributor the platform settles on (the anvil key holds every role).
#[derive(Debug, Clone, Copy)]
enum Distributor {
    V1,
    V2 { timelock_secs: u64 },
}

async fn setup_with(backend: Backend, bump_after: Duration, distributor: Distributor) -> Setup {
    let binary = anvil::binary_for_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let anvil = Anvil::start(&AnvilOptions::new(binary)).await.unwrap();
    let chain = Chain::connect(anvil.url(), anvil::CHAIN_ID).await.unwrap();
    let key = PrivateKeySigner::from_str(anvil::DEV_KEY_0).unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_provider(chain.provider().clone());
    let roles = Roles::all(key.address());
    let (deployed, version) = match distributor {
        Distributor::V1 => {
            let token = deploy_reward_contracts(&provider, key.address())
                .await
                .unwrap()
                .token;
            (
                deploy_distributor_v1(&provider, token, roles)
                    .await
                    .unwrap(),
                DistributorVersion::V1,
            )
        }
        Distributor::V2 { timelock_secs } => {
            let policy = RootPolicy {
                timelock_secs,
                legacy: None,
            };
            (
                deploy_reward_contracts_with(&provider, roles, policy)
                    .await
                    .unwrap(),
                DistributorVersion::V2,
            )
        }
    };
    assert_eq!(
        chain
            .distributor_version(deployed.distributor)
            .await
            .unwrap(),
        version
    );
    let test_db = TestDatabase::fresh(backend).await;
    let db = Database::connect(&test_db.target, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let options = PlatformOptions {
        settlement: Some(Settlement {
            sender: Sender::new(chain.clone(), key),
            distributor: deployed.distributor,
            version,
            token: deployed.token,
            confirmations: 1,
            bump_after,
            from_block: 0,
            legacy: None,
            may_mint: true,
        }),
        chain: Some(chain),
        rewards: RewardsPolicy {
            round_secs: ROUND_SECS as u64,
            token_units_per_point: U256::from(1_000),
        },
        ..PlatformOptions::default()
    };
    let platform = Platform::start(db.clone(), options.clone()).await.unwrap();
    Setup {
        anvil,
        platform,
        options,
        deployed,
        db,
        _test_db: test_db,
    }
}

fn anvil_key_address() -> alloy::primitives::Address {
    PrivateKeySigner::from_str(anvil::DEV_KEY_0)
        .unwrap()
        .address()
}

fn set_root(round: u64) -> Bytes {
    RewardDistributor::proposeRootCall {
        newRoot: B256::repeat_byte(round as u8),
        newRound: round,
        newExportHash: B256::ZERO,
    }
    .abi_encode()
    .into()
}

/// Anvil's automine mines in the background after a send returns: waits for
/// the receipt of the transaction's latest send, so the next pump sees it.
async fn await_mined(s: &Setup, tx_id: &str) {
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    let row = chain_txs::get(&s.db, tx_id).await.unwrap().unwrap();
    let hash: B256 = row.hashes().last().expect("sent").parse().unwrap();
    for _ in 0..200 {
        if provider
            .get_transaction_receipt(hash)
            .await
            .unwrap()
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("transaction {hash} was not mined");
}

async fn chain_round(setup: &Setup) -> u64 {
    let provider = ProviderBuilder::new().connect_http(setup.anvil.url().parse().unwrap());
    RewardDistributor::new(setup.deployed.distributor, provider)
        .round()
        .call()
        .await
        .unwrap()
}

#[tokio::test]
async fn transactions_are_sent_once_with_gap_free_nonces() {
    let s = setup(Duration::from_secs(3600)).await;
    let to = s.deployed.distributor;
    let first = s
        .platform
        .chain()
        .queue_transaction(TxKind::SetRoot, "set_root:1", to, &set_root(1))
        .await
        .unwrap();
    let again = s
        .platform
        .chain()
        .queue_transaction(TxKind::SetRoot, "set_root:1", to, &set_root(1))
        .await
        .unwrap();
    assert_eq!(
        first.id, again.id,
        "a retried request finds its transaction"
    );

    let pass = s.platform.chain().pump_outbox().await.unwrap();
    assert_eq!((pass.sent, pass.mined), (1, 0));
    await_mined(&s, &first.id).await;
    let pass = s.platform.chain().pump_outbox().await.unwrap();
    assert_eq!((pass.sent, pass.mined, pass.confirmed), (0, 1, 1));
    assert_eq!(chain_round(&s).await, 1);
    let sent = chain_txs::get(&s.db, &first.id).await.unwrap().unwrap();
    assert_eq!(sent.status, "confirmed");
    assert_eq!(sent.succeeded, Some(true));
    let first_nonce = sent.nonce.unwrap();

    // A call that would revert fails without taking a nonce ...
    let doomed = s
        .platform
        .chain()
        .queue_transaction(TxKind::SetRoot, "replay:1", to, &set_root(1))
        .await
        .unwrap();
    let pass = s.platform.chain().pump_outbox().await.unwrap();
    assert_eq!(pass.failed, 1);
    let doomed = chain_txs::get(&s.db, &doomed.id).await.unwrap().unwrap();
    assert_eq!((doomed.status.as_str(), doomed.nonce), ("failed", None));

    // ... so the next one takes the next nonce.
    let second = s
        .platform
        .chain()
        .queue_transaction(TxKind::SetRoot, "set_root:2", to, &set_root(2))
        .await
        .unwrap();
    s.platform.chain().pump_outbox().await.unwrap();
    await_mined(&s, &second.id).await;
    s.platform.chain().pump_outbox().await.unwrap();
    let second = chain_txs::get(&s.db, &second.id).await.unwrap().unwrap();
    assert_eq!(second.nonce, Some(first_nonce + 1));
    assert_eq!(chain_round(&s).await, 2);
    s.anvil.stop().await;
}

#[tokio::test]
async fn a_crash_after_the_nonce_was_given_sends_with_that_nonce() {
    let s = setup(Duration::from_secs(3600)).await;
    let tx = s
        .platform
        .chain()
        .queue_transaction(
            TxKind::SetRoot,
            "set_root:1",
            s.deployed.distributor,
            &set_root(1),
        )
        .await
        .unwrap();
    // The first attempt got as far as storing its nonce, then the process died.
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    let floor = provider
        .get_transaction_count(anvil_key_address())
        .await
        .unwrap();
    let nonce = chain_txs::assign_nonce(&s.db, &tx.id, floor as i64, 0, None)
        .await
        .unwrap();

    s.platform.chain().pump_outbox().await.unwrap();
    await_mined(&s, &tx.id).await;
    s.platform.chain().pump_outbox().await.unwrap();
    let done = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    assert_eq!(done.nonce, Some(nonce));
    assert_eq!(done.status, "confirmed");
    assert_eq!(done.hashes().len(), 1);
    assert_eq!(chain_round(&s).await, 1);
    s.anvil.stop().await;
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees() {
    let s = setup(Duration::ZERO).await;
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    let _: serde_json::Value = provider
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .unwrap();

    let tx = s
        .platform
        .chain()
        .queue_transaction(
            TxKind::SetRoot,
            "set_root:1",
            s.deployed.distributor,
            &set_root(1),
        )
        .await
        .unwrap();
    let pass = s.platform.chain().pump_outbox().await.unwrap();
    assert_eq!((pass.sent, pass.mined), (1, 0));
    let pass = s.platform.chain().pump_outbox().await.unwrap();
    assert_eq!(pass.bumped, 1, "not mined within bump_after: re-sent");
    let bumped = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    let hashes = bumped.hashes();
    assert_eq!(hashes.len(), 2, "one nonce, two signatures");
    assert_eq!(bumped.sends, 2);

    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    s.platform.chain().pump_outbox().await.unwrap();
    let mined = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    assert_eq!(
        mined.mined_hash.as_deref(),
        Some(hashes[1].as_str()),
        "the replacement won"
    );
    assert_eq!(chain_round(&s).await, 1);
    s.anvil.stop().await;
}

/// An account with a bound wallet and `points` to settle.
async fn member_with_points(s: &Setup, wallet: alloy::primitives::Address, points: i64) -> String {
    let id = uuid_like(wallet);
    meritree_store::accounts::insert(
        &s.db,
        meritree_store::accounts::NewAccount {
            id: &id,
            email: None,
            email_skeleton: None,
            password_hash: None,
            wallet_address: Some(&format!("{wallet:#x}")),
            telegram_id: None,
            role: "member",
            now: 0,
        },
    )
    .await
    .unwrap();
    credit(s, &id, points, "task:1").await;
    id
}

/// `points` more for `account`, once per `key`.
async fn credit(s: &Setup, account: &str, points: i64, key: &str) {
    s.platform
        .points()
        .post(meritree_platform::points::PointsPosting {
            account_id: account,
            amount: points,
            reason: meritree_core::points::PointsReason::TaskReward,
            reference: None,
            idempotency_key: key,
        })
        .await
        .unwrap();
}

/// Where the tests' rounds start: a round boundary.
const START: i64 = 1_800_000_000 - 1_800_000_000 % ROUND_SECS;

/// Closes round `n` (rounds start at `START`; round 1 is opened first).
async fn close_round(platform: &Platform, n: i64) {
    if n == 1 {
        platform.rounds().tick(START + 1).await.unwrap();
    }
    platform
        .rounds()
        .tick(START + n * ROUND_SECS + 1)
        .await
        .unwrap();
}

/// A provider that sends from the platform's key (anvil's first).
fn signer(s: &Setup) -> impl Provider {
    let key = PrivateKeySigner::from_str(anvil::DEV_KEY_0).unwrap();
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(s.anvil.url().parse().unwrap())
}

fn uuid_like(wallet: alloy::primitives::Address) -> String {
    format!("acct-{wallet:#x}")
}

async fn set_root_txs(db: &Database) -> usize {
    let mut count = 0;
    for status in ["queued", "sent", "mined", "confirmed", "failed"] {
        count += chain_txs::with_status(db, status)
            .await
            .unwrap()
            .iter()
            .filter(|tx| tx.kind == "set_root")
            .count();
    }
    count
}

/// Runs reconciliation, publication and the outbox until nothing moves
/// (as the settlement loop does).
async fn settle(platform: &Platform) {
    for _ in 0..6 {
        platform.chain().reconcile().await.unwrap();
        platform.chain().publish_rounds().await.unwrap();
        platform.chain().pump_outbox().await.unwrap();
    }
}

#[tokio::test]
async fn a_root_computed_before_a_crash_is_published_once_after_restart() {
    let s = setup(Duration::from_secs(3600)).await;
    let wallet = alloy::primitives::Address::repeat_byte(0x42);
    let account = member_with_points(&s, wallet, 7).await;
    let start = 1_800_000_000 - 1_800_000_000 % ROUND_SECS;
    s.platform.rounds().tick(start + 1).await.unwrap();
    // Round 1 closes: settled, tree and root stored ...
    s.platform
        .rounds()
        .tick(start + ROUND_SECS + 1)
        .await
        .unwrap();
    let round = s.platform.rounds().round(1).await.unwrap();
    assert_eq!(round.status.as_str(), "closing");
    // ... and the process dies before publishing: the first platform never
    // publishes again. A new one starts on the same database.
    let restarted = Platform::start(s.db.clone(), s.options.clone())
        .await
        .unwrap();
    settle(&restarted).await;
    // A second instance racing the first changes nothing.
    let other = Platform::start(s.db.clone(), s.options.clone())
        .await
        .unwrap();
    settle(&other).await;

    assert_eq!(set_root_txs(&s.db).await, 1, "one setRoot for round 1");
    assert_eq!(chain_round(&s).await, 1);
    let published = restarted.rounds().round(1).await.unwrap();
    assert_eq!(published.status.as_str(), "confirmed");
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    let on_chain_root = RewardDistributor::new(s.deployed.distributor, provider)
        .root()
        .call()
        .await
        .unwrap();
    assert_eq!(Some(on_chain_root.to_string()), published.root);

    // The root landed but the crash came before it was recorded: the chain
    // says so, and no second setRoot is sent.
    s.platform
        .rounds()
        .tick(start + 2 * ROUND_SECS + 1)
        .await
        .unwrap();
    let round2 = restarted.rounds().round(2).await.unwrap();
    let root2 = B256::from_str(round2.root.as_deref().unwrap()).unwrap();
    let key = PrivateKeySigner::from_str(anvil::DEV_KEY_0).unwrap();
    let signer = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(s.anvil.url().parse().unwrap());
    RewardDistributor::new(s.deployed.distributor, &signer)
        .proposeRoot(root2, 2, B256::ZERO)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    settle(&restarted).await;
    assert_eq!(
        set_root_txs(&s.db).await,
        1,
        "round 2 was found on chain, not sent again"
    );
    assert_eq!(
        restarted.rounds().round(2).await.unwrap().status.as_str(),
        "confirmed"
    );

    // Paused, the distributor refuses claims, and the relayer says so up front.
    RewardDistributor::new(s.deployed.distributor, &signer)
        .pause()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let refused = restarted
        .chain()
        .request_claim(&account.as_str().into(), "claim-1", None)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        meritree_core::ErrorCode::ClaimRejected,
        "{refused}"
    );
    s.anvil.stop().await;
}

/// anvil's own JSON-RPC methods (snapshots, reorgs, mining by hand).
async fn anvil_call(
    s: &Setup,
    method: &'static str,
    params: serde_json::Value,
) -> serde_json::Value {
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    provider.raw_request(method.into(), params).await.unwrap()
}

async fn token_balance(s: &Setup, holder: alloy::primitives::Address) -> U256 {
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    RewardToken::new(s.deployed.token, provider)
        .balanceOf(holder)
        .call()
        .await
        .unwrap()
}

async fn mined_nonce(s: &Setup) -> u64 {
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    provider
        .get_transaction_count(anvil_key_address())
        .await
        .unwrap()
}

test_both_backends! {
    async fn a_chain_that_lost_its_last_blocks_gets_the_root_and_the_claim_again(backend: Backend) {
        let s = setup_on(backend, Duration::from_secs(3600)).await;
        let wallet = alloy::primitives::Address::repeat_byte(0x42);
        let account = member_with_points(&s, wallet, 7).await;
        // What the chain will fall back to: contracts deployed, nothing else.
        let before = anvil_call(&s, "evm_snapshot", serde_json::json!([])).await;
        let start = 1_800_000_000 - 1_800_000_000 % ROUND_SECS;
        s.platform.rounds().tick(start + 1).await.unwrap();
        s.platform.rounds().tick(start + ROUND_SECS + 1).await.unwrap();
        settle(&s.platform).await;
        let claim = s.platform.chain().request_claim(&account.as_str().into(), "claim-1", None).await.unwrap();
        settle(&s.platform).await;
        let paid = U256::from(7_000);
        assert_eq!(token_balance(&s, wallet).await, paid);
        let nonce_used = mined_nonce(&s).await;

        // The chain restarts from a state saved before the round: root,
        // funding and claim are gone while the database says all are final.
        assert_eq!(anvil_call(&s, "evm_revert", serde_json::json!([before])).await, true);
        assert_eq!(chain_round(&s).await, 0);
        assert_eq!(token_balance(&s, wallet).await, U256::ZERO);

        let found = s.platform.chain().reconcile().await.unwrap();
        assert_eq!(found.resent.len(), 3, "setRoot, fund and claim: {found:?}");
        assert_eq!(found.reopened, vec![1]);
        assert_eq!(s.platform.rounds().round(1).await.unwrap().status.as_str(), "closing");
        for _ in 0..4 {
            settle(&s.platform).await;
        }

        // All of it landed again, with the nonces it had: no gap, no second copy.
        assert_eq!(chain_round(&s).await, 1);
        assert_eq!(s.platform.rounds().round(1).await.unwrap().status.as_str(), "confirmed");
        assert_eq!(set_root_txs(&s.db).await, 1, "the same setRoot, sent again");
        assert_eq!(token_balance(&s, wallet).await, paid);
        assert_eq!(mined_nonce(&s).await, nonce_used);
        let claim = s.platform.chain().claim(&account.as_str().into(), &claim.id).await.unwrap();
        assert_eq!(claim.status.as_str(), "confirmed");
        assert_eq!(s.platform.chain().reconcile().await.unwrap(), Default::default());
        s.anvil.stop().await;
    }
}

#[tokio::test]
async fn a_transaction_reorged_out_before_it_is_final_is_sent_again_with_its_nonce() {
    let mut s = setup(Duration::from_secs(3600)).await;
    if let Some(settlement) = s.options.settlement.as_mut() {
        settlement.confirmations = 3;
    }
    let platform = Platform::start(s.db.clone(), s.options.clone())
        .await
        .unwrap();
    let tx = platform
        .chain()
        .queue_transaction(
            TxKind::SetRoot,
            "set_root:1",
            s.deployed.distributor,
            &set_root(1),
        )
        .await
        .unwrap();
    platform.chain().pump_outbox().await.unwrap();
    await_mined(&s, &tx.id).await;
    let pass = platform.chain().pump_outbox().await.unwrap();
    assert_eq!((pass.mined, pass.confirmed), (1, 0), "mined, not yet final");
    let mined = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();

    // Its block is replaced by an empty one; two more blocks make it look final.
    anvil_call(&s, "anvil_reorg", serde_json::json!([1, []])).await;
    for _ in 0..2 {
        anvil_call(&s, "evm_mine", serde_json::json!([])).await;
    }
    assert_eq!(chain_round(&s).await, 0);
    let pass = platform.chain().pump_outbox().await.unwrap();
    assert_eq!((pass.reorged, pass.confirmed), (1, 0), "not counted final");
    let back = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    assert_eq!((back.status.as_str(), back.nonce), ("sent", mined.nonce));

    // Sent again at once, same nonce, and final once buried.
    let pass = platform.chain().pump_outbox().await.unwrap();
    assert_eq!(pass.bumped, 1);
    await_mined(&s, &tx.id).await;
    platform.chain().pump_outbox().await.unwrap();
    for _ in 0..2 {
        anvil_call(&s, "evm_mine", serde_json::json!([])).await;
    }
    let pass = platform.chain().pump_outbox().await.unwrap();
    assert_eq!(pass.confirmed, 1);
    let done = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status.as_str(), done.nonce),
        ("confirmed", mined.nonce)
    );
    assert_ne!(
        done.mined_hash, mined.mined_hash,
        "the new copy, with higher fees"
    );
    assert_eq!(chain_round(&s).await, 1);
    s.anvil.stop().await;
}

test_both_backends! {
    async fn only_the_settlement_lease_holder_gives_out_nonces(backend: Backend) {
        let s = setup_on(backend, Duration::from_secs(3600)).await;
        let a = &s.platform;
        let b = Platform::start(s.db.clone(), s.options.clone()).await.unwrap();
        assert!(a.chain().hold_lease("a", Duration::from_secs(60)).await.unwrap());
        assert!(!b.chain().hold_lease("b", Duration::from_secs(60)).await.unwrap(), "held by a");
        let tx = a
            .chain()
            .queue_transaction(TxKind::SetRoot, "set_root:1", s.deployed.distributor, &set_root(1))
            .await
            .unwrap();

        // a stalls past its lease and b takes over; a, unaware, tries to send.
        assert!(a.chain().hold_lease("a", Duration::ZERO).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(b.chain().hold_lease("b", Duration::from_secs(60)).await.unwrap());
        let refused = a.chain().pump_outbox().await.unwrap_err();
        assert!(
            matches!(refused, SettlementError::Store(StoreError::Fenced(_))),
            "{refused}"
        );
        let untouched = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
        assert_eq!((untouched.status.as_str(), untouched.nonce), ("queued", None));
        assert_eq!(mined_nonce(&s).await, 2, "nothing sent but the deployment");

        // The holder sends it.
        assert_eq!(b.chain().pump_outbox().await.unwrap().sent, 1);
        await_mined(&s, &tx.id).await;
        b.chain().pump_outbox().await.unwrap();
        assert_eq!(chain_round(&s).await, 1);
        // a asks again and is told it is not the holder.
        assert!(!a.chain().hold_lease("a", Duration::from_secs(60)).await.unwrap());
        s.anvil.stop().await;
    }
}

//! The outbox against a real anvil: idempotent queueing, gap-free nonces,
//! the same nonce after a crash, fee bumping of a stuck transaction, and
//! confirmation tracking.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Bytes, B256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::contracts::{deploy_reward_contracts, Deployed, RewardDistributor};
use meritree_chain::sender::Sender;
use meritree_chain::Chain;
use meritree_platform::chain::{Settlement, TxKind};
use meritree_platform::{Platform, PlatformOptions};
use meritree_store::testing::TestDatabase;
use meritree_store::{chain_txs, Backend, Database, PoolOptions};

struct Setup {
    anvil: Anvil,
    platform: Platform,
    deployed: Deployed,
    db: Database,
    _test_db: TestDatabase,
}

async fn setup(bump_after: Duration) -> Setup {
    let binary = anvil::binary_for_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let anvil = Anvil::start(&AnvilOptions::new(binary)).await.unwrap();
    let chain = Chain::connect(anvil.url(), anvil::CHAIN_ID).await.unwrap();
    let key = PrivateKeySigner::from_str(anvil::DEV_KEY_0).unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_provider(chain.provider().clone());
    let deployed = deploy_reward_contracts(&provider, key.address())
        .await
        .unwrap();
    let test_db = TestDatabase::fresh(Backend::Sqlite).await;
    let db = Database::connect(&test_db.target, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let options = PlatformOptions {
        settlement: Some(Settlement {
            sender: Sender::new(chain.clone(), key),
            distributor: deployed.distributor,
            token: deployed.token,
            confirmations: 1,
            bump_after,
            from_block: 0,
            may_mint: true,
        }),
        chain: Some(chain),
        ..PlatformOptions::default()
    };
    let platform = Platform::start(db.clone(), options).await.unwrap();
    Setup {
        anvil,
        platform,
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
    RewardDistributor::setRootCall {
        newRoot: B256::repeat_byte(round as u8),
        newRound: round,
    }
    .abi_encode()
    .into()
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
        .queue_transaction(TxKind::SetRoot, "set_root:1", to, &set_root(1))
        .await
        .unwrap();
    let again = s
        .platform
        .queue_transaction(TxKind::SetRoot, "set_root:1", to, &set_root(1))
        .await
        .unwrap();
    assert_eq!(
        first.id, again.id,
        "a retried request finds its transaction"
    );

    let pass = s.platform.pump_outbox().await.unwrap();
    assert_eq!((pass.sent, pass.mined), (1, 0));
    let pass = s.platform.pump_outbox().await.unwrap();
    assert_eq!((pass.sent, pass.mined, pass.confirmed), (0, 1, 1));
    assert_eq!(chain_round(&s).await, 1);
    let sent = chain_txs::get(&s.db, &first.id).await.unwrap().unwrap();
    assert_eq!(sent.status, "confirmed");
    assert_eq!(sent.succeeded, Some(true));
    let first_nonce = sent.nonce.unwrap();

    // A call that would revert fails without taking a nonce ...
    let doomed = s
        .platform
        .queue_transaction(TxKind::SetRoot, "replay:1", to, &set_root(1))
        .await
        .unwrap();
    let pass = s.platform.pump_outbox().await.unwrap();
    assert_eq!(pass.failed, 1);
    let doomed = chain_txs::get(&s.db, &doomed.id).await.unwrap().unwrap();
    assert_eq!((doomed.status.as_str(), doomed.nonce), ("failed", None));

    // ... so the next one takes the next nonce.
    let second = s
        .platform
        .queue_transaction(TxKind::SetRoot, "set_root:2", to, &set_root(2))
        .await
        .unwrap();
    s.platform.pump_outbox().await.unwrap();
    s.platform.pump_outbox().await.unwrap();
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
    let nonce = chain_txs::assign_nonce(&s.db, &tx.id, floor as i64, 0)
        .await
        .unwrap();

    s.platform.pump_outbox().await.unwrap();
    s.platform.pump_outbox().await.unwrap();
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
        .queue_transaction(
            TxKind::SetRoot,
            "set_root:1",
            s.deployed.distributor,
            &set_root(1),
        )
        .await
        .unwrap();
    let pass = s.platform.pump_outbox().await.unwrap();
    assert_eq!((pass.sent, pass.mined), (1, 0));
    let pass = s.platform.pump_outbox().await.unwrap();
    assert_eq!(pass.bumped, 1, "not mined within bump_after: re-sent");
    let bumped = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    let hashes = bumped.hashes();
    assert_eq!(hashes.len(), 2, "one nonce, two signatures");
    assert_eq!(bumped.sends, 2);

    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    s.platform.pump_outbox().await.unwrap();
    let mined = chain_txs::get(&s.db, &tx.id).await.unwrap().unwrap();
    assert_eq!(
        mined.mined_hash.as_deref(),
        Some(hashes[1].as_str()),
        "the replacement won"
    );
    assert_eq!(chain_round(&s).await, 1);
    s.anvil.stop().await;
}

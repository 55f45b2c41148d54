//! `meritree chain deploy` against a separately started chain with its own
//! id: the contracts land with the roles asked for (guardian and root
//! timelock included), and the platform
//! served with the printed configuration publishes a round's root there.

use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::contracts::{
    deploy_distributor_v1, RewardDistributor, RewardDistributorV1, RewardToken, Roles,
};
use meritree_core::points::PointsReason;
use meritree_platform::points::PointsPosting;
use meritree_platform::Platform;
use meritree_store::testing::TestDatabase;
use meritree_store::{rounds, Backend, Database, DatabaseTarget, PoolOptions};

use crate::crash::{kill_9, options_beside, serve_with, until};
use crate::helpers::TestWallet;

const CHAIN_ID: u64 = 31_338;

/// A value from the printed configuration.
pub(crate) fn setting<'a>(config: &'a str, key: &str) -> &'a str {
    config
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} in {config}"))
        .trim_matches('"')
}

#[tokio::test]
async fn contracts_deployed_to_any_chain_are_served_by_the_printed_configuration() {
    let binary = anvil::binary_for_tests(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let chain = Anvil::start(&AnvilOptions {
        chain_id: CHAIN_ID,
        ..AnvilOptions::new(binary)
    })
    .await
    .unwrap();
    let pauser = TestWallet::anvil(2).address;
    let guardian = Address::repeat_byte(0x9a);
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meritree"))
            .env_clear()
            .current_dir(dir.path())
            .env("MERITREE_CHAIN_KEY", anvil::DEV_KEY_0)
            .args(args)
            .output()
            .unwrap()
    };

    // The RPC serves another chain than the one named: refused.
    let wrong = run(&["chain", "deploy", "--rpc", chain.url(), "--chain-id", "1"]);
    assert!(!wrong.status.success());
    // A timelock past the contract's 30 days: refused before anything is sent.
    let too_long = run(&[
        "chain",
        "deploy",
        "--rpc",
        chain.url(),
        "--root-timelock-secs",
        "2592001",
    ]);
    assert!(!too_long.status.success());
    // Roots pay out at once here: this chain only mines when sent a
    // transaction, so its clock would not reach a timelock's end unaided
    // (the timelock has its own tests).
    let deployed = run(&[
        "chain",
        "deploy",
        "--rpc",
        chain.url(),
        "--pauser",
        &pauser.to_string(),
        "--guardian",
        &guardian.to_string(),
        "--root-timelock-secs",
        "0",
    ]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let config = String::from_utf8(deployed.stdout).unwrap();
    assert_eq!(setting(&config, "chain_id"), CHAIN_ID.to_string());
    let distributor = Address::from_str(setting(&config, "distributor_address")).unwrap();
    let token = Address::from_str(setting(&config, "token_address")).unwrap();
    let platform_key = PrivateKeySigner::from_str(anvil::DEV_KEY_0).unwrap();

    // The roles asked for: the key publishes roots, the pauser pauses.
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(platform_key.clone()))
        .connect_http(chain.url().parse().unwrap());
    let contract = RewardDistributor::new(distributor, &provider);
    let updater = contract.UPDATER_ROLE().call().await.unwrap();
    let pauser_role = contract.PAUSER_ROLE().call().await.unwrap();
    assert!(contract
        .hasRole(updater, platform_key.address())
        .call()
        .await
        .unwrap());
    assert!(contract.hasRole(pauser_role, pauser).call().await.unwrap());
    let guardian_role = contract.GUARDIAN_ROLE().call().await.unwrap();
    assert!(contract
        .hasRole(guardian_role, guardian)
        .call()
        .await
        .unwrap());
    assert_eq!(contract.rootTimelock().call().await.unwrap(), 0);
    assert!(!contract
        .hasRole(pauser_role, platform_key.address())
        .call()
        .await
        .unwrap());

    // Served with that configuration (and the distributor funded by the
    // token's admin), the platform publishes a round's root on this chain.
    RewardToken::new(token, &provider)
        .mint(distributor, U256::from(10).pow(U256::from(24)))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("meritree.toml"),
        format!("{config}\n\n[rewards]\nround_secs = 2\n\n[ai.local]\nenabled = false\n")
            .replace("[chain]\n", "[chain]\ntick_secs = 1\n"),
    )
    .unwrap();
    let db = TestDatabase::fresh(Backend::Sqlite).await;
    let DatabaseTarget::SqliteFile(path) = &db.target else {
        unreachable!()
    };
    let database = format!("sqlite:{}", path.display());
    let (mut server, _url) = serve_with(
        dir.path(),
        &database,
        0,
        &[("MERITREE_CHAIN_KEY", anvil::DEV_KEY_0)],
    );
    let store = Database::connect(&db.target, PoolOptions::default())
        .await
        .unwrap();
    let platform = Platform::start(store.clone(), options_beside(dir.path()))
        .await
        .unwrap();
    let member = meritree_store::accounts::insert(
        &store,
        meritree_store::accounts::NewAccount {
            id: "member-1",
            email: None,
            email_skeleton: None,
            password_hash: None,
            wallet_address: Some(&format!("{:#x}", TestWallet::anvil(1).address)),
            telegram_id: None,
            role: "member",
            now: 0,
        },
    )
    .await
    .unwrap();
    platform
        .points()
        .post(PointsPosting {
            account_id: &member.id,
            amount: 3,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: "task:1",
        })
        .await
        .unwrap();
    let round = until("a round with the points to be confirmed", async || {
        let confirmed = rounds::with_status(&store, "confirmed", 100).await.ok()?;
        confirmed
            .into_iter()
            .find(|r| r.total_amount.as_deref().is_some_and(|t| t != "0"))
    })
    .await;
    assert!(contract.round().call().await.unwrap() >= round.number as u64);
    kill_9(&mut server);

    // Moving from a version 1 distributor: only a new distributor over the
    // same token, which counts what the old one paid; a version 2 one is
    // not what the move expects.
    let not_v1 = run(&[
        "chain",
        "deploy",
        "--rpc",
        chain.url(),
        "--token",
        &token.to_string(),
        "--replaces",
        &distributor.to_string(),
        "--replaces-deployed-block",
        "0",
    ]);
    assert!(!not_v1.status.success());
    // A fresh provider: the server sent with the same key since.
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(platform_key.clone()))
        .connect_http(chain.url().parse().unwrap());
    let v1 = deploy_distributor_v1(&provider, token, Roles::all(platform_key.address()))
        .await
        .unwrap();
    let move_to_v2 = || {
        run(&[
            "chain",
            "deploy",
            "--rpc",
            chain.url(),
            "--token",
            &token.to_string(),
            "--replaces",
            &v1.distributor.to_string(),
            "--replaces-deployed-block",
            &v1.block.to_string(),
        ])
    };
    // Both would pay: refused until the old one is paused.
    let unpaused = move_to_v2();
    assert!(!unpaused.status.success());
    assert!(
        String::from_utf8_lossy(&unpaused.stderr).contains("pause"),
        "{}",
        String::from_utf8_lossy(&unpaused.stderr)
    );
    RewardDistributorV1::new(v1.distributor, &provider)
        .pause()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let moved = move_to_v2();
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let config = String::from_utf8(moved.stdout).unwrap();
    assert_eq!(setting(&config, "token_address"), format!("{token:#x}"));
    assert_eq!(
        setting(&config, "legacy_deployed_block"),
        v1.block.to_string()
    );
    assert!(!config.contains("staking_address"), "{config}");
    let replacement = Address::from_str(setting(&config, "distributor_address")).unwrap();
    let replacement = RewardDistributor::new(replacement, &provider);
    assert_eq!(replacement.LEGACY().call().await.unwrap(), v1.distributor);
    chain.stop().await;
}

//! Contract wallets (EIP-1271) sign in through the configured chain RPC,
//! against a real anvil with a deployed contract wallet.

use std::path::{Path, PathBuf};

use alloy::network::EthereumWallet;
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::deploy::{deploy, Artifact};
use meritree_core::eth::Address;
use meritree_store::Backend;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app_with, Session, TestApp, TestWallet};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn start_anvil() -> Anvil {
    Anvil::start(&AnvilOptions::new(anvil::binary_for_tests(&repo_root())))
        .await
        .expect("anvil starts (scripts/setup installs it)")
}

/// Deploys the test contract wallet owned by `owner`.
async fn deploy_contract_wallet(rpc_url: &str, owner: Address) -> Address {
    let text = std::fs::read_to_string(repo_root().join("contracts/artifacts/Eip1271Wallet.json"))
        .expect("contract artifacts are committed");
    let artifact = Artifact::from_json(&text).unwrap();
    let deployer: PrivateKeySigner = anvil::DEV_KEY_0.parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer))
        .connect_http(rpc_url.parse().unwrap());
    deploy(&provider, &artifact, &owner.abi_encode())
        .await
        .unwrap()
}

/// A SIWE message for `address`, signed by `signer`'s key.
async fn signed_in_as(app: &TestApp, address: Address, signer: &TestWallet) -> reqwest::Response {
    let challenge = app.challenge().await;
    let message = meritree_core::siwe::SiweMessage::builder(
        challenge.domain.clone(),
        address,
        challenge.uri.clone(),
        challenge.chain_id,
        challenge.nonce.clone(),
        meritree_core::siwe::SiweTime::from_datetime(time::OffsetDateTime::now_utc()).unwrap(),
    )
    .statement(challenge.statement.clone())
    .build()
    .unwrap()
    .to_string();
    app.post_json(
        "/api/v1/auth/siwe/login",
        &mut Session::default(),
        json!({ "message": message, "signature": signer.sign(&message) }),
    )
    .await
}

#[tokio::test]
async fn a_contract_wallet_signs_in_through_eip1271() {
    let anvil = start_anvil().await;
    let owner = TestWallet::anvil(1);
    let contract = deploy_contract_wallet(anvil.url(), owner.address).await;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.chain.rpc_url = Some(anvil.url().to_owned())
    })
    .await;

    // The owner's key signs for the contract; the contract says yes on chain.
    let accepted = signed_in_as(&app, contract, &owner).await;
    assert_eq!(accepted.status(), 200);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(
        body["account"]["wallet"],
        meritree_core::eth::to_checksum(&contract)
    );

    // Another key's signature: the contract says no.
    let stranger = TestWallet::anvil(2);
    let refused = signed_in_as(&app, contract, &stranger).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(error_code(refused).await, "siwe_signer_mismatch");
    app.stop().await;

    // Without a chain RPC the server cannot ask the contract, and refuses.
    let no_chain = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let refused = signed_in_as(&no_chain, contract, &owner).await;
    assert_eq!(refused.status(), 401);
    no_chain.stop().await;
    anvil.stop().await;
}

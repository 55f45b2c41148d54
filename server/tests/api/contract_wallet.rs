//! Contract wallets (EIP-1271) sign in through the configured chain RPC,
//! against a real anvil with a deployed contract wallet; one whose signature
//! check burns gas cannot make the platform pay for it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use alloy::network::EthereumWallet;
use alloy::primitives::U256;
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::deploy::{deploy, Artifact};
use meritree_core::claims::ClaimView;
use meritree_core::eip712::{ClaimTo, Domain};
use meritree_core::eth::Address;
use meritree_store::Backend;
use serde_json::{json, Value};

use crate::helpers::{
    error_code, spawn_app_with, with_embedded_chain, Session, TestApp, TestWallet,
};
use crate::settlement::{claimable, credit, post_claim, until_final};

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
    deploy_test_contract(rpc_url, "Eip1271Wallet", &owner.abi_encode()).await
}

/// Deploys one of `contracts/src/testing` with ABI-encoded constructor `args`.
async fn deploy_test_contract(rpc_url: &str, name: &str, args: &[u8]) -> Address {
    let path = repo_root().join(format!("contracts/artifacts/{name}.json"));
    let text = std::fs::read_to_string(path).expect("contract artifacts are committed");
    let artifact = Artifact::from_json(&text).unwrap();
    let deployer: PrivateKeySigner = anvil::DEV_KEY_0.parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer))
        .connect_http(rpc_url.parse().unwrap());
    deploy(&provider, &artifact, args).await.unwrap()
}

/// A SIWE message for `address`, signed by `signer`'s key.
async fn signed_in_as(app: &TestApp, address: Address, signer: &TestWallet) -> reqwest::Response {
    signed_in_as_with_session(app, address, signer).await.0
}

async fn signed_in_as_with_session(
    app: &TestApp,
    address: Address,
    signer: &TestWallet,
) -> (reqwest::Response, Session) {
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
    let mut session = Session::default();
    let response = app
        .post_json(
            "/api/v1/auth/siwe/login",
            &mut session,
            json!({ "message": message, "signature": signer.sign(&message) }),
        )
        .await;
    (response, session)
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

#[tokio::test]
async fn a_contract_wallet_that_burns_gas_cannot_spend_the_platforms() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        with_embedded_chain(s);
        s.rewards.round_secs = 2;
    })
    .await;
    let rpc = app.chain_url.clone().unwrap();
    let owner = TestWallet::anvil(1);
    // Two million gas in every isValidSignature: five times what the
    // platform pays for a relayed claim.
    let burn = U256::from(2_000_000);
    let contract = deploy_test_contract(
        &rpc,
        "GasBurningWallet",
        &(owner.address, burn).abi_encode_params(),
    )
    .await;
    let (response, session) = signed_in_as_with_session(&app, contract, &owner).await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    credit(&app, me["account"]["id"].as_str().unwrap(), 3, "task:1").await;
    let units = U256::from(10).pow(U256::from(18));
    let claimable = claimable(&app, &session, U256::from(3) * units).await;

    // claimTo runs the wallet's signature check on the platform's gas: refused up front.
    let domain = Domain {
        chain_id: claimable.chain_id,
        verifying_contract: Address::from_str(&claimable.distributor).unwrap(),
    };
    let deadline = U256::from(meritree_platform::clock::unix_secs() + 3_600);
    let message = ClaimTo {
        account: contract,
        to: TestWallet::anvil(2).address,
        cumulative_amount: U256::from_str(&claimable.cumulative_amount).unwrap(),
        nonce: U256::from_str(&claimable.claim_to_nonce).unwrap(),
        deadline,
    };
    let refused = post_claim(
        &app,
        &session,
        json!({
            "idempotency_key": "claim-to-1",
            "to": message.to.to_string(),
            "deadline": deadline.to_string(),
            "signature": owner.sign_digest(message.signing_hash(&domain)),
        }),
    )
    .await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "claim_rejected", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("gas"),
        "{body}"
    );

    // A plain claim asks the wallet nothing, and is relayed as usual.
    let claim: ClaimView = post_claim(&app, &session, json!({ "idempotency_key": "claim-1" }))
        .await
        .json()
        .await
        .unwrap();
    let done = until_final(&app, &session, claim).await;
    assert_eq!(done.succeeded, Some(true));
    app.stop().await;
}

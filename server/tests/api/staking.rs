//! Staking on the embedded chain: with `compute.min_stake` set, an
//! operator's nodes register and connect only while the operator's wallet
//! holds that much in `NodeStaking` — tokens minted on the local chain,
//! approved and staked by the operator's own key.

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use meritree_chain::anvil;
use meritree_chain::contracts::{NodeStaking, RewardToken};
use meritree_store::{chain_txs, test_both_backends, Backend};
use serde_json::json;
use server::configuration::TokenUnits;

use crate::compute::operator;
use crate::helpers::{error_code, spawn_app_with, with_embedded_chain, TestApp, TestWallet};

/// Anvil's second development key: the operator's wallet.
const OPERATOR_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const MIN_STAKE: u64 = 1_000;

async fn contract(app: &TestApp, name: &str) -> Address {
    let (address, _) = chain_txs::contract(app.platform.db(), anvil::CHAIN_ID as i64, name)
        .await
        .unwrap()
        .unwrap();
    address.parse().unwrap()
}

async fn register(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/nodes/register"))
        .bearer_auth(key)
        .json(&json!({"name": "staked", "models": ["m"], "capacity": 1}))
        .send()
        .await
        .unwrap()
}

test_both_backends! {
    async fn nodes_run_only_on_enough_stake(backend: Backend) {
        let app = spawn_app_with(backend, |settings| {
            with_embedded_chain(settings);
            settings.compute.min_stake = Some(TokenUnits(U256::from(MIN_STAKE)));
        })
        .await;
        let (session, key) = operator(&app, "op@example.org").await;

        // No wallet: nothing staked.
        let bare = register(&app, &key).await;
        assert_eq!(bare.status(), 403);
        assert_eq!(error_code(bare).await, "stake_too_low");

        let wallet = TestWallet::anvil(1);
        let challenge = app.challenge().await;
        let message = app.siwe_message(&wallet, &challenge);
        let bound = app.request(reqwest::Method::POST, "/api/v1/user/wallet", &session)
            .json(&json!({"message": message, "signature": wallet.sign(&message)}))
            .send().await.unwrap();
        assert_eq!(bound.status(), 200);

        let rpc = app.chain_url.clone().unwrap().parse().unwrap();
        let platform = ProviderBuilder::new()
            .wallet(EthereumWallet::from(anvil::DEV_KEY_0.parse::<PrivateKeySigner>().unwrap()))
            .connect_http(rpc);
        let token = RewardToken::new(contract(&app, "token").await, &platform);
        token.mint(wallet.address, U256::from(MIN_STAKE * 2)).send().await.unwrap().get_receipt().await.unwrap();

        let staking_address = contract(&app, "staking").await;
        let operator_chain = ProviderBuilder::new()
            .wallet(EthereumWallet::from(OPERATOR_KEY.parse::<PrivateKeySigner>().unwrap()))
            .connect_http(app.chain_url.clone().unwrap().parse().unwrap());
        let token = RewardToken::new(contract(&app, "token").await, &operator_chain);
        let staking = NodeStaking::new(staking_address, &operator_chain);
        token.approve(staking_address, U256::from(MIN_STAKE)).send().await.unwrap().get_receipt().await.unwrap();
        // Below the minimum: still refused, and the message says by how much.
        staking.stake(U256::from(MIN_STAKE - 1)).send().await.unwrap().get_receipt().await.unwrap();
        let short = register(&app, &key).await;
        assert_eq!(short.status(), 403);
        let body: serde_json::Value = short.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("999"), "{body}");

        staking.stake(U256::from(1)).send().await.unwrap().get_receipt().await.unwrap();
        let staked = register(&app, &key).await;
        assert_eq!(staked.status(), 201);

        // Asking to unstake lowers the active stake at once: the node may
        // no longer connect.
        staking.requestUnstake(U256::from(1)).send().await.unwrap().get_receipt().await.unwrap();
        let node: serde_json::Value = staked.json().await.unwrap();
        let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            format!("ws://{}/api/v1/nodes/{}/connect", app.addr, node["id"].as_str().unwrap()),
        ).unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
        let refused = tokio_tungstenite::connect_async(request).await;
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403);
            }
            other => panic!("the socket was not refused: {:?}", other.map(|_| ())),
        }
        app.stop().await;
    }
}

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
use crate::helpers::{
    admin_session, error_code, spawn_app_with, with_embedded_chain, TestApp, TestWallet,
};

/// Anvil's second development key: the operator's wallet.
pub(crate) const OPERATOR_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
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

/// Binds anvil's second development wallet to the operator's account.
pub(crate) async fn bind_wallet(app: &TestApp, session: &crate::helpers::Session) -> TestWallet {
    let wallet = TestWallet::anvil(1);
    let challenge = app.challenge().await;
    let message = app.siwe_message(&wallet, &challenge);
    let bound = app
        .request(reqwest::Method::POST, "/api/v1/user/wallet", session)
        .json(&json!({"message": message, "signature": wallet.sign(&message)}))
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), 200);
    wallet
}

/// A client of the local chain signing with `key`.
fn chain_client(app: &TestApp, key: &str) -> impl alloy::providers::Provider + Clone {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(
            key.parse::<PrivateKeySigner>().unwrap(),
        ))
        .connect_http(app.chain_url.clone().unwrap().parse().unwrap())
}

/// Mints `amount` of the reward token to the operator's wallet (from the
/// platform's key, the token's minter) and lets the staking contract take it.
async fn fund_operator(app: &TestApp, wallet: &TestWallet, amount: u64) {
    let platform = chain_client(app, anvil::DEV_KEY_0);
    let token = RewardToken::new(contract(app, "token").await, &platform);
    token
        .mint(wallet.address, U256::from(amount))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let operator = chain_client(app, OPERATOR_KEY);
    let token = RewardToken::new(contract(app, "token").await, &operator);
    token
        .approve(contract(app, "staking").await, U256::from(amount))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
}

/// The platform on the embedded chain, with staking on at [`MIN_STAKE`].
async fn staking_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        with_embedded_chain(settings);
        settings.compute.min_stake = Some(TokenUnits(U256::from(MIN_STAKE)));
    })
    .await
}

test_both_backends! {
    async fn nodes_run_only_on_enough_stake(backend: Backend) {
        let app = staking_app(backend).await;
        let (session, key) = operator(&app, "op@example.org").await;

        // No wallet: nothing staked.
        let bare = register(&app, &key).await;
        assert_eq!(bare.status(), 403);
        assert_eq!(error_code(bare).await, "stake_too_low");

        let wallet = bind_wallet(&app, &session).await;
        fund_operator(&app, &wallet, MIN_STAKE).await;
        let operator_chain = chain_client(&app, OPERATOR_KEY);
        let staking = NodeStaking::new(contract(&app, "staking").await, &operator_chain);
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

    async fn an_admin_slashes_a_flagged_node_once_and_the_stake_falls_on_chain(backend: Backend) {
        let app = staking_app(backend).await;
        let (session, key) = operator(&app, "op@example.org").await;
        let wallet = bind_wallet(&app, &session).await;
        fund_operator(&app, &wallet, 2 * MIN_STAKE).await;
        let operator_chain = chain_client(&app, OPERATOR_KEY);
        let staking = NodeStaking::new(contract(&app, "staking").await, &operator_chain);
        staking.stake(U256::from(2 * MIN_STAKE)).send().await.unwrap().get_receipt().await.unwrap();
        let node: serde_json::Value = register(&app, &key).await.json().await.unwrap();
        let id = node["id"].as_str().unwrap().to_owned();
        let review_path = format!("/api/v1/admin/nodes/{id}/review");

        // Its results disagreed with other nodes' three times: flagged.
        for _ in 0..3 {
            meritree_store::compute::record_check(app.platform.db(), &id, false, 100, 3).await.unwrap();
        }
        let slash = |amount: u64| json!({"slash": amount.to_string(), "reason": "copied answers"});

        // Only an admin's session reviews: not the operator, not a key.
        let by_operator = app.request(reqwest::Method::POST, &review_path, &session).json(&slash(1)).send().await.unwrap();
        assert_eq!(error_code(by_operator).await, "forbidden");
        let by_key = app.client.post(app.url(&review_path)).bearer_auth(&key).json(&slash(1)).send().await.unwrap();
        assert_eq!(error_code(by_key).await, "session_required");

        let admin = admin_session(&app).await;
        let flagged = app.get_json("/api/v1/admin/nodes/flagged", &admin).await;
        assert_eq!(flagged[0]["id"], id.as_str(), "{flagged}");
        assert_eq!(flagged[0]["mismatches"], 3);

        // Malformed decisions and a slash beyond the stake change nothing.
        for (body, code) in [
            (json!({"slash": "0", "reason": "r"}), "invalid_review"),
            (json!({"slash": "-5", "reason": "r"}), "invalid_review"),
            (json!({"slash": 5, "reason": "r"}), "invalid_request"),
            (json!({"reason": " "}), "invalid_review"),
            (slash(2 * MIN_STAKE + 1), "slash_refused"),
        ] {
            let refused = app.request(reqwest::Method::POST, &review_path, &admin).json(&body).send().await.unwrap();
            assert_eq!(error_code(refused).await, code, "{body}");
        }

        let slashed = app.request(reqwest::Method::POST, &review_path, &admin).json(&slash(MIN_STAKE + 1)).send().await.unwrap();
        assert_eq!(slashed.status(), 201);
        let review: serde_json::Value = slashed.json().await.unwrap();
        assert_eq!(review["decision"], "slashed");
        assert_eq!(review["amount"], (MIN_STAKE + 1).to_string());
        assert!(review["transaction"]["id"].is_string(), "{review}");
        // Reviewed once: a second decision on the same flag is refused.
        let again = app.request(reqwest::Method::POST, &review_path, &admin).json(&slash(1)).send().await.unwrap();
        assert_eq!(again.status(), 409);
        assert_eq!(error_code(again).await, "not_flagged");

        // The outbox sends the slash; the operator's stake falls below the
        // minimum, and the node is refused from then on.
        let left = U256::from(MIN_STAKE - 1);
        let mut waited = 0;
        while staking.stakeOf(wallet.address).call().await.unwrap() != left {
            assert!(waited < 300, "the slash never reached the chain");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
        let refused = register(&app, &key).await;
        assert_eq!(error_code(refused).await, "stake_too_low");
        let reviews = app.get_json(&format!("/api/v1/admin/nodes/{id}/reviews"), &admin).await;
        assert_eq!(reviews.as_array().unwrap().len(), 1);
        assert!(reviews[0]["transaction"]["hash"].is_string(), "{reviews}");

        // Flagged again later, and cleared this time: no transaction.
        meritree_store::compute::record_check(app.platform.db(), &id, false, 100, 3).await.unwrap();
        let cleared = app.request(reqwest::Method::POST, &review_path, &admin)
            .json(&json!({"reason": "the other node was wrong"})).send().await.unwrap();
        assert_eq!(cleared.status(), 201);
        let review: serde_json::Value = cleared.json().await.unwrap();
        assert_eq!(review["decision"], "cleared");
        assert!(review["transaction"].is_null());
        let status = app.get_json(&format!("/api/v1/nodes/{id}/status"), &admin).await;
        assert_eq!(status["flagged"], false);
        assert_eq!(staking.stakeOf(wallet.address).call().await.unwrap(), left);
        app.stop().await;
    }
}

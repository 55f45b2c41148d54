//! Settlement end to end on a real anvil: points → a closed round → a root
//! on chain → a gas-free claim relayed by the platform → tokens in the
//! wallet; then `claimTo` signed by the wallet (EIP-712), and the refusals.

use std::str::FromStr;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use meritree_chain::contracts::RewardToken;
use meritree_core::claims::{ClaimStatus, ClaimView, Claimable};
use meritree_core::eip712::{ClaimTo, Domain};
use meritree_core::points::PointsReason;
use meritree_platform::points::PointsPosting;
use meritree_store::Backend;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    error_code, spawn_app_with, with_embedded_chain, Session, TestApp, TestWallet,
};

pub(crate) async fn credit(app: &TestApp, account_id: &str, points: i64, key: &str) {
    app.platform
        .points()
        .post(PointsPosting {
            account_id,
            amount: points,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: key,
        })
        .await
        .unwrap();
}

/// Waits until the newest published root pays `at_least` to the wallet.
pub(crate) async fn claimable(app: &TestApp, session: &Session, at_least: U256) -> Claimable {
    let started = Instant::now();
    loop {
        let response = app
            .request(Method::GET, "/api/v1/user/claimable", session)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let claimable: Claimable = response.json().await.unwrap();
            if U256::from_str(&claimable.cumulative_amount).unwrap() >= at_least {
                return claimable;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no root published in time"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(crate) async fn until_final(app: &TestApp, session: &Session, claim: ClaimView) -> ClaimView {
    let started = Instant::now();
    let mut claim = claim;
    while !claim.status.is_final() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "claim stuck: {claim:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        claim = app
            .request(
                Method::GET,
                &format!("/api/v1/user/claims/{}", claim.id),
                session,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    claim
}

async fn token_balance(app: &TestApp, token: &str, holder: Address) -> U256 {
    let provider =
        ProviderBuilder::new().connect_http(app.chain_url.as_ref().unwrap().parse().unwrap());
    RewardToken::new(Address::from_str(token).unwrap(), provider)
        .balanceOf(holder)
        .call()
        .await
        .unwrap()
}

pub(crate) async fn post_claim(
    app: &TestApp,
    session: &Session,
    body: serde_json::Value,
) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/user/claims", session)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn points_become_tokens_claimed_without_gas() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        with_embedded_chain(s);
        s.rewards.round_secs = 2;
        s.metrics.token = "scrape".into();
    })
    .await;
    let wallet = TestWallet::anvil(1);
    let (response, session) = app.wallet_sign_in(&wallet).await;
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = response.json().await.unwrap();
    let account_id = me["account"]["id"].as_str().unwrap().to_owned();

    // Nothing published yet.
    let early = app
        .request(Method::GET, "/api/v1/user/claimable", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(early).await, "nothing_to_claim");

    credit(&app, &account_id, 25, "task:1").await;
    let units = U256::from(10).pow(U256::from(18));
    let first = claimable(&app, &session, U256::from(25) * units).await;
    assert_eq!(
        first.cumulative_amount,
        (U256::from(25) * units).to_string()
    );
    assert_eq!(first.claimable, first.cumulative_amount);
    let before = token_balance(&app, &first.token, wallet.address).await;

    let queued = post_claim(&app, &session, json!({ "idempotency_key": "claim-1" })).await;
    assert_eq!(queued.status(), 202);
    let queued: ClaimView = queued.json().await.unwrap();
    // A retry with the same key is the same claim, not a second one.
    let retried: ClaimView = post_claim(&app, &session, json!({ "idempotency_key": "claim-1" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried.id, queued.id);
    // Another key while it is on its way: refused, not queued to fail.
    let doubled = post_claim(&app, &session, json!({ "idempotency_key": "claim-1b" })).await;
    assert_eq!(doubled.status(), 409);
    assert_eq!(error_code(doubled).await, "claim_in_progress");
    let done = until_final(&app, &session, queued).await;
    assert_eq!(
        (done.status, done.succeeded),
        (ClaimStatus::Confirmed, Some(true))
    );
    let after = token_balance(&app, &first.token, wallet.address).await;
    assert_eq!(
        after - before,
        U256::from(25) * units,
        "the wallet received its tokens"
    );

    // Paid in full: another claim pays nothing and is refused up front.
    let again = post_claim(&app, &session, json!({ "idempotency_key": "claim-2" })).await;
    assert_eq!(error_code(again).await, "nothing_to_claim");

    // More points, a later round: this time to another address, as the wallet signed.
    credit(&app, &account_id, 10, "task:2").await;
    let second = claimable(&app, &session, U256::from(35) * units).await;
    assert_eq!(second.claimable, (U256::from(10) * units).to_string());
    let recipient = TestWallet::anvil(2).address;
    let domain = Domain {
        chain_id: second.chain_id,
        verifying_contract: Address::from_str(&second.distributor).unwrap(),
    };
    let deadline = U256::from(meritree_platform::clock::unix_secs() + 3_600);
    let message = ClaimTo {
        account: wallet.address,
        to: recipient,
        cumulative_amount: U256::from_str(&second.cumulative_amount).unwrap(),
        nonce: U256::from_str(&second.claim_to_nonce).unwrap(),
        deadline,
    };
    let stranger = TestWallet::anvil(0);
    let forged = post_claim(
        &app,
        &session,
        json!({
            "idempotency_key": "claim-to-forged",
            "to": recipient.to_string(),
            "deadline": deadline.to_string(),
            "signature": stranger.sign_digest(message.signing_hash(&domain)),
        }),
    )
    .await;
    assert_eq!(forged.status(), 422);
    assert_eq!(error_code(forged).await, "claim_rejected");

    let recipient_before = token_balance(&app, &second.token, recipient).await;
    let signed: ClaimView = post_claim(
        &app,
        &session,
        json!({
            "idempotency_key": "claim-to-1",
            "to": recipient.to_string(),
            "deadline": deadline.to_string(),
            "signature": wallet.sign_digest(message.signing_hash(&domain)),
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(signed.to, recipient.to_checksum(None));
    let done = until_final(&app, &session, signed).await;
    assert_eq!(done.succeeded, Some(true));
    let received = token_balance(&app, &second.token, recipient).await - recipient_before;
    assert_eq!(
        received,
        U256::from(10) * units,
        "claimTo paid the signed-for address"
    );

    // The public record: every closed round is on chain, in order.
    let page: serde_json::Value = app.get("/api/v1/rounds").await.json().await.unwrap();
    let rounds = page["rounds"].as_array().unwrap();
    assert!(rounds.iter().any(|r| r["status"] == "confirmed"));
    let numbers: Vec<i64> = rounds
        .iter()
        .map(|r| r["number"].as_i64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] == w[1] + 1),
        "no gaps: {numbers:?}"
    );

    // Anyone can check a round against the chain from its public export.
    let confirmed = rounds
        .iter()
        .find(|r| r["status"] == "confirmed" && r["leaf_count"].as_i64() > Some(0))
        .expect("a confirmed round with leaves");
    let n = confirmed["number"].as_i64().unwrap();
    let export_url = app.url(&format!("/api/v1/rounds/{n}/export"));
    // Async: the app serving the export runs on this test's runtime.
    let verified = tokio::process::Command::new(env!("CARGO_BIN_EXE_meritree"))
        .args(["verify-round", &n.to_string(), "--export", &export_url])
        .args(["--rpc", app.chain_url.as_deref().unwrap()])
        .args(["--distributor", &second.distributor])
        // Round n is the newest with leaves, and came after the second
        // credit: n - 1 has a tree too (round 1 at the earliest).
        .args([
            "--previous-export",
            &app.url(&format!("/api/v1/rounds/{}/export", n - 1)),
        ])
        .env("MERITREE_CHAIN__EMBEDDED", "false")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(stdout.contains("published on chain"), "{stdout}");
    assert!(
        stdout.contains("is the one proposed with it"),
        "the export's hash was checked: {stdout}"
    );
    assert!(stdout.contains("no total fell"), "{stdout}");

    // A tampered export fails the check.
    let mut export: meritree_core::rounds::RoundExport = app
        .get(&format!("/api/v1/rounds/{n}/export"))
        .await
        .json()
        .await
        .unwrap();
    export.leaves[0].amount = "1".into();
    assert!(export.verify().is_err());

    // What an operator watches of settlement: the outbox and the relayer's gas money.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} in\n{metrics}"))
    };
    assert!(value(r#"meritree_outbox_transactions{state="confirmed"}"#) >= 3.0);
    assert!(value("meritree_relayer_balance_ether") > 0.0);
    assert!(value(r#"meritree_rounds{state="confirmed"}"#) >= 2.0);
    app.stop().await;
}

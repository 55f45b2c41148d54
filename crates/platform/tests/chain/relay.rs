//! The relayer's guard against claims that pass simulation and revert on
//! chain (each costs the platform gas and spends nothing of the claimant's).

use super::*;
use alloy::primitives::Address;
use alloy::providers::WalletProvider;
use meritree_core::ErrorCode;

/// anvil's second dev key: someone other than the platform.
const OTHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

#[tokio::test]
async fn a_relayed_claim_that_reverts_on_chain_pauses_relaying_for_the_account() {
    let s = setup(Duration::from_secs(3600)).await;
    let wallet = Address::repeat_byte(0x42);
    let account = member_with_points(&s, wallet, 7).await;
    close_round(&s.platform, 1).await;
    settle(&s.platform).await;
    let claimable = s
        .platform
        .chain()
        .claimable(&account.as_str().into())
        .await
        .unwrap();

    // The relayed claim waits in the mempool while the same claim, sent by
    // someone else with a higher tip, goes first in the same block.
    anvil_call(&s, "evm_setAutomine", serde_json::json!([false])).await;
    let relayed = s
        .platform
        .chain()
        .request_claim(&account.as_str().into(), "claim-1", None)
        .await
        .unwrap();
    assert_eq!(s.platform.chain().pump_outbox().await.unwrap().sent, 1);
    let other = ProviderBuilder::new()
        .wallet(EthereumWallet::from(
            PrivateKeySigner::from_str(OTHER_KEY).unwrap(),
        ))
        .connect_http(s.anvil.url().parse().unwrap());
    assert_ne!(other.default_signer_address(), anvil_key_address());
    let proof: Vec<B256> = claimable.proof.iter().map(|p| p.parse().unwrap()).collect();
    let amount = U256::from_str(&claimable.cumulative_amount).unwrap();
    let front_run = RewardDistributor::new(s.deployed.distributor, &other)
        .claim(wallet, amount, proof)
        .gas(200_000)
        .max_fee_per_gas(200_000_000_000)
        .max_priority_fee_per_gas(100_000_000_000)
        .send()
        .await
        .unwrap();
    anvil_call(&s, "evm_mine", serde_json::json!([])).await;
    anvil_call(&s, "evm_setAutomine", serde_json::json!([true])).await;
    assert!(front_run.get_receipt().await.unwrap().status());
    settle(&s.platform).await;
    let relayed = s
        .platform
        .chain()
        .claim(&account.as_str().into(), &relayed.id)
        .await
        .unwrap();
    assert_eq!(relayed.succeeded, Some(false), "{relayed:?}");
    assert_eq!(
        token_balance(&s, wallet).await,
        amount,
        "paid once, by the other sender"
    );

    // More to claim, but the platform does not relay for this account for now.
    credit(&s, &account, 5, "task:2").await;
    close_round(&s.platform, 2).await;
    settle(&s.platform).await;
    let paused = s
        .platform
        .chain()
        .request_claim(&account.as_str().into(), "claim-2", None)
        .await
        .unwrap_err();
    assert_eq!(paused.code(), ErrorCode::ClaimRejected, "{paused}");
    assert!(paused.to_string().contains("reverted on chain"), "{paused}");
    s.anvil.stop().await;
}

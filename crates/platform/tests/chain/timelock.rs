//! Version 2 of the distributor: roots wait out a timelock (during which the
//! guardian may revoke them) and carry their export's hash. A platform on
//! version 1 keeps working, and moving it to version 2 pays nobody twice.

use super::*;
use alloy::primitives::Address;
use meritree_core::ErrorCode;

const DAY: u64 = 86_400;
/// Moves the chain's clock (what the timelock reads) forward.
async fn advance_chain_time(s: &Setup, secs: u64) {
    anvil_call(s, "evm_increaseTime", serde_json::json!([secs])).await;
    anvil_call(s, "evm_mine", serde_json::json!([])).await;
}

async fn pending_round(s: &Setup) -> u64 {
    let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
    RewardDistributor::new(s.deployed.distributor, provider)
        .pendingRoot()
        .call()
        .await
        .unwrap()
        .round
}

async fn txs_of_kind(db: &Database, kind: &str, status: &str) -> usize {
    chain_txs::with_status(db, status)
        .await
        .unwrap()
        .iter()
        .filter(|tx| tx.kind == kind)
        .count()
}

test_both_backends! {
    async fn a_timelocked_root_pays_only_after_its_delay(backend: Backend) {
        let timelock = Distributor::V2 { timelock_secs: DAY };
        let s = setup_with(backend, Duration::from_secs(3600), timelock).await;
        let wallet = Address::repeat_byte(0x42);
        let account = member_with_points(&s, wallet, 7).await;
        close_round(&s.platform, 1).await;
        settle(&s.platform).await;

        // Proposed with the hash of the export the platform serves ...
        let export = s.platform.rounds().export(1).await.unwrap();
        let chain = s.options.chain.as_ref().unwrap();
        let proposed = chain.proposed_root(s.deployed.distributor, 1, 0).await.unwrap().unwrap();
        assert_eq!(format!("{:#x}", proposed.root), export.root);
        assert_eq!(proposed.export_hash, export.export_hash());
        assert_eq!(s.platform.rounds().round(1).await.unwrap().status.as_str(), "confirmed");
        // ... but not claimable while it waits.
        assert_eq!((chain_round(&s).await, pending_round(&s).await), (0, 1));
        let early = s.platform.chain().request_claim(&account.as_str().into(), "claim-1", None).await.unwrap_err();
        assert_eq!(early.code(), ErrorCode::NothingToClaim, "{early}");

        // Round 2 waits behind round 1's timelock.
        close_round(&s.platform, 2).await;
        let pass = s.platform.chain().publish_rounds().await.unwrap();
        assert!(
            pass.waiting.as_ref().is_some_and(|(n, why)| *n == 2 && why.contains("timelock")),
            "{pass:?}"
        );

        // A day later round 2's proposal makes round 1 claimable, and it pays.
        advance_chain_time(&s, DAY).await;
        settle(&s.platform).await;
        assert_eq!((chain_round(&s).await, pending_round(&s).await), (1, 2));
        s.platform.chain().request_claim(&account.as_str().into(), "claim-1", None).await.unwrap();
        settle(&s.platform).await;
        assert_eq!(token_balance(&s, wallet).await, U256::from(7_000));

        // With no newer round to propose, the platform accepts round 2 itself.
        advance_chain_time(&s, DAY).await;
        settle(&s.platform).await;
        assert_eq!((chain_round(&s).await, pending_round(&s).await), (2, 0));
        assert_eq!(txs_of_kind(&s.db, "accept_root", "confirmed").await, 1);
        assert_eq!(set_root_txs(&s.db).await, 2, "one proposal per round");
        assert_eq!(s.platform.chain().reconcile().await.unwrap(), Default::default());
        s.anvil.stop().await;
    }
}

#[tokio::test]
async fn a_root_the_guardian_revokes_is_not_proposed_again() {
    let timelock = Distributor::V2 { timelock_secs: DAY };
    let s = setup_with(Backend::Sqlite, Duration::from_secs(3600), timelock).await;
    let wallet = Address::repeat_byte(0x42);
    let account = member_with_points(&s, wallet, 7).await;
    close_round(&s.platform, 1).await;
    settle(&s.platform).await;
    assert_eq!(pending_round(&s).await, 1);

    let signer = signer(&s);
    RewardDistributor::new(s.deployed.distributor, &signer)
        .revokePendingRoot()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    // The round goes back to `closing` and publication stops on it, saying why.
    let found = s.platform.chain().reconcile().await.unwrap();
    assert_eq!(found.reopened, vec![1]);
    let pass = s.platform.chain().publish_rounds().await.unwrap();
    assert!(
        pass.waiting
            .as_ref()
            .is_some_and(|(n, why)| *n == 1 && why.contains("revoked")),
        "{pass:?}"
    );
    advance_chain_time(&s, 2 * DAY).await;
    settle(&s.platform).await;
    assert_eq!(set_root_txs(&s.db).await, 1, "never proposed again");
    assert_eq!((chain_round(&s).await, pending_round(&s).await), (0, 0));
    assert_eq!(
        s.platform.rounds().round(1).await.unwrap().status.as_str(),
        "closing"
    );
    let refused = s
        .platform
        .chain()
        .request_claim(&account.as_str().into(), "claim-1", None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::NothingToClaim, "{refused}");
    s.anvil.stop().await;
}

#[tokio::test]
async fn a_root_someone_else_proposed_holds_publication_until_it_is_revoked() {
    let timelock = Distributor::V2 { timelock_secs: DAY };
    let s = setup_with(Backend::Sqlite, Duration::from_secs(3600), timelock).await;
    member_with_points(&s, Address::repeat_byte(0x42), 7).await;
    // The updater key, stolen: a root for a far round, paying someone else.
    let signer = signer(&s);
    let distributor = RewardDistributor::new(s.deployed.distributor, &signer);
    distributor
        .proposeRoot(B256::repeat_byte(0x66), 1_000, B256::ZERO)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    close_round(&s.platform, 1).await;

    // Neither taken for the platform's own rounds nor accepted by it.
    let pass = s.platform.chain().publish_rounds().await.unwrap();
    assert!(
        pass.waiting
            .as_ref()
            .is_some_and(|(n, why)| *n == 1 && why.contains("did not propose")),
        "{pass:?}"
    );
    assert_eq!(
        s.platform.rounds().round(1).await.unwrap().status.as_str(),
        "closing"
    );
    advance_chain_time(&s, 2 * DAY).await;
    settle(&s.platform).await;
    assert_eq!((chain_round(&s).await, pending_round(&s).await), (0, 1_000));
    assert_eq!(txs_of_kind(&s.db, "accept_root", "queued").await, 0);

    // Once the guardian revokes it, the platform's round goes out.
    distributor
        .revokePendingRoot()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    settle(&s.platform).await;
    assert_eq!(pending_round(&s).await, 1);
    s.anvil.stop().await;
}

test_both_backends! {
    async fn a_platform_on_version_1_keeps_working_and_moves_to_version_2_without_paying_twice(backend: Backend) {
        let s = setup_with(backend, Duration::from_secs(3600), Distributor::V1).await;
        let v1 = s.deployed.distributor;
        let wallet = Address::repeat_byte(0x42);
        let account = member_with_points(&s, wallet, 7).await;
        close_round(&s.platform, 1).await;
        settle(&s.platform).await;
        assert_eq!(chain_round(&s).await, 1, "setRoot on version 1");
        s.platform.chain().request_claim(&account.as_str().into(), "claim-1", None).await.unwrap();
        settle(&s.platform).await;
        assert_eq!(token_balance(&s, wallet).await, U256::from(7_000));

        // More points, and round 2 closes while the operator moves.
        credit(&s, &account, 5, "task:2").await;
        close_round(&s.platform, 2).await;

        // The move, as the README describes it: pause version 1, deploy
        // version 2 over the same token replacing it, restart on it.
        let signer = signer(&s);
        meritree_chain::contracts::RewardDistributorV1::new(v1, &signer)
            .pause()
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let policy = RootPolicy { timelock_secs: 0, legacy: Some(v1) };
        let v2 = deploy_distributor(&signer, s.deployed.token, Roles::all(anvil_key_address()), policy)
            .await
            .unwrap();
        let mut options = s.options.clone();
        let settlement = options.settlement.as_mut().unwrap();
        settlement.distributor = v2.distributor;
        settlement.version = DistributorVersion::V2;
        settlement.from_block = v2.block;
        settlement.legacy = Some((v1, 0));
        let moved = Platform::start(s.db.clone(), options).await.unwrap();
        settle(&moved).await;

        // Round 1 stays on version 1; round 2 is proposed on version 2, which
        // was funded only for what version 1 did not pay.
        let provider = ProviderBuilder::new().connect_http(s.anvil.url().parse().unwrap());
        let distributor = RewardDistributor::new(v2.distributor, &provider);
        assert_eq!(distributor.round().call().await.unwrap(), 2);
        assert_eq!(set_root_txs(&s.db).await, 2, "round 1 is not published again");
        let funded = RewardToken::new(s.deployed.token, &provider).balanceOf(v2.distributor).call().await.unwrap();
        assert_eq!(funded, U256::from(5_000));

        let claimable = moved.chain().claimable(&account.as_str().into()).await.unwrap();
        assert_eq!(
            (claimable.round, claimable.claimed.as_str(), claimable.claimable.as_str()),
            (2, "7000", "5000")
        );
        moved.chain().request_claim(&account.as_str().into(), "claim-2", None).await.unwrap();
        settle(&moved).await;
        assert_eq!(token_balance(&s, wallet).await, U256::from(12_000));
        let again = moved.chain().request_claim(&account.as_str().into(), "claim-3", None).await.unwrap_err();
        assert_eq!(again.code(), ErrorCode::NothingToClaim, "{again}");
        s.anvil.stop().await;
    }
}

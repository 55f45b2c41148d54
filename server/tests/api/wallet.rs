use meritree_core::accounts::{AccountView, SessionInfo};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, Challenge, Session, TestApp, TestWallet, PASSWORD};

/// Changes one field of an honest challenge.
type Tamper = fn(Challenge) -> Challenge;

async fn login(app: &TestApp, message: &str, signature: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/siwe/login",
        &mut Session::default(),
        json!({ "message": message, "signature": signature }),
    )
    .await
}

async fn bind(app: &TestApp, session: &Session, wallet: &TestWallet) -> reqwest::Response {
    let challenge = app.challenge().await;
    let message = app.siwe_message(wallet, &challenge);
    app.request(Method::POST, "/api/v1/user/wallet", session)
        .json(&json!({ "message": message, "signature": wallet.sign(&message) }))
        .send()
        .await
        .unwrap()
}

test_both_backends! {
    async fn a_wallet_signs_in_and_keeps_one_account(backend: Backend) {
        let app = spawn_app(backend).await;
        let wallet = TestWallet::anvil(0);
        let (first, session) = app.wallet_sign_in(&wallet).await;
        assert_eq!(first.status(), 200);
        let info: SessionInfo = first.json().await.unwrap();
        assert_eq!(info.account.email, None);
        assert_eq!(
            info.account.wallet.as_deref().map(str::to_lowercase),
            Some(format!("{:#x}", wallet.address))
        );
        let me: AccountView = app.request(Method::GET, "/api/v1/user/me", &session)
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(me.id, info.account.id);

        let (again, _) = app.wallet_sign_in(&wallet).await;
        let again: SessionInfo = again.json().await.unwrap();
        assert_eq!(again.account.id, info.account.id, "the same wallet, the same account");
        app.stop().await;
    }

    async fn a_nonce_works_once_and_only_if_issued(backend: Backend) {
        let app = spawn_app(backend).await;
        let wallet = TestWallet::anvil(0);
        let challenge = app.challenge().await;
        let message = app.siwe_message(&wallet, &challenge);
        let signature = wallet.sign(&message);
        assert_eq!(login(&app, &message, &signature).await.status(), 200);

        let replay = login(&app, &message, &signature).await;
        assert_eq!(replay.status(), 401);
        assert_eq!(error_code(replay).await, "siwe_nonce_invalid");

        let invented = Challenge { nonce: "NeverIssued123".into(), ..challenge };
        let message = app.siwe_message(&wallet, &invented);
        let response = login(&app, &message, &wallet.sign(&message)).await;
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(response).await, "siwe_nonce_invalid");
        app.stop().await;
    }

    async fn messages_for_another_site_chain_or_time_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let wallet = TestWallet::anvil(0);
        let cases: [(&str, Tamper); 3] = [
            ("siwe_domain_mismatch", |c| Challenge { domain: "evil.example".into(), ..c }),
            ("siwe_uri_mismatch", |c| Challenge { uri: "https://evil.example".into(), ..c }),
            ("siwe_chain_id_mismatch", |c| Challenge { chain_id: 1, ..c }),
        ];
        for (code, tamper) in cases {
            let challenge = tamper(app.challenge().await);
            let message = app.siwe_message(&wallet, &challenge);
            let response = login(&app, &message, &wallet.sign(&message)).await;
            assert_eq!(response.status(), 401, "{code}");
            assert_eq!(error_code(response).await, code);
        }

        // Expired an hour ago.
        let challenge = app.challenge().await;
        let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        let message = meritree_core::siwe::SiweMessage::builder(
            challenge.domain.clone(), wallet.address, challenge.uri.clone(), challenge.chain_id,
            challenge.nonce.clone(),
            meritree_core::siwe::SiweTime::from_datetime(hour_ago - time::Duration::minutes(5)).unwrap(),
        )
        .expiration_time(meritree_core::siwe::SiweTime::from_datetime(hour_ago).unwrap())
        .build()
        .unwrap()
        .to_string();
        let response = login(&app, &message, &wallet.sign(&message)).await;
        assert_eq!(error_code(response).await, "siwe_expired");

        // Signed by another key than the message's address.
        let challenge = app.challenge().await;
        let message = app.siwe_message(&wallet, &challenge);
        let response = login(&app, &message, &TestWallet::anvil(1).sign(&message)).await;
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(response).await, "siwe_signer_mismatch");

        // A refused attempt does not burn the nonce: the real signature still works.
        assert_eq!(login(&app, &message, &wallet.sign(&message)).await.status(), 200);

        let garbage = login(&app, "hello", &wallet.sign("hello")).await;
        assert_eq!(garbage.status(), 400);
        assert_eq!(error_code(garbage).await, "siwe_malformed");
        let message = app.siwe_message(&wallet, &app.challenge().await);
        for bad_signature in ["0x1234", "not hex"] {
            let response = login(&app, &message, bad_signature).await;
            assert_eq!(response.status(), 401, "{bad_signature}");
            assert_eq!(error_code(response).await, "siwe_invalid_signature");
        }
        app.stop().await;
    }

    async fn binding_a_wallet_is_one_to_one_and_reversible(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let bob = app.register("bob@example.org").await;
        let wallet = TestWallet::anvil(0);

        let bound = bind(&app, &ann, &wallet).await;
        assert_eq!(bound.status(), 200);
        let account: AccountView = bound.json().await.unwrap();
        assert!(account.wallet.is_some());

        let taken = bind(&app, &bob, &wallet).await;
        assert_eq!(taken.status(), 409);
        assert_eq!(error_code(taken).await, "wallet_taken");
        let second = bind(&app, &ann, &TestWallet::anvil(1)).await;
        assert_eq!(second.status(), 409);
        assert_eq!(error_code(second).await, "wallet_already_bound");

        // The bound wallet now signs in to Ann's account.
        let (response, _) = app.wallet_sign_in(&wallet).await;
        let info: SessionInfo = response.json().await.unwrap();
        assert_eq!(info.account.id, account.id);

        let unbound = app.request(Method::DELETE, "/api/v1/user/wallet", &ann).send().await.unwrap();
        assert_eq!(unbound.status(), 200);
        let account: AccountView = unbound.json().await.unwrap();
        assert_eq!(account.wallet, None);
        assert_eq!(account.email.as_deref(), Some("ann@example.org"), "the account keeps its data");
        assert_eq!(bind(&app, &bob, &wallet).await.status(), 200, "now Bob may bind it");
        app.stop().await;
    }

    async fn a_wallet_account_adds_an_email_before_it_can_unbind(backend: Backend) {
        let app = spawn_app(backend).await;
        let wallet = TestWallet::anvil(2);
        let (_, session) = app.wallet_sign_in(&wallet).await;

        let refused = app.request(Method::DELETE, "/api/v1/user/wallet", &session).send().await.unwrap();
        assert_eq!(refused.status(), 409);
        assert_eq!(error_code(refused).await, "last_sign_in_method");

        let added = app.request(Method::POST, "/api/v1/user/email", &session)
            .json(&json!({ "email": "Carol@Example.org", "password": PASSWORD }))
            .send().await.unwrap();
        assert_eq!(added.status(), 200);
        let again = app.request(Method::POST, "/api/v1/user/email", &session)
            .json(&json!({ "email": "other@example.org", "password": PASSWORD }))
            .send().await.unwrap();
        assert_eq!(error_code(again).await, "email_already_set");

        let unbound = app.request(Method::DELETE, "/api/v1/user/wallet", &session).send().await.unwrap();
        assert_eq!(unbound.status(), 200);
        let mut s = Session::default();
        let login = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "carol@example.org", "password": PASSWORD })).await;
        assert_eq!(login.status(), 200);
        app.stop().await;
    }
}

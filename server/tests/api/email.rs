//! Email addresses proved by a link, passwords reset by one, and
//! look-alike addresses refused; mail goes through a local SMTP sink.

use meritree_core::accounts::AccountView;
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app_with, Session, TestApp, PASSWORD};
use crate::mail_sink::MailSink;

async fn app_with_mail(backend: Backend) -> (TestApp, MailSink) {
    let sink = MailSink::start().await;
    let url = sink.url.clone();
    let app = spawn_app_with(backend, move |s| {
        s.email.smtp_url = url.into();
        s.telegram.bot_token = crate::telegram::BOT_TOKEN.into();
    })
    .await;
    (app, sink)
}

async fn me(app: &TestApp, session: &Session) -> AccountView {
    serde_json::from_value(app.get_json("/api/v1/user/me", session).await).unwrap()
}

test_both_backends! {
    async fn a_new_address_is_verified_by_the_emailed_link(backend: Backend) {
        let (app, sink) = app_with_mail(backend).await;
        let ann = app.register("ann@example.org").await;
        assert!(!me(&app, &ann).await.email_verified);

        let mail = sink.next_to("ann@example.org").await;
        assert!(mail.data.contains("Confirm your email address"), "{}", mail.data);
        assert!(mail.data.contains(&format!("{}/verify-email?token=", app.origin())), "{}", mail.data);
        let token = mail.token_for("verify-email").unwrap();

        let wrong = app.client.post(app.url("/api/v1/auth/verify-email"))
            .json(&json!({ "token": "not-a-token" })).send().await.unwrap();
        assert_eq!(error_code(wrong).await, "email_link_invalid");
        let verified = app.client.post(app.url("/api/v1/auth/verify-email"))
            .json(&json!({ "token": token })).send().await.unwrap();
        assert_eq!(verified.status(), 200);
        assert!(me(&app, &ann).await.email_verified);
        let again = app.client.post(app.url("/api/v1/auth/verify-email"))
            .json(&json!({ "token": token })).send().await.unwrap();
        assert_eq!(error_code(again).await, "email_link_invalid", "a link works once");

        let resend = app.request(Method::POST, "/api/v1/user/email/verification", &ann).send().await.unwrap();
        assert_eq!(error_code(resend).await, "email_already_verified");
        app.stop().await;
    }

    async fn only_the_newest_unexpired_link_works(backend: Backend) {
        let (app, sink) = app_with_mail(backend).await;
        let ann = app.register("ann@example.org").await;
        let first = sink.next_to("ann@example.org").await.token_for("verify-email").unwrap();
        let resend = app.request(Method::POST, "/api/v1/user/email/verification", &ann).send().await.unwrap();
        assert_eq!(resend.status(), 202);
        let second = sink.next_to("ann@example.org").await.token_for("verify-email").unwrap();
        let old = app.client.post(app.url("/api/v1/auth/verify-email"))
            .json(&json!({ "token": first })).send().await.unwrap();
        assert_eq!(error_code(old).await, "email_link_invalid");

        let db = meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default()).await.unwrap();
        meritree_store::email_tokens::expire_all(&db, 0).await.unwrap();
        db.close().await;
        let expired = app.client.post(app.url("/api/v1/auth/verify-email"))
            .json(&json!({ "token": second })).send().await.unwrap();
        assert_eq!(error_code(expired).await, "email_link_invalid");
        app.stop().await;
    }

    async fn a_password_is_reset_by_the_emailed_link_and_every_credential_goes(backend: Backend) {
        let (app, sink) = app_with_mail(backend).await;
        let ann = app.register("ann@example.org").await;
        sink.next_to("ann@example.org").await; // the verification link
        let key = app.create_api_key(&ann, "bot").await;

        // Unknown addresses get the same answer, and no mail.
        for email in ["nobody@example.org", "ann@example.org"] {
            let asked = app.client.post(app.url("/api/v1/auth/password-reset"))
                .json(&json!({ "email": email })).send().await.unwrap();
            assert_eq!(asked.status(), 202, "{email}");
        }
        let mail = sink.next_to("ann@example.org").await;
        assert!(mail.data.contains("Reset your password"));
        let token = mail.token_for("reset-password").unwrap();
        assert_eq!(sink.count(), 0, "nothing was sent to the unknown address");

        // A weak password is refused without using the link up.
        let weak = app.client.post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&json!({ "token": token, "new_password": "short" })).send().await.unwrap();
        assert_eq!(error_code(weak).await, "weak_password");
        let reset = app.client.post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&json!({ "token": token, "new_password": "a brand new passphrase" })).send().await.unwrap();
        assert_eq!(reset.status(), 200);
        let reset: serde_json::Value = reset.json().await.unwrap();
        assert_eq!(reset["revoked_api_keys"][0]["name"], "bot");

        let again = app.client.post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&json!({ "token": token, "new_password": "another new passphrase" })).send().await.unwrap();
        assert_eq!(error_code(again).await, "email_link_invalid");
        let mut old_session = ann.clone();
        let refresh = app.post_json("/api/v1/auth/refresh", &mut old_session, json!({})).await;
        assert_eq!(refresh.status(), 401, "every device was signed out");
        let by_key = app.client.get(app.url("/api/v1/user/me")).bearer_auth(&key.key).send().await.unwrap();
        assert_eq!(by_key.status(), 401);
        let mut session = Session::default();
        let old = app.post_json("/api/v1/auth/login", &mut session,
            json!({ "email": "ann@example.org", "password": PASSWORD })).await;
        assert_eq!(old.status(), 401);
        let new = app.post_json("/api/v1/auth/login", &mut session,
            json!({ "email": "ann@example.org", "password": "a brand new passphrase" })).await;
        assert_eq!(new.status(), 200);
        assert!(me(&app, &session).await.email_verified, "the link proved the inbox");
        app.stop().await;
    }

    async fn a_look_alike_of_an_existing_address_is_refused(backend: Backend) {
        let (app, _sink) = app_with_mail(backend).await;
        app.register("ann@example.org").await;
        let mut session = Session::default();
        // A Cyrillic "а" (U+0430) in place of the Latin "a".
        let look_alike = app.post_json("/api/v1/auth/register", &mut session,
            json!({ "email": "\u{430}nn@example.org", "password": PASSWORD })).await;
        assert_eq!(look_alike.status(), 409);
        assert_eq!(error_code(look_alike).await, "email_taken");
        let other = app.post_json("/api/v1/auth/register", &mut session,
            json!({ "email": "bob@example.org", "password": PASSWORD })).await;
        assert_eq!(other.status(), 201);
        app.stop().await;
    }

    async fn a_reset_of_an_address_nobody_proved_removes_what_its_holder_added(backend: Backend) {
        let (app, sink) = app_with_mail(backend).await;
        // Someone registers the victim's address first and binds a wallet.
        let squatter = app.register("victim@example.org").await;
        sink.next_to("victim@example.org").await;
        let wallet = crate::helpers::TestWallet::anvil(2);
        let challenge = app.challenge().await;
        let message = app.siwe_message(&wallet, &challenge);
        let bound = app.request(Method::POST, "/api/v1/user/wallet", &squatter)
            .json(&json!({ "message": message, "signature": wallet.sign(&message) }))
            .send().await.unwrap();
        assert_eq!(bound.status(), 200);
        // And links their Telegram user.
        let mut squatter = squatter;
        let linked = app.post_json("/api/v1/user/telegram", &mut squatter,
            json!({ "init_data": crate::telegram::launch_data(31337, 5, "squat") })).await;
        assert_eq!(linked.status(), 200);

        // The owner proves the inbox with a reset link.
        let asked = app.client.post(app.url("/api/v1/auth/password-reset"))
            .json(&json!({ "email": "victim@example.org" })).send().await.unwrap();
        assert_eq!(asked.status(), 202);
        let token = sink.next_to("victim@example.org").await.token_for("reset-password").unwrap();
        let reset = app.client.post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&json!({ "token": token, "new_password": "the owner's passphrase" })).send().await.unwrap();
        assert_eq!(reset.status(), 200);

        let (by_wallet, _) = app.wallet_sign_in(&wallet).await;
        let body: serde_json::Value = by_wallet.json().await.unwrap();
        let account: AccountView = serde_json::from_value(body["account"].clone()).unwrap();
        assert_ne!(account.email.as_deref(), Some("victim@example.org"), "the squatter's wallet no longer opens it");
        let mut by_telegram = Session::default();
        let refused = app.post_json("/api/v1/auth/telegram/login", &mut by_telegram,
            json!({ "init_data": crate::telegram::launch_data(31337, 5, "after") })).await;
        assert_eq!(error_code(refused).await, "telegram_not_linked", "nor does their Telegram");
        app.stop().await;
    }

    async fn verification_emails_cannot_flood_an_inbox(backend: Backend) {
        let (app, sink) = app_with_mail(backend).await;
        let ann = app.register("ann@example.org").await;
        sink.next_to("ann@example.org").await;
        let mut refused = false;
        for _ in 0..8 {
            let resend = app.request(Method::POST, "/api/v1/user/email/verification", &ann).send().await.unwrap();
            if resend.status() == 429 {
                refused = true;
                break;
            }
            assert_eq!(resend.status(), 202);
        }
        assert!(refused, "the sixth request within the hour is refused");
        app.stop().await;
    }
}

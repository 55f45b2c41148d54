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
    let app = spawn_app_with(backend, move |s| s.email.smtp_url = url.into()).await;
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
}

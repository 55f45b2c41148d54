use meritree_core::accounts::AccountView;
use meritree_platform::accounts::totp::TotpSetup;
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, totp_code, unix_now, Session, PASSWORD};

test_both_backends! {
    async fn two_factor_guards_sign_in_once_enabled(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;

        let setup: TotpSetup = app.request(Method::POST, "/api/v1/user/totp", &ann)
            .send().await.unwrap().json().await.unwrap();
        assert!(setup.otpauth_uri.starts_with("otpauth://totp/Meritree:ann%40example.org?secret="));

        let wrong = app.request(Method::POST, "/api/v1/user/totp/confirm", &ann)
            .json(&json!({ "code": "000000" })).send().await.unwrap();
        assert_eq!(error_code(wrong).await, "invalid_totp");
        // Until confirmed, sign-in needs no code.
        let mut s = Session::default();
        let login = json!({ "email": "ann@example.org", "password": PASSWORD });
        assert_eq!(app.post_json("/api/v1/auth/login", &mut s, login.clone()).await.status(), 200);

        // Enrolment is confirmed with the code of the previous step, so the
        // current one is still fresh for the sign-in below.
        let confirm_code = totp_code(&setup.secret, unix_now() - 30);
        let confirmed = app.request(Method::POST, "/api/v1/user/totp/confirm", &ann)
            .json(&json!({ "code": confirm_code })).send().await.unwrap();
        assert_eq!(confirmed.status(), 200);
        let recovery: meritree_core::totp::RecoveryCodes = confirmed.json().await.unwrap();
        assert_eq!(recovery.codes.len(), 10);
        let me: AccountView = app.request(Method::GET, "/api/v1/user/me", &ann)
            .send().await.unwrap().json().await.unwrap();
        assert!(me.totp_enabled);

        let missing = app.post_json("/api/v1/auth/login", &mut s, login.clone()).await;
        assert_eq!(missing.status(), 401);
        assert_eq!(error_code(missing).await, "totp_required");
        let wrong = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "ann@example.org", "password": PASSWORD, "totp_code": "12345x" })).await;
        assert_eq!(error_code(wrong).await, "invalid_totp");

        let code = totp_code(&setup.secret, unix_now());
        let with_code = json!({ "email": "ann@example.org", "password": PASSWORD, "totp_code": code });
        assert_eq!(app.post_json("/api/v1/auth/login", &mut s, with_code.clone()).await.status(), 200);
        let replay = app.post_json("/api/v1/auth/login", &mut s, with_code).await;
        assert_eq!(replay.status(), 401, "a code works once");
        assert_eq!(error_code(replay).await, "invalid_totp");

        // A recovery code stands in for a code, once, however it is typed.
        let recovered = json!({ "email": "ann@example.org", "password": PASSWORD,
            "totp_code": recovery.codes[0].replace('-', " ").to_lowercase() });
        assert_eq!(app.post_json("/api/v1/auth/login", &mut s, recovered.clone()).await.status(), 200);
        let again = app.post_json("/api/v1/auth/login", &mut s, recovered).await;
        assert_eq!(error_code(again).await, "invalid_totp");
        // A new set replaces the old: its unused codes stop working.
        // A stranger is not asked for a code; a body without one is refused as such.
        let stranger = app.request(Method::POST, "/api/v1/user/totp/recovery-codes", &Session::default())
            .json(&json!({ "code": "000000" })).send().await.unwrap();
        assert_eq!(error_code(stranger).await, "unauthenticated");
        let malformed = app.request(Method::POST, "/api/v1/user/totp/recovery-codes", &ann)
            .json(&json!({ "kode": 1 })).send().await.unwrap();
        assert_eq!(malformed.status(), 400);
        let without_code = app.request(Method::POST, "/api/v1/user/totp/recovery-codes", &ann)
            .json(&json!({ "code": "000000" })).send().await.unwrap();
        assert_eq!(error_code(without_code).await, "invalid_totp", "the factor itself is needed");
        let renewed = app.request(Method::POST, "/api/v1/user/totp/recovery-codes", &ann)
            .json(&json!({ "code": totp_code(&setup.secret, unix_now() + 30) })).send().await.unwrap();
        assert_eq!(renewed.status(), 200);
        let renewed: meritree_core::totp::RecoveryCodes = renewed.json().await.unwrap();
        let old = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "ann@example.org", "password": PASSWORD, "totp_code": recovery.codes[1] })).await;
        assert_eq!(error_code(old).await, "invalid_totp");
        let new = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "ann@example.org", "password": PASSWORD, "totp_code": renewed.codes[0] })).await;
        assert_eq!(new.status(), 200);
        let db = meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default()).await.unwrap();
        let left = meritree_store::totp::recovery_codes_left(&db, &me.id.to_string()).await.unwrap();
        assert_eq!(left, 9, "one of the new set used");
        db.close().await;
        app.stop().await;
    }
}

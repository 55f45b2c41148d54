use meritree_core::accounts::{AccountView, Role, SessionInfo};
use meritree_platform::sessions::{AccessClaims, AccessTokenKey, REFRESH_REUSE_GRACE_SECS};
use meritree_store::{test_both_backends, Backend, Database, PoolOptions};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, Session, TestApp, PASSWORD};

async fn me(app: &TestApp, session: &Session) -> reqwest::Response {
    app.request(Method::GET, "/api/v1/user/me", session)
        .send()
        .await
        .unwrap()
}

/// Signs a token with the server's own key, read from its database: the
/// only way to make a token that is valid except for what a test changes.
async fn forge(app: &TestApp, claims: &AccessClaims) -> String {
    let db = Database::connect(&app.db().target, PoolOptions::default())
        .await
        .unwrap();
    let stored = meritree_store::secrets::get_or_insert(&db, "access_token_hmac", b"unused", 0)
        .await
        .unwrap();
    db.close().await;
    // Sealed in the database: the key file opens it.
    let hex = std::fs::read_to_string(app.data_dir().join("secrets.key")).unwrap();
    let key = meritree_platform::sealing::SealingKey::parse_hex(&hex)
        .unwrap()
        .open("access_token_hmac", &stored)
        .unwrap();
    assert!(matches!(key, meritree_platform::sealing::Opened::Sealed(_)));
    AccessTokenKey::new(&key.into_inner()).sign(claims)
}

/// Moves the account's refresh-token rotations past the grace window, as
/// if they had happened long ago.
async fn backdate_rotations(app: &TestApp, account_id: &str) {
    meritree_store::sessions::backdate_uses(
        app.platform.db(),
        account_id,
        REFRESH_REUSE_GRACE_SECS + 1,
    )
    .await
    .unwrap();
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

test_both_backends! {
    async fn registration_signs_in_with_http_only_cookies(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut session = Session::default();
        let response = app
            .post_json("/api/v1/auth/register", &mut session,
                json!({ "email": "  Ann@Example.ORG ", "password": PASSWORD }))
            .await;
        assert_eq!(response.status(), 201);
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(cookies.iter().all(|c| c.contains("HttpOnly") && c.contains("SameSite=")), "{cookies:?}");
        assert!(cookies.iter().any(|c| c.starts_with("mt_refresh=") && c.contains("Path=/api/v1/auth")));
        let info: SessionInfo = response.json().await.unwrap();
        assert_eq!(info.account.email.as_deref(), Some("ann@example.org"));
        assert_eq!(info.account.role, Role::Member);

        let me = me(&app, &session).await;
        assert_eq!(me.status(), 200);
        let account: AccountView = me.json().await.unwrap();
        assert_eq!(account.id, info.account.id);
        app.stop().await;
    }

    async fn registration_rejects_bad_input_without_writing(backend: Backend) {
        let app = spawn_app(backend).await;
        let _first = app.register("ann@example.org").await;
        let mut s = Session::default();
        for (body, status, code) in [
            (json!({ "email": "ANN@example.org", "password": PASSWORD }), 409, "email_taken"),
            (json!({ "email": "not-an-email", "password": PASSWORD }), 422, "invalid_email"),
            (json!({ "email": "bob@example.org", "password": "short" }), 422, "weak_password"),
            (json!({ "email": "bob@example.org", "password": "password123" }), 422, "weak_password"),
            (json!({ "email": "bob@example.org" }), 400, "invalid_request"),
            (json!({ "email": "bob@example.org", "password": PASSWORD, "role": "admin" }), 400, "invalid_request"),
        ] {
            let response = app.post_json("/api/v1/auth/register", &mut s, body.clone()).await;
            assert_eq!(response.status(), status, "{body}");
            assert_eq!(error_code(response).await, code, "{body}");
        }
        let not_json = app
            .request(Method::POST, "/api/v1/auth/register", &s)
            .header("content-type", "application/json")
            .body("{\"email\":")
            .send()
            .await
            .unwrap();
        assert_eq!(not_json.status(), 400);
        assert_eq!(error_code(not_json).await, "invalid_request");
        let form = app
            .request(Method::POST, "/api/v1/auth/register", &s)
            .body("email=a")
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 415);
        assert_eq!(error_code(form).await, "unsupported_media_type");
        // Past the limit: refused before it is parsed, with the limit named.
        let padding = "x".repeat(server::error::JSON_BODY_LIMIT_BYTES);
        let huge = app
            .post_json("/api/v1/auth/register", &mut s, json!({ "email": "bob@example.org", "password": padding }))
            .await;
        assert_eq!(huge.status(), 413);
        let body: serde_json::Value = huge.json().await.unwrap();
        assert_eq!(body["error"]["code"], "body_too_large");
        assert!(body["error"]["message"].as_str().unwrap().contains("2097152 bytes"), "{body}");
        // None of the refused attempts created bob.
        let login = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "bob@example.org", "password": PASSWORD })).await;
        assert_eq!(login.status(), 401);
        app.stop().await;
    }

    async fn sign_in_never_reveals_whether_an_email_exists(backend: Backend) {
        let app = spawn_app(backend).await;
        app.register("ann@example.org").await;
        let mut s = Session::default();
        let wrong_password = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "ann@example.org", "password": "not the password" })).await;
        let unknown_email = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "nobody@example.org", "password": PASSWORD })).await;
        assert_eq!(wrong_password.status(), 401);
        assert_eq!(unknown_email.status(), 401);
        let a: serde_json::Value = wrong_password.json().await.unwrap();
        let b: serde_json::Value = unknown_email.json().await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a["error"]["code"], "invalid_credentials");

        let ok = app.post_json("/api/v1/auth/login", &mut s,
            json!({ "email": "Ann@Example.org", "password": PASSWORD })).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(me(&app, &s).await.status(), 200);
        app.stop().await;
    }

    async fn tampered_expired_and_alg_none_tokens_are_rejected(backend: Backend) {
        let app = spawn_app(backend).await;
        let session = app.register("ann@example.org").await;
        let account: AccountView = me(&app, &session).await.json().await.unwrap();
        let claims = AccessClaims {
            sub: account.id.to_string(),
            role: Role::Member,
            sid: "s".into(),
            iat: now() - 10,
            exp: now() + 600,
            jti: "test".into(),
        };
        let good = forge(&app, &claims).await;
        let bearer = |token: String| {
            app.client.get(app.url("/api/v1/user/me")).bearer_auth(token).send()
        };
        assert_eq!(bearer(good.clone()).await.unwrap().status(), 200);

        // What a dump of the database holds does not sign tokens: the key
        // is sealed under one kept outside it.
        let db = Database::connect(&app.db().target, PoolOptions::default()).await.unwrap();
        let stored = meritree_store::secrets::get_or_insert(&db, "access_token_hmac", b"unused", 0).await.unwrap();
        db.close().await;
        let from_dump = AccessTokenKey::new(&stored).sign(&AccessClaims { role: Role::Admin, ..claims.clone() });
        assert_eq!(bearer(from_dump).await.unwrap().status(), 401);

        let expired = forge(&app, &AccessClaims { iat: now() - 1000, exp: now() - 1, ..claims.clone() }).await;
        let response = bearer(expired).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(response).await, "token_expired");

        // Same signature, payload promoted to admin.
        let mut parts: Vec<&str> = good.split('.').collect();
        use base64::Engine;
        let admin = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&AccessClaims { role: Role::Admin, ..claims.clone() }).unwrap());
        parts[1] = &admin;
        let response = bearer(parts.join(".")).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(response).await, "unauthenticated");

        // alg: none with no signature.
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let response = bearer(format!("{none_header}.{}.", parts[1])).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(response).await, "unauthenticated");

        let response = app.get("/api/v1/user/me").await;
        assert_eq!(response.status(), 401);
        assert_eq!(error_code(response).await, "unauthenticated");
        app.stop().await;
    }

    async fn refresh_rotates_and_a_reused_token_revokes_the_family(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut session = app.register("ann@example.org").await;
        let stolen = session.clone();

        let first = app.post_json("/api/v1/auth/refresh", &mut session, json!({})).await;
        assert_eq!(first.status(), 200);
        assert_ne!(session.refresh, stolen.refresh, "the refresh token rotates");
        assert_ne!(session.access, stolen.access, "so does the access token");

        // Later, the attacker replays the old refresh token: the whole family dies.
        let account: AccountView = me(&app, &session).await.json().await.unwrap();
        backdate_rotations(&app, &account.id).await;
        let mut attacker = stolen.clone();
        let replay = app.post_json("/api/v1/auth/refresh", &mut attacker, json!({})).await;
        assert_eq!(replay.status(), 401);
        assert_eq!(error_code(replay).await, "refresh_token_reused");
        assert_eq!(attacker.refresh, None, "a failed refresh clears the cookies");

        let legit = app.post_json("/api/v1/auth/refresh", &mut session, json!({})).await;
        assert_eq!(legit.status(), 401, "the rotated token was in the revoked family");
        assert_eq!(error_code(legit).await, "unauthenticated");
        app.stop().await;
    }

    async fn two_refreshes_with_one_token_within_the_grace_window_both_succeed(backend: Backend) {
        let app = spawn_app(backend).await;
        let session = app.register("ann@example.org").await;
        // Two tabs whose access token expired at the same moment.
        let (mut tab1, mut tab2) = (session.clone(), session.clone());
        let (first, second) = tokio::join!(
            app.post_json("/api/v1/auth/refresh", &mut tab1, json!({})),
            app.post_json("/api/v1/auth/refresh", &mut tab2, json!({})),
        );
        assert_eq!(first.status(), 200);
        assert_eq!(second.status(), 200);
        assert_ne!(tab1.refresh, tab2.refresh, "each gets a token of its own");
        for tab in [&tab1, &tab2] {
            assert_eq!(me(&app, tab).await.status(), 200);
        }
        // A third, a moment later (a retry whose response was lost).
        let mut retry = session.clone();
        let third = app.post_json("/api/v1/auth/refresh", &mut retry, json!({})).await;
        assert_eq!(third.status(), 200);

        // Still one session, and it keeps refreshing.
        let listed = app.get_json("/api/v1/user/sessions", &tab2).await;
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        let again = app.post_json("/api/v1/auth/refresh", &mut tab2, json!({})).await;
        assert_eq!(again.status(), 200);
        assert_eq!(me(&app, &tab2).await.status(), 200);

        // That rotation superseded the other tokens: a copy cannot live on
        // beside the session. Presenting one is reuse, and ends the family.
        let copy = app.post_json("/api/v1/auth/refresh", &mut tab1, json!({})).await;
        assert_eq!(copy.status(), 401);
        assert_eq!(error_code(copy).await, "refresh_token_reused");
        let after = app.post_json("/api/v1/auth/refresh", &mut tab2, json!({})).await;
        assert_eq!(after.status(), 401);
        assert_eq!(error_code(after).await, "unauthenticated");
        app.stop().await;
    }

    async fn a_token_reused_after_the_grace_window_revokes_the_family(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut session = app.register("ann@example.org").await;
        let old = session.clone();
        let account: AccountView = me(&app, &session).await.json().await.unwrap();
        let first = app.post_json("/api/v1/auth/refresh", &mut session, json!({})).await;
        assert_eq!(first.status(), 200);
        // Within the window the old token is a concurrent refresh...
        let mut within = old.clone();
        let repeat = app.post_json("/api/v1/auth/refresh", &mut within, json!({})).await;
        assert_eq!(repeat.status(), 200);
        // ...and once it has passed, a copy.
        backdate_rotations(&app, &account.id).await;
        let mut after = old.clone();
        let replay = app.post_json("/api/v1/auth/refresh", &mut after, json!({})).await;
        assert_eq!(replay.status(), 401);
        assert_eq!(error_code(replay).await, "refresh_token_reused");
        for mut holder in [session, within] {
            let refresh = app.post_json("/api/v1/auth/refresh", &mut holder, json!({})).await;
            assert_eq!(refresh.status(), 401);
            assert_eq!(error_code(refresh).await, "unauthenticated");
        }
        app.stop().await;
    }

    async fn sign_out_ends_the_session(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut session = app.register("ann@example.org").await;
        let before = session.clone();
        let response = app.post_json("/api/v1/auth/logout", &mut session, json!({})).await;
        assert_eq!(response.status(), 204);
        assert_eq!(session.access, None);
        assert_eq!(session.refresh, None);
        let mut old = before;
        let refresh = app.post_json("/api/v1/auth/refresh", &mut old, json!({})).await;
        assert_eq!(refresh.status(), 401);
        app.stop().await;
    }

    async fn sign_out_everywhere_and_password_change_end_other_sessions(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut laptop = app.register("ann@example.org").await;
        let mut phone = Session::default();
        let login = app.post_json("/api/v1/auth/login", &mut phone,
            json!({ "email": "ann@example.org", "password": PASSWORD })).await;
        assert_eq!(login.status(), 200);

        let change = app
            .request(Method::PUT, "/api/v1/user/password", &laptop)
            .json(&json!({ "current_password": PASSWORD, "new_password": "a whole new passphrase" }))
            .send()
            .await
            .unwrap();
        assert_eq!(change.status(), 200);
        let phone_refresh = app.post_json("/api/v1/auth/refresh", &mut phone.clone(), json!({})).await;
        assert_eq!(phone_refresh.status(), 401, "the other device is signed out");
        let laptop_refresh = app.post_json("/api/v1/auth/refresh", &mut laptop, json!({})).await;
        assert_eq!(laptop_refresh.status(), 200, "the device that changed it stays in");

        let old = app.post_json("/api/v1/auth/login", &mut phone,
            json!({ "email": "ann@example.org", "password": PASSWORD })).await;
        assert_eq!(old.status(), 401);
        let new = app.post_json("/api/v1/auth/login", &mut phone,
            json!({ "email": "ann@example.org", "password": "a whole new passphrase" })).await;
        assert_eq!(new.status(), 200);

        let everywhere = app.post_json("/api/v1/auth/logout-all", &mut laptop, json!({})).await;
        assert_eq!(everywhere.status(), 200);
        let phone_refresh = app.post_json("/api/v1/auth/refresh", &mut phone, json!({})).await;
        assert_eq!(phone_refresh.status(), 401);
        app.stop().await;
    }

    async fn a_cross_origin_write_with_a_valid_cookie_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let session = app.register("ann@example.org").await;
        let forged = app
            .client
            .post(app.url("/api/v1/auth/logout-all"))
            .header("cookie", session.cookie_header())
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        assert_eq!(error_code(forged).await, "csrf_rejected");
        let no_origin = app
            .client
            .post(app.url("/api/v1/auth/logout-all"))
            .header("cookie", session.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(no_origin.status(), 403);
        // The session survived both attempts.
        assert_eq!(me(&app, &session).await.status(), 200);
        let mut s = session.clone();
        assert_eq!(app.post_json("/api/v1/auth/refresh", &mut s, json!({})).await.status(), 200);
        app.stop().await;
    }

    async fn a_member_chooses_a_unique_public_handle_by_the_shared_rule(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let bob = app.register("bob@example.org").await;
        let set = |session: &Session, handle: &str| {
            app.request(Method::PUT, "/api/v1/user/handle", session)
                .json(&json!({ "handle": handle }))
                .send()
        };
        let chosen = set(&ann, " Ann_Lee ").await.unwrap();
        assert_eq!(chosen.status(), 200);
        let account: AccountView = chosen.json().await.unwrap();
        assert_eq!(account.handle.as_deref(), Some("ann_lee"));
        assert_eq!(error_code(set(&bob, "ANN_LEE").await.unwrap()).await, "handle_taken");
        for bad in ["ab", "7up", "root", "ann lee"] {
            assert_eq!(error_code(set(&bob, bad).await.unwrap()).await, "invalid_handle", "{bad}");
        }
        assert_eq!(set(&bob, "bob").await.unwrap().status(), 200);
        let me: AccountView = serde_json::from_value(app.get_json("/api/v1/user/me", &ann).await).unwrap();
        assert_eq!(me.handle.as_deref(), Some("ann_lee"));
        app.stop().await;
    }
}

//! The attacks an attack review reproduced against a live server, each
//! through both doors where both exist: the JSON API and the pages' server
//! functions. Every one of them worked before the front door existed.

use meritree_core::accounts::{AccountView, ApiKeyView, CreatedApiKey};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    admin_session, age_proof, error_code, spawn_app, spawn_app_with, totp_code, unix_now,
    Challenge, Session, TestApp, TestWallet, PASSWORD,
};

/// A server function called as the page would: a form-encoded POST from
/// our own origin with the session's cookies.
async fn server_fn(
    app: &TestApp,
    path: &str,
    session: &Session,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.request(Method::POST, path, session)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A server function's error body: `{"code", "message"}`.
async fn server_fn_error(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

async fn key(app: &TestApp, session: &Session, body: serde_json::Value) -> CreatedApiKey {
    let response = app
        .request(Method::POST, "/api/v1/user/api-keys", session)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// A program's request with a key: no cookies, no Origin.
fn with_key(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(key)
}

test_both_backends! {
    async fn a_siwe_message_signed_for_another_site_is_refused_through_both_doors(backend: Backend) {
        let app = spawn_app(backend).await;
        let wallet = TestWallet::anvil(0);
        // The victim's account exists.
        let (first, _) = app.wallet_sign_in(&wallet).await;
        assert_eq!(first.status(), 200);

        // The phishing site fetches a nonce naming itself as the host…
        let challenge: Challenge = app
            .client
            .post(app.url("/api/v1/auth/siwe/nonce"))
            .header("host", "evil.example")
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(challenge.domain, app.addr.to_string(), "the nonce is for this site, not the Host");
        // …has the victim sign a message for its own domain, and relays it
        // with that Host: refused, through the API and the server function.
        let phished = Challenge { domain: "evil.example".into(), uri: "https://evil.example".into(), ..challenge };
        let message = app.siwe_message(&wallet, &phished);
        let signature = wallet.sign(&message);
        let relayed = app.client.post(app.url("/api/v1/auth/siwe/login"))
            .header("host", "evil.example")
            .json(&json!({ "message": message, "signature": signature }))
            .send().await.unwrap();
        assert_eq!(relayed.status(), 401);
        assert_eq!(error_code(relayed).await, "siwe_domain_mismatch");
        let relayed = app.client.post(app.url("/api/wallet/sign_in"))
            .header("host", "evil.example")
            .form(&[("message", message.as_str()), ("signature", signature.as_str())])
            .send().await.unwrap();
        assert_eq!(relayed.status(), 401, "server functions answer with the code's status");
        assert!(relayed.headers().get("set-cookie").is_none());
        assert_eq!(server_fn_error(relayed).await, "siwe_domain_mismatch");

        // A nonce is good only for the site it was issued for: one issued
        // for the `localhost` alias does not sign in for `127.0.0.1`.
        let for_alias: Challenge = app.client.post(app.url("/api/v1/auth/siwe/nonce"))
            .header("host", format!("localhost:{}", app.addr.port()))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(for_alias.domain, format!("localhost:{}", app.addr.port()));
        let swapped = Challenge { domain: app.addr.to_string(), uri: app.origin(), ..for_alias };
        let message = app.siwe_message(&wallet, &swapped);
        let swapped = app.client.post(app.url("/api/v1/auth/siwe/login"))
            .json(&json!({ "message": message, "signature": wallet.sign(&message) }))
            .send().await.unwrap();
        assert_eq!(error_code(swapped).await, "siwe_nonce_invalid");
        app.stop().await;
    }

    async fn an_api_key_cannot_manage_credentials_identity_or_act_as_admin(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let created = key(&app, &ann, json!({ "name": "zero budget" })).await;
        let k = created.key.as_str();
        assert_eq!(created.api_key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["ai", "read"]);

        // Each of these worked with a key before: minting a key with no
        // budget, moving the wallet, adding a sign-in, taking over TOTP,
        // signing the owner out.
        let refused = [
            (Method::POST, "/api/v1/user/api-keys", json!({ "name": "escape" })),
            (Method::DELETE, "/api/v1/user/wallet", json!(null)),
            (Method::POST, "/api/v1/user/telegram", json!({ "init_data": "auth_date=1&hash=00" })),
            (Method::DELETE, "/api/v1/user/telegram", json!(null)),
            (Method::POST, "/api/v1/user/wallet", json!({ "message": "m", "signature": "0x00" })),
            (Method::POST, "/api/v1/user/email", json!({ "email": "x@example.org", "password": PASSWORD })),
            (Method::POST, "/api/v1/user/totp", json!(null)),
            (Method::POST, "/api/v1/user/totp/disable", json!({ "code": "000000" })),
            (Method::POST, "/api/v1/user/totp/recovery-codes", json!({ "code": "000000" })),
            (Method::PUT, "/api/v1/user/password", json!({ "current_password": PASSWORD, "new_password": "stolen passphrase 1" })),
            (Method::POST, "/api/v1/auth/logout-all", json!(null)),
            (Method::GET, "/api/v1/user/sessions", json!(null)),
            (Method::GET, "/api/v1/user/api-keys", json!(null)),
            (Method::POST, "/api/v1/user/claims", json!({ "idempotency_key": "k" })),
        ];
        for (method, path, body) in refused {
            let mut request = with_key(&app, method.clone(), path, k);
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "{method} {path}");
            assert_eq!(error_code(response).await, "session_required", "{method} {path}");
        }
        // The pages' server functions apply the same rules to a key.
        for path in ["/api/api_keys/create", "/api/totp/begin", "/api/sessions/end_all", "/api/totp/recovery-codes"] {
            let response = app.client.post(app.url(path)).bearer_auth(k)
                .form(&[("name", "escape"), ("code", "000000")]).send().await.unwrap();
            assert_eq!(response.status(), 403, "{path}");
            assert_eq!(server_fn_error(response).await, "session_required", "{path}");
        }
        // What a default key is for still works.
        assert_eq!(with_key(&app, Method::GET, "/api/v1/user/me", k).send().await.unwrap().status(), 200);
        assert_eq!(with_key(&app, Method::GET, "/v1/models", k).send().await.unwrap().status(), 200);

        // An admin's key is a member's key: admin work needs the session.
        let admin = admin_session(&app).await;
        let admins_key = key(&app, &admin, json!({ "name": "ops" })).await;
        let me: AccountView = serde_json::from_value(app.get_json("/api/v1/user/me", &ann).await).unwrap();
        let posting = json!({ "account_id": me.id, "amount": 5, "reason": "admin_adjustment", "idempotency_key": "k" });
        let by_key = with_key(&app, Method::POST, "/api/v1/admin/points", &admins_key.key).json(&posting).send().await.unwrap();
        assert_eq!(error_code(by_key).await, "session_required");
        let by_session = app.request(Method::POST, "/api/v1/admin/points", &admin).json(&posting).send().await.unwrap();
        assert_eq!(by_session.status(), 201);
        for path in ["/api/v1/admin/audit", "/api/v1/admin/audit/verify"] {
            let by_key = with_key(&app, Method::GET, path, &admins_key.key).send().await.unwrap();
            assert_eq!(error_code(by_key).await, "session_required", "{path}");
        }
        // The console's routes and calls: an admin's key is refused, and so
        // is a stranger, by both doors.
        let console_routes = [
            (Method::GET, "/api/v1/admin/audit/export", json!(null)),
            (Method::GET, "/api/v1/admin/accounts?q=ann", json!(null)),
            (Method::PUT, "/api/v1/admin/accounts/x/role", json!({ "role": "member" })),
            (Method::POST, "/api/v1/admin/accounts/x/disable", json!(null)),
            (Method::POST, "/api/v1/admin/accounts/x/end-sessions", json!(null)),
            (Method::GET, "/api/v1/admin/ai/spending", json!(null)),
            (Method::GET, "/api/v1/admin/chain", json!(null)),
            (Method::POST, "/api/v1/admin/chain/claims-paused", json!({ "paused": true, "idempotency_key": "k" })),
        ];
        for (method, path, body) in console_routes {
            let send = |request: reqwest::RequestBuilder| match body.is_null() {
                true => request.send(),
                false => request.json(&body).send(),
            };
            let by_key = send(with_key(&app, method.clone(), path, &admins_key.key)).await.unwrap();
            assert_eq!(error_code(by_key).await, "session_required", "{method} {path}");
            let stranger = send(app.client.request(method.clone(), app.url(path))).await.unwrap();
            assert_eq!(error_code(stranger).await, "unauthenticated", "{method} {path}");
        }
        let console_calls = [
            "/api/admin/accounts", "/api/admin/set_disabled", "/api/admin/change_role",
            "/api/admin/end_sessions", "/api/admin/ai_spending", "/api/admin/chain",
            "/api/admin/claims_paused", "/api/admin/audit_entries", "/api/admin/review_queue",
        ];
        let form = [("query", "ann"), ("id", "x"), ("role", "member"), ("disabled", "true"),
            ("days", "7"), ("paused", "true"), ("idempotency_key", "k")];
        for path in console_calls {
            let by_key = app.client.post(app.url(path)).bearer_auth(&admins_key.key).form(&form).send().await.unwrap();
            assert_eq!(by_key.status(), 403, "{path}");
            assert_eq!(server_fn_error(by_key).await, "session_required", "{path}");
            let stranger = app.client.post(app.url(path)).form(&form).send().await.unwrap();
            assert_eq!(server_fn_error(stranger).await, "unauthenticated", "{path}");
        }
        app.stop().await;
    }

    async fn keys_have_scopes_and_expiry_and_die_with_the_password(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut ann = app.register("ann@example.org").await;
        let submit_only = key(&app, &ann, json!({ "name": "bot", "scopes": ["submit"], "expires_in_days": 30 })).await;
        assert!(submit_only.api_key.expires_at.is_some());
        let me = with_key(&app, Method::GET, "/api/v1/user/me", &submit_only.key).send().await.unwrap();
        assert_eq!(error_code(me).await, "insufficient_scope");
        let ai = with_key(&app, Method::GET, "/v1/models", &submit_only.key).send().await.unwrap();
        assert_eq!(error_code(ai).await, "insufficient_scope");
        for bad in [json!({ "name": "x", "scopes": ["admin"] }), json!({ "name": "x", "scopes": [] }),
                    json!({ "name": "x", "expires_in_days": 0 }), json!({ "name": "x", "expires_in_days": 5000 })] {
            let response = app.request(Method::POST, "/api/v1/user/api-keys", &ann).json(&bad).send().await.unwrap();
            assert_eq!(error_code(response).await, "invalid_request", "{bad}");
        }

        let reader = key(&app, &ann, json!({ "name": "reader" })).await;

        // A password change revokes every key and says which.
        let change = app.request(Method::PUT, "/api/v1/user/password", &ann)
            .json(&json!({ "current_password": PASSWORD, "new_password": "a whole new passphrase" }))
            .send().await.unwrap();
        assert_eq!(change.status(), 200);
        let changed: serde_json::Value = change.json().await.unwrap();
        let revoked: Vec<ApiKeyView> = serde_json::from_value(changed["revoked_api_keys"].clone()).unwrap();
        let mut names: Vec<_> = revoked.iter().map(|k| k.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["bot", "reader"]);
        let after = with_key(&app, Method::GET, "/api/v1/user/me", &reader.key).send().await.unwrap();
        assert_eq!(error_code(after).await, "unauthenticated");

        // So does signing out everywhere.
        let fresh = key(&app, &ann, json!({ "name": "again" })).await;
        let out = app.post_json("/api/v1/auth/logout-all", &mut ann, json!({})).await;
        assert_eq!(out.status(), 200);
        let out: serde_json::Value = out.json().await.unwrap();
        assert_eq!(out["revoked_api_keys"][0]["name"], "again");
        let after = with_key(&app, Method::GET, "/api/v1/user/me", &fresh.key).send().await.unwrap();
        assert_eq!(after.status(), 401);
        app.stop().await;
    }

    async fn changing_credentials_needs_a_fresh_proof_through_both_doors(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        // Just signed in: fresh. Creating a key works.
        key(&app, &ann, json!({ "name": "first" })).await;

        // A stolen cookie an hour later is not enough for any of these.
        age_proof(&app, &ann).await;
        let step_up = [
            (Method::POST, "/api/v1/user/api-keys", json!({ "name": "stolen" })),
            (Method::POST, "/api/v1/user/wallet", json!({ "message": "m", "signature": "0x00" })),
            (Method::DELETE, "/api/v1/user/wallet", json!(null)),
            (Method::POST, "/api/v1/user/telegram", json!({ "init_data": "auth_date=1&hash=00" })),
            (Method::DELETE, "/api/v1/user/telegram", json!(null)),
            (Method::POST, "/api/v1/user/email", json!({ "email": "x@example.org", "password": PASSWORD })),
            (Method::POST, "/api/v1/user/totp", json!(null)),
            (Method::POST, "/api/v1/user/totp/confirm", json!({ "code": "000000" })),
            (Method::POST, "/api/v1/user/totp/disable", json!({ "code": "000000" })),
            (Method::POST, "/api/v1/user/totp/recovery-codes", json!({ "code": "000000" })),
        ];
        for (method, path, body) in &step_up {
            let mut request = app.request(method.clone(), path, &ann);
            if !body.is_null() {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "{method} {path}");
            assert_eq!(error_code(response).await, "reauthentication_required", "{method} {path}");
        }
        for path in ["/api/totp/begin", "/api/api_keys/create", "/api/totp/recovery-codes", "/api/telegram/link", "/api/telegram/unlink"] {
            let response = server_fn(&app, path, &ann, &[("name", "stolen"), ("code", "000000"), ("init_data", "x")]).await;
            assert_eq!(response.status(), 403, "{path}");
            assert_eq!(server_fn_error(response).await, "reauthentication_required", "{path}");
        }

        // A wrong password proves nothing; the right one does.
        let wrong = app.request(Method::POST, "/api/v1/auth/reauthenticate", &ann)
            .json(&json!({ "method": "password", "password": "not the password" })).send().await.unwrap();
        assert_eq!(error_code(wrong).await, "invalid_credentials");
        let unknown = app.request(Method::POST, "/api/v1/auth/reauthenticate", &ann)
            .json(&json!({ "method": "sms", "code": "1" })).send().await.unwrap();
        assert_eq!(error_code(unknown).await, "invalid_request");
        let proved = app.request(Method::POST, "/api/v1/auth/reauthenticate", &ann)
            .json(&json!({ "method": "password", "password": PASSWORD })).send().await.unwrap();
        assert_eq!(proved.status(), 204);
        let totp = app.request(Method::POST, "/api/v1/user/totp", &ann).send().await.unwrap();
        assert_eq!(totp.status(), 200);
        app.stop().await;
    }

    async fn a_wallet_signature_proves_identity_only_for_the_bound_wallet(backend: Backend) {
        let app = spawn_app(backend).await;
        let owner = TestWallet::anvil(0);
        let (signed_in, session) = app.wallet_sign_in(&owner).await;
        assert_eq!(signed_in.status(), 200);
        age_proof(&app, &session).await;

        let reauth = |wallet: &TestWallet, challenge: Challenge| {
            let message = app.siwe_message(wallet, &challenge);
            json!({ "method": "wallet", "message": message, "signature": wallet.sign(&message) })
        };
        let other = TestWallet::anvil(1);
        let by_other = app.request(Method::POST, "/api/v1/auth/reauthenticate", &session)
            .json(&reauth(&other, app.challenge().await)).send().await.unwrap();
        assert_eq!(error_code(by_other).await, "forbidden");
        let by_owner = app.request(Method::POST, "/api/v1/auth/reauthenticate", &session)
            .json(&reauth(&owner, app.challenge().await)).send().await.unwrap();
        assert_eq!(by_owner.status(), 204);
        app.stop().await;
    }

    async fn server_functions_share_the_accounts_rate_limit_and_answer_real_statuses(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rate_limits.api_per_account_per_minute = 2).await;
        let ann = app.register("ann@example.org").await;
        let anonymous = server_fn(&app, "/api/sessions/list", &Session::default(), &[]).await;
        assert_eq!(anonymous.status(), 401);
        assert_eq!(server_fn_error(anonymous).await, "unauthenticated");
        let missing = server_fn(&app, "/api/sessions/end", &ann, &[("id", "no-such-session")]).await;
        assert_eq!(missing.status(), 404);
        assert_eq!(server_fn_error(missing).await, "not_found");
        // One of the two requests a minute is spent (by a server function);
        // the JSON API takes the second, and the next server function is
        // refused: both doors count against one limit.
        assert_eq!(app.request(Method::GET, "/api/v1/user/sessions", &ann).send().await.unwrap().status(), 200);
        let limited = server_fn(&app, "/api/sessions/list", &ann, &[]).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(server_fn_error(limited).await, "rate_limited");
        app.stop().await;
    }

    async fn only_a_well_formed_bearer_credential_skips_the_csrf_check(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        for authorization in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"] {
            let forged = app.client.post(app.url("/api/v1/auth/logout-all"))
                .header("cookie", ann.cookie_header())
                .header("authorization", authorization)
                .header("origin", "https://evil.example")
                .send().await.unwrap();
            assert_eq!(error_code(forged).await, "csrf_rejected", "{authorization}");
        }
        // Same host and port over another scheme is another origin.
        let forged = app.client.post(app.url("/api/v1/auth/logout-all"))
            .header("cookie", ann.cookie_header())
            .header("origin", format!("https://{}", app.addr))
            .send().await.unwrap();
        assert_eq!(error_code(forged).await, "csrf_rejected");
        // A bearer header never rides on the cookie: with a bad token the
        // request is refused even though the cookie is valid.
        let bad_bearer = app.client.get(app.url("/api/v1/user/me"))
            .header("cookie", ann.cookie_header())
            .bearer_auth("mt_not_a_key")
            .send().await.unwrap();
        assert_eq!(bad_bearer.status(), 401);
        app.stop().await;
    }

    async fn knowing_the_password_does_not_make_codes_or_passwords_guessable(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rate_limits.secret_failures_per_account_per_hour = 3).await;
        let ann = app.register("ann@example.org").await;
        let setup: meritree_core::totp::TotpSetup = app.request(Method::POST, "/api/v1/user/totp", &ann)
            .send().await.unwrap().json().await.unwrap();
        let confirmed = app.request(Method::POST, "/api/v1/user/totp/confirm", &ann)
            .json(&json!({ "code": totp_code(&setup.secret, unix_now() - 30) })).send().await.unwrap();
        assert_eq!(confirmed.status(), 200);

        // Someone with the password guesses codes: three wrong ones, then
        // even the right code waits.
        let mut s = Session::default();
        for _ in 0..3 {
            let wrong = app.post_json("/api/v1/auth/login", &mut s,
                json!({ "email": "ann@example.org", "password": PASSWORD, "totp_code": "000000" })).await;
            assert_eq!(error_code(wrong).await, "invalid_totp");
        }
        let right = app.post_json("/api/v1/auth/login", &mut s, json!({
            "email": "ann@example.org", "password": PASSWORD,
            "totp_code": totp_code(&setup.secret, unix_now()),
        })).await;
        assert_eq!(right.status(), 429);
        assert!(right.headers().contains_key("retry-after"));

        // A stolen session guessing the password through a password change
        // or re-authentication is held back the same way.
        let bob = app.register("bob@example.org").await;
        for _ in 0..3 {
            let wrong = app.request(Method::PUT, "/api/v1/user/password", &bob)
                .json(&json!({ "current_password": "guess guess guess", "new_password": "taken over account" }))
                .send().await.unwrap();
            assert_eq!(error_code(wrong).await, "invalid_credentials");
        }
        let reauth = app.request(Method::POST, "/api/v1/auth/reauthenticate", &bob)
            .json(&json!({ "method": "password", "password": PASSWORD })).send().await.unwrap();
        assert_eq!(error_code(reauth).await, "rate_limited");
        app.stop().await;
    }

    async fn admin_work_needs_a_fresh_proof_and_keys_are_not_visitors(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let me: AccountView = serde_json::from_value(app.get_json("/api/v1/user/me", &ann).await).unwrap();
        let admin = admin_session(&app).await;
        age_proof(&app, &admin).await;
        let posting = json!({ "account_id": me.id, "amount": 5, "reason": "admin_adjustment", "idempotency_key": "k" });
        let stale = app.request(Method::POST, "/api/v1/admin/points", &admin).json(&posting).send().await.unwrap();
        assert_eq!(error_code(stale).await, "reauthentication_required");
        let stale = app.request(Method::GET, "/api/v1/admin/audit", &admin).send().await.unwrap();
        assert_eq!(error_code(stale).await, "reauthentication_required");

        // A key (of any scope) is not a signed-in visitor of the pages.
        let created = key(&app, &ann, json!({ "name": "ai only", "scopes": ["ai"] })).await;
        let visitor = app.client.post(app.url("/api/auth/current_account"))
            .bearer_auth(&created.key).send().await.unwrap();
        assert_eq!(visitor.status(), 200);
        assert_eq!(visitor.json::<serde_json::Value>().await.unwrap(), serde_json::Value::Null);
        app.stop().await;
    }

    async fn this_changes_new_edges_refuse_strangers_keys_and_malformed_input_at_both_doors(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let k = key(&app, &ann, json!({ "name": "all", "scopes": ["ai", "read", "submit", "node"] })).await.key;
        let api = [
            (Method::PUT, "/api/v1/user/handle", json!({ "handle": "ann" })),
            (Method::POST, "/api/v1/user/email/verification", json!(null)),
            (Method::POST, "/api/v1/auth/reauthenticate", json!({ "method": "password", "password": PASSWORD })),
        ];
        for (method, path, body) in &api {
            let with_body = |request: reqwest::RequestBuilder| {
                if body.is_null() { request } else { request.json(body) }
            };
            let stranger = with_body(app.client.request(method.clone(), app.url(path))).send().await.unwrap();
            assert_eq!(error_code(stranger).await, "unauthenticated", "{path} as a stranger");
            let by_key = with_body(with_key(&app, method.clone(), path, &k)).send().await.unwrap();
            assert_eq!(error_code(by_key).await, "session_required", "{path} with a key");
            if !body.is_null() {
                let malformed = app.request(method.clone(), path, &ann)
                    .header("content-type", "application/json").body("{\"nope\": 1").send().await.unwrap();
                assert_eq!(error_code(malformed).await, "invalid_request", "{path} malformed");
            }
        }
        let fns = [
            ("/api/auth/set_handle", &[("handle", "ann")][..]),
            ("/api/email/resend", &[][..]),
            ("/api/auth/reauthenticate", &[("password", PASSWORD)][..]),
        ];
        for (path, form) in fns {
            let stranger = app.client.post(app.url(path)).form(form).send().await.unwrap();
            assert_eq!(stranger.status(), 401, "{path} as a stranger");
            assert_eq!(server_fn_error(stranger).await, "unauthenticated", "{path}");
            let by_key = app.client.post(app.url(path)).bearer_auth(&k).form(form).send().await.unwrap();
            assert_eq!(server_fn_error(by_key).await, "session_required", "{path} with a key");
        }
        // A server function missing its argument is the caller's mistake.
        let malformed = server_fn(&app, "/api/auth/set_handle", &ann, &[]).await;
        assert_eq!(malformed.status(), 400);
        assert_eq!(server_fn_error(malformed).await, "invalid_request");
        let bad_handle = server_fn(&app, "/api/auth/set_handle", &ann, &[("handle", "7 up")]).await;
        assert_eq!(bad_handle.status(), 422);
        assert_eq!(server_fn_error(bad_handle).await, "invalid_handle");
        app.stop().await;
    }

    async fn the_compute_networks_edges_refuse_strangers_unscoped_keys_and_malformed_input_at_both_doors(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        // A key for the gateway only: no `read`, `submit` or `node`.
        let k = key(&app, &ann, json!({ "name": "ai", "scopes": ["ai"] })).await.key;
        let task = json!({"idempotency_key": "k", "input": {"kind": "chat", "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "hi"}]}});
        let result = json!({"node_id": "n", "lease": 1, "error": "x"});
        let node = json!({"name": "n", "models": ["m"], "capacity": 1});
        let api = [
            (Method::POST, "/api/v1/tasks/submit", task),
            (Method::GET, "/api/v1/tasks/some-task", json!(null)),
            (Method::POST, "/api/v1/tasks/some-task/cancel", json!(null)),
            (Method::POST, "/api/v1/tasks/some-task/result", result),
            (Method::POST, "/api/v1/nodes/register", node),
            (Method::GET, "/api/v1/nodes/mine", json!(null)),
            (Method::GET, "/api/v1/user/profile", json!(null)),
            (Method::GET, "/api/v1/user/billing", json!(null)),
        ];
        for (method, path, body) in &api {
            let with_body = |request: reqwest::RequestBuilder| {
                if body.is_null() { request } else { request.json(body) }
            };
            let stranger = with_body(app.client.request(method.clone(), app.url(path))).send().await.unwrap();
            assert_eq!(error_code(stranger).await, "unauthenticated", "{path} as a stranger");
            let by_key = with_body(with_key(&app, method.clone(), path, &k)).send().await.unwrap();
            assert_eq!(error_code(by_key).await, "insufficient_scope", "{path} with an ai-only key");
            if !body.is_null() {
                let malformed = app.request(method.clone(), path, &ann)
                    .header("content-type", "application/json").body("{\"nope\": 1").send().await.unwrap();
                assert_eq!(error_code(malformed).await, "invalid_request", "{path} malformed");
            }
        }
        let fns = [
            ("/api/compute/my-nodes", &[][..]),
            ("/api/compute/task", &[("id", "some-task")][..]),
        ];
        for (path, form) in fns {
            let stranger = app.client.post(app.url(path)).form(form).send().await.unwrap();
            assert_eq!(stranger.status(), 401, "{path} as a stranger");
            assert_eq!(server_fn_error(stranger).await, "unauthenticated", "{path}");
            let by_key = app.client.post(app.url(path)).bearer_auth(&k).form(form).send().await.unwrap();
            assert_eq!(server_fn_error(by_key).await, "insufficient_scope", "{path} with an ai-only key");
        }
        let malformed = server_fn(&app, "/api/compute/task", &ann, &[]).await;
        assert_eq!(malformed.status(), 400);
        assert_eq!(server_fn_error(malformed).await, "invalid_request");
        let someone_elses = server_fn(&app, "/api/compute/task", &ann, &[("id", "some-task")]).await;
        assert_eq!(someone_elses.status(), 404);
        // The public figures need nobody.
        assert_eq!(app.client.post(app.url("/api/compute/network")).send().await.unwrap().status(), 200);
        app.stop().await;
    }
}

/// The API's description is public at both doors, the same for a stranger
/// and a member's key, and answers what it does not serve as the API does.
#[tokio::test]
async fn the_api_description_is_the_same_for_everyone_and_refuses_other_methods() {
    let app = spawn_app(Backend::Sqlite).await;
    let ann = app.register("ann@example.org").await;
    let k = key(&app, &ann, json!({ "name": "read", "scopes": ["read"] }))
        .await
        .key;

    let stranger = app.get("/api/v1/openapi.json").await;
    assert_eq!(stranger.status(), 200);
    let by_key = with_key(&app, Method::GET, "/api/v1/openapi.json", &k)
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);
    let document: serde_json::Value = stranger.json().await.unwrap();
    assert_eq!(document, by_key.json::<serde_json::Value>().await.unwrap());
    let posted = app
        .client
        .post(app.url("/api/v1/openapi.json"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);
    assert_eq!(error_code(posted).await, "method_not_allowed");

    // The reference page's server function: the same document, read.
    let path = "/api/docs/reference";
    let stranger = app
        .client
        .post(app.url(path))
        .form(&[("", "")][..0])
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 200);
    let reference: serde_json::Value = stranger.json().await.unwrap();
    let by_key = app
        .client
        .post(app.url(path))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);
    assert_eq!(reference, by_key.json::<serde_json::Value>().await.unwrap());
    let operations: usize = reference["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["operations"].as_array().unwrap().len())
        .sum();
    let described: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, described);
    app.stop().await;
}

//! Admins managing accounts from the console's calls and the JSON API: a
//! disabled account is refused at once through every credential and can
//! sign in again once enabled; role changes end sessions; nothing is done
//! to the admin's own account; every action is audited.

use meritree_core::accounts::{ManagedAccount, Role};
use meritree_core::audit::AuditPage;
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{admin_session, error_code, spawn_app, Session, TestApp, PASSWORD};

async fn find(app: &TestApp, admin: &Session, q: &str) -> Vec<ManagedAccount> {
    let response = app
        .request(Method::GET, &format!("/api/v1/admin/accounts?q={q}"), admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn act(app: &TestApp, admin: &Session, path: &str) -> reqwest::Response {
    app.request(Method::POST, path, admin).send().await.unwrap()
}

async fn sign_in_status(app: &TestApp, email: &str) -> (u16, String) {
    let mut session = Session::default();
    let response = app
        .post_json(
            "/api/v1/auth/login",
            &mut session,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let status = response.status().as_u16();
    let code = if status == 200 {
        String::new()
    } else {
        error_code(response).await
    };
    (status, code)
}

test_both_backends! {
    async fn admins_find_disable_enable_and_change_roles_and_each_is_audited(backend: Backend) {
        let app = spawn_app(backend).await;
        let admin = admin_session(&app).await;
        let mut ann = app.register("ann@example.org").await;
        let key = app.create_api_key(&ann, "bot").await.key;
        let me_with_key = || app.client.get(app.url("/api/v1/user/me")).bearer_auth(&key).send();
        assert_eq!(me_with_key().await.unwrap().status(), 200);

        // Finding: by part of the email, case-insensitively; `%` is literal.
        let found = find(&app, &admin, "ANN@").await;
        assert_eq!(found.len(), 1);
        let ann_id = found[0].account.id.clone();
        assert_eq!((found[0].account.role, found[0].disabled_at), (Role::Member, None));
        assert!(find(&app, &admin, "%25").await.is_empty());
        assert_eq!(find(&app, &admin, "example.org").await.len(), 2);
        let empty = app.request(Method::GET, "/api/v1/admin/accounts?q=%20", &admin).send().await.unwrap();
        assert_eq!(error_code(empty).await, "invalid_request");
        let by_member = app.request(Method::GET, "/api/v1/admin/accounts?q=ann", &ann).send().await.unwrap();
        assert_eq!(error_code(by_member).await, "forbidden");

        // Disabled: the signed-in browser, the key and a new sign-in all stop.
        let disabled = act(&app, &admin, &format!("/api/v1/admin/accounts/{ann_id}/disable")).await;
        assert_eq!(disabled.status(), 200);
        assert!(disabled.json::<ManagedAccount>().await.unwrap().disabled_at.is_some());
        let browser = app.request(Method::GET, "/api/v1/user/me", &ann).send().await.unwrap();
        assert_eq!(browser.status(), 403);
        assert_eq!(error_code(browser).await, "account_disabled");
        assert_eq!(me_with_key().await.unwrap().status(), 401);
        assert_eq!(sign_in_status(&app, "ann@example.org").await, (403, "account_disabled".into()));
        let refresh = app.post_json("/api/v1/auth/refresh", &mut ann, json!({})).await;
        assert_eq!(refresh.status(), 401, "the sessions ended");

        // Enabled: signing in works again and the key (never revoked) too.
        let enabled = act(&app, &admin, &format!("/api/v1/admin/accounts/{ann_id}/enable")).await;
        assert_eq!(enabled.status(), 200);
        assert_eq!(sign_in_status(&app, "ann@example.org").await.0, 200);
        assert_eq!(me_with_key().await.unwrap().status(), 200);

        // Roles: a new role ends the sessions; admins need two-factor first;
        // unknown roles are a 400.
        let ann = app.sign_in("ann@example.org").await;
        let role = |role: &'static str| {
            app.request(Method::PUT, &format!("/api/v1/admin/accounts/{ann_id}/role"), &admin)
                .json(&json!({ "role": role }))
                .send()
        };
        let changed: ManagedAccount = role("node_operator").await.unwrap().json().await.unwrap();
        assert_eq!(changed.account.role, Role::NodeOperator);
        let mut ann = ann;
        assert_eq!(app.post_json("/api/v1/auth/refresh", &mut ann, json!({})).await.status(), 401);
        // A demotion holds at once, even for an access token issued before it.
        let operator = app.sign_in("ann@example.org").await;
        let register = || app.request(Method::POST, "/api/v1/nodes/register", &operator)
            .json(&json!({ "name": "n1", "models": ["local/smollm2-135m"], "capacity": 1 }))
            .send();
        assert_ne!(register().await.unwrap().status(), 403, "an operator may register nodes");
        let demoted: ManagedAccount = role("member").await.unwrap().json().await.unwrap();
        assert_eq!(demoted.account.role, Role::Member);
        assert_eq!(error_code(register().await.unwrap()).await, "forbidden");
        assert_eq!(error_code(role("admin").await.unwrap()).await, "invalid_request");
        assert_eq!(error_code(role("king").await.unwrap()).await, "invalid_request");

        // Sessions ended on request; nothing is done to the admin's own account.
        let _ann = app.sign_in("ann@example.org").await;
        let ended: serde_json::Value = act(&app, &admin, &format!("/api/v1/admin/accounts/{ann_id}/end-sessions"))
            .await.json().await.unwrap();
        assert_eq!(ended["ended"], 1);
        let root_id = find(&app, &admin, "root@").await[0].account.id.clone();
        let own = act(&app, &admin, &format!("/api/v1/admin/accounts/{root_id}/disable")).await;
        assert_eq!(error_code(own).await, "invalid_request");
        let nobody = act(&app, &admin, "/api/v1/admin/accounts/nobody/disable").await;
        assert_eq!(error_code(nobody).await, "not_found");

        // The console's door: the same service, the same check.
        let bob = app.register("bob@example.org").await;
        let form = [("id", ann_id.as_str()), ("disabled", "true")];
        let refused = app.request(Method::POST, "/api/admin/set_disabled", &bob).form(&form).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let console = app.request(Method::POST, "/api/admin/set_disabled", &admin).form(&form).send().await.unwrap();
        assert_eq!(console.status(), 200);
        assert!(console.json::<ManagedAccount>().await.unwrap().disabled_at.is_some());

        // The operator's way back in, at the command line (`meritree admin enable`).
        assert_eq!(sign_in_status(&app, "ann@example.org").await.0, 403);
        app.platform.accounts().enable_by_email("ann@example.org").await.unwrap();
        assert_eq!(sign_in_status(&app, "ann@example.org").await.0, 200);

        let audit: AuditPage = app.request(Method::GET, "/api/v1/admin/audit", &admin)
            .send().await.unwrap().json().await.unwrap();
        let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, [
            "account_disabled", "account_enabled", "role_changed", "role_changed", "sessions_ended",
            "account_disabled", "account_enabled",
        ]);
        assert_eq!(audit.entries.last().unwrap().actor, "cli");
        assert!(audit.entries.iter().all(|e| e.subject == ann_id.as_str()));
        app.stop().await;
    }
}

use meritree_core::accounts::{AccountView, ApiKeyView, CreatedApiKey};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, Session, TestApp};

async fn create(app: &TestApp, session: &Session, name: &str) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/user/api-keys", session)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
}

async fn me_with_key(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/user/me"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

test_both_backends! {
    async fn an_api_key_is_shown_once_works_as_bearer_and_can_be_revoked(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let response = create(&app, &ann, "  deploy bot ").await;
        assert_eq!(response.status(), 201);
        let created: CreatedApiKey = response.json().await.unwrap();
        assert!(created.key.starts_with("mt_") && created.key.len() > 40);
        assert_eq!(created.api_key.name, "deploy bot");
        assert!(created.key.starts_with(&created.api_key.prefix));

        let listed = app.request(Method::GET, "/api/v1/user/api-keys", &ann).send().await.unwrap();
        let text = listed.text().await.unwrap();
        assert!(!text.contains(&created.key), "a listing never shows the key");
        let keys: Vec<ApiKeyView> = serde_json::from_str(&text).unwrap();
        assert_eq!(keys, vec![created.api_key.clone()]);

        // A program uses it with no cookies and no Origin.
        let me = me_with_key(&app, &created.key).await;
        assert_eq!(me.status(), 200);
        let account: AccountView = me.json().await.unwrap();
        assert_eq!(account.email.as_deref(), Some("ann@example.org"));
        let keys: Vec<ApiKeyView> = app.request(Method::GET, "/api/v1/user/api-keys", &ann)
            .send().await.unwrap().json().await.unwrap();
        assert!(keys[0].last_used_at.is_some());

        let revoke = app
            .request(Method::DELETE, &format!("/api/v1/user/api-keys/{}", created.api_key.id), &ann)
            .send().await.unwrap();
        assert_eq!(revoke.status(), 204);
        let after = me_with_key(&app, &created.key).await;
        assert_eq!(after.status(), 401);
        assert_eq!(error_code(after).await, "unauthenticated");
        app.stop().await;
    }

    async fn keys_belong_to_one_account(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let bob = app.register("bob@example.org").await;
        let created: CreatedApiKey = create(&app, &ann, "ci").await.json().await.unwrap();
        let bobs_view: Vec<ApiKeyView> = app.request(Method::GET, "/api/v1/user/api-keys", &bob)
            .send().await.unwrap().json().await.unwrap();
        assert!(bobs_view.is_empty());
        let steal = app
            .request(Method::DELETE, &format!("/api/v1/user/api-keys/{}", created.api_key.id), &bob)
            .send().await.unwrap();
        assert_eq!(steal.status(), 404);
        assert_eq!(me_with_key(&app, &created.key).await.status(), 200, "still Ann's and live");

        let bad = create(&app, &ann, "   ").await;
        assert_eq!(bad.status(), 400);
        assert_eq!(error_code(bad).await, "invalid_request");
        let forged = me_with_key(&app, "mt_notarealkeyatall0000000000000000000000000").await;
        assert_eq!(forged.status(), 401);
        app.stop().await;
    }
}

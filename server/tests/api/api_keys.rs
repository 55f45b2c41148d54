use std::time::{Duration, Instant};

use meritree_core::accounts::{AccountView, ApiKeyView, CreatedApiKey};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;
use server::configuration::Settings;

use crate::helpers::{
    error_code, spawn_app, spawn_app_with, spawn_beside, test_redis_url, Session, TestApp,
};

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

/// Uses `key` on `app` until it is refused; how long that took.
async fn refused_within(app: &TestApp, key: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let status = me_with_key(app, key).await.status();
        if status == 401 {
            return started.elapsed();
        }
        assert_eq!(status, 200);
        assert!(started.elapsed() < limit * 3, "the revoked key still works");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Keys are served from each instance's cache; a revocation reaches every
/// instance within a second: over Redis at once, or, with no Redis, when
/// the cached entry ages out.
#[tokio::test]
async fn a_revoked_key_stops_on_every_instance_within_a_second() {
    let redis = test_redis_url();
    for bridged in [true, false] {
        let configure = |s: &mut Settings| {
            if bridged {
                s.cache.redis_url = redis.clone().into();
            }
        };
        let first = spawn_app_with(Backend::Postgres, configure).await;
        let second = spawn_beside(&first, configure).await;
        let ann = first.register("ann@example.org").await;
        let created = first.create_api_key(&ann, "bot").await;
        // Used on both, so cached on both.
        for app in [&first, &second, &first, &second] {
            assert_eq!(me_with_key(app, &created.key).await.status(), 200);
        }
        if bridged {
            // Both subscriptions in place on Redis.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let revoke = first
            .request(
                Method::DELETE,
                &format!("/api/v1/user/api-keys/{}", created.api_key.id),
                &ann,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), 204);
        let second_took = refused_within(&second, &created.key, Duration::from_secs(1)).await;
        assert_eq!(
            me_with_key(&first, &created.key).await.status(),
            401,
            "at once where it was revoked"
        );
        assert!(
            second_took <= Duration::from_secs(1),
            "bridged: {bridged}; the other instance took {second_took:?}"
        );
        if bridged {
            assert!(
                second_took < Duration::from_millis(500),
                "carried by Redis: {second_took:?}"
            );
        }
        second.stop().await;
        first.stop().await;
    }
}

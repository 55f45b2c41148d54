//! What every response tells the browser: a page's Content-Security-Policy
//! names the nonce its hydration scripts carry; everything else may run
//! nothing; no sniffing, no framing, HSTS once the site is HTTPS, and
//! nothing answered to a signed-in caller is stored by a cache.

use meritree_store::Backend;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use reqwest::Method;

use crate::helpers::{spawn_app, spawn_app_with};

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn pages_allow_only_their_own_scripts_and_other_answers_allow_none() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app.get("/").await;
    let policy = header(&page, CONTENT_SECURITY_POLICY).expect("a page's policy");
    assert_eq!(
        header(&page, X_CONTENT_TYPE_OPTIONS).as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        header(&page, REFERRER_POLICY).as_deref(),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(header(&page, X_FRAME_OPTIONS).as_deref(), Some("DENY"));
    assert_eq!(
        header(&page, STRICT_TRANSPORT_SECURITY),
        None,
        "served over plain HTTP"
    );
    assert_eq!(
        header(&page, CACHE_CONTROL),
        None,
        "a public page for an anonymous visitor"
    );
    let nonce = policy
        .split_once("'nonce-")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(nonce, _)| nonce.to_owned())
        .expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"),
        "{policy}"
    );
    let scripts_from = policy
        .split("script-src")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert!(
        !scripts_from.contains("'unsafe-inline'") && !scripts_from.contains("'unsafe-eval'"),
        "no inline script runs without the nonce: {policy}"
    );
    let body = page.text().await.unwrap();
    let scripts = body.matches("<script").count();
    assert!(scripts > 0);
    assert!(
        body.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts,
        "every script carries the nonce: {body}"
    );
    // A new page, a new nonce.
    let again = header(&app.get("/").await, CONTENT_SECURITY_POLICY).unwrap();
    assert_ne!(again, policy);

    let json = app.get("/api/v1/rounds").await;
    assert_eq!(
        header(&json, CONTENT_SECURITY_POLICY).as_deref(),
        Some("default-src 'none'; frame-ancestors 'none'; sandbox")
    );
    assert_eq!(
        header(&json, X_CONTENT_TYPE_OPTIONS).as_deref(),
        Some("nosniff")
    );
    app.stop().await;
}

#[tokio::test]
async fn nothing_answered_to_a_signed_in_caller_is_cached() {
    let app = spawn_app(Backend::Sqlite).await;
    let session = app.register("ada@example.org").await;
    for path in ["/", "/account", "/api/v1/user/me", "/api/v1/user/points"] {
        let response = app
            .request(Method::GET, path, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, CACHE_CONTROL).as_deref(),
            Some("private, no-store"),
            "{path}"
        );
    }
    let key = app.create_api_key(&session, "script").await;
    let response = app
        .client
        .get(app.url("/api/v1/user/points"))
        .bearer_auth(&key.key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, CACHE_CONTROL).as_deref(),
        Some("private, no-store")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_https_site_asks_browsers_to_stay_on_https() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.server.public_url = Some("https://meritree.example".into());
    })
    .await;
    let response = app.get("/healthz").await;
    assert_eq!(
        header(&response, STRICT_TRANSPORT_SECURITY).as_deref(),
        Some("max-age=63072000; includeSubDomains")
    );
    app.stop().await;
}

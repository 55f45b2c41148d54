//! The chain as admins run it, on a real anvil: the overview shows the
//! distributor, the key's balance and the outbox; pausing and resuming
//! claims are transactions the outbox sends, once per request, audited.

use std::time::{Duration, Instant};

use meritree_core::audit::AuditPage;
use meritree_core::settlement::{ChainOverview, OutboxEntry};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    admin_session, error_code, spawn_app_with, with_embedded_chain, Session, TestApp,
};

async fn overview(app: &TestApp, admin: &Session) -> ChainOverview {
    let response = app
        .request(Method::GET, "/api/v1/admin/chain", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn switch(app: &TestApp, admin: &Session, paused: bool, key: &str) -> OutboxEntry {
    let response = app
        .request(Method::POST, "/api/v1/admin/chain/claims-paused", admin)
        .json(&json!({ "paused": paused, "idempotency_key": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

async fn until_claims(app: &TestApp, admin: &Session, paused: bool) {
    let started = Instant::now();
    while overview(app, admin).await.paused != Some(paused) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "claims never became paused={paused}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

test_both_backends! {
    async fn admins_see_the_chain_and_pause_and_resume_claims(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            with_embedded_chain(s);
            s.chain.tick_secs = 1;
        })
        .await;
        let admin = admin_session(&app).await;
        let chain = overview(&app, &admin).await;
        assert_eq!((chain.chain_id, chain.distributor_version, chain.paused), (31_337, 2, Some(false)));
        assert!(chain.distributor.starts_with("0x") && chain.relayer.starts_with("0x"));
        let balance: u128 = chain.relayer_balance_wei.unwrap().parse().unwrap();
        assert!(balance > 0);

        let paused = switch(&app, &admin, true, "pause-1").await;
        assert_eq!((paused.kind.as_str(), paused.status.as_str()), ("pause", "queued"));
        assert_eq!(switch(&app, &admin, true, "pause-1").await.id, paused.id, "a retry queues nothing more");
        until_claims(&app, &admin, true).await;
        switch(&app, &admin, false, "resume-1").await;
        until_claims(&app, &admin, false).await;

        // Members cannot, by either door; the console's call is the same service.
        let member = app.register("mo@example.org").await;
        let refused = app.request(Method::GET, "/api/v1/admin/chain", &member).send().await.unwrap();
        assert_eq!(error_code(refused).await, "forbidden");
        let refused = app.request(Method::POST, "/api/admin/claims_paused", &member)
            .form(&[("paused", "true"), ("idempotency_key", "x")]).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let console = app.request(Method::POST, "/api/admin/chain", &admin).send().await.unwrap();
        assert_eq!(console.json::<ChainOverview>().await.unwrap().paused, Some(false));

        let audit: AuditPage = app.request(Method::GET, "/api/v1/admin/audit", &admin)
            .send().await.unwrap().json().await.unwrap();
        let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["claims_paused", "claims_resumed"]);
        app.stop().await;
    }
}

use meritree_store::{test_both_backends, Backend};
use serde_json::Value;

use crate::helpers::{error_code, spawn_app};

test_both_backends! {
    async fn healthz_answers_with_the_version(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        app.stop().await;
    }

    async fn readyz_follows_the_database(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.get("/readyz").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready");
        app.stop().await;
    }

    async fn status_api_reports_each_component(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.get("/api/v1/status").await;
        assert_eq!(response.status(), 200);
        let report: meritree_core::status::StatusReport = response.json().await.unwrap();
        assert_eq!(report.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(report.overall(), meritree_core::status::Health::Up);
        assert_eq!(report.components.len(), 1);
        assert_eq!(report.components[0].detail, backend.name());
        app.stop().await;
    }

    async fn every_response_carries_a_request_id(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.get("/healthz").await;
        assert!(response.headers().contains_key("x-request-id"));
        let echoed = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .unwrap();
        assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
        app.stop().await;
    }
}

/// A PostgreSQL database that disappears under a running server makes it
/// unready, with a JSON error, and the status API reports the database down.
#[tokio::test]
async fn readyz_is_503_when_the_database_goes_away() {
    let app = spawn_app(Backend::Postgres).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.db().destroy().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(error_code(response).await, "database_unavailable");

    let report: meritree_core::status::StatusReport =
        app.get("/api/v1/status").await.json().await.unwrap();
    assert_eq!(report.overall(), meritree_core::status::Health::Down);
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness does not depend on the database"
    );
    app.stop().await;
}

//! Traces over OTLP: with the `otlp` feature, each request's span reaches
//! a collector with the request's id; without it, asking for OTLP export is
//! a configuration error, not silence.

use server::configuration::{LogFormat, LogSettings};

#[cfg(not(feature = "otlp"))]
#[test]
fn a_build_without_otlp_refuses_an_otlp_endpoint() {
    let settings = LogSettings {
        format: LogFormat::Json,
        filter: "info".into(),
        otlp_endpoint: Some("http://127.0.0.1:4318".into()),
    };
    let err = server::telemetry::init(&settings, false)
        .err()
        .expect("refused");
    assert!(err.contains("--features otlp"), "{err}");
}

#[test]
fn an_otlp_endpoint_that_is_not_an_http_url_is_refused() {
    let settings = LogSettings {
        format: LogFormat::Json,
        filter: "info".into(),
        otlp_endpoint: Some("localhost:4318".into()),
    };
    let err = server::telemetry::init(&settings, false)
        .err()
        .expect("refused");
    assert!(err.contains("not an http(s) URL"), "{err}");
}

#[cfg(feature = "otlp")]
mod export {
    use std::sync::{Arc, Mutex};

    use axum::routing::post;
    use axum::Router;
    use meritree_store::Backend;

    use super::*;
    use crate::helpers::spawn_app;

    /// A stand-in OTLP/HTTP collector: keeps every body posted to `/v1/traces`.
    async fn collector() -> (String, Arc<Mutex<Vec<String>>>) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        let app = Router::new().route(
            "/v1/traces",
            post(move |body: String| async move {
                kept.lock().unwrap().push(body);
                "{}"
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, bodies)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_request_span_reaches_the_collector_with_its_request_id() {
        let (endpoint, bodies) = collector().await;
        let settings = LogSettings {
            format: LogFormat::Json,
            filter: "info".into(),
            otlp_endpoint: Some(endpoint),
        };
        let telemetry = server::telemetry::init(&settings, false).expect("telemetry starts");
        let app = spawn_app(Backend::Sqlite).await;
        let response = app
            .client
            .get(app.url("/api/v1/status"))
            .header("x-request-id", "otlp-trace-me-7")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        app.stop().await;
        tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .unwrap();

        let bodies = bodies.lock().unwrap();
        let exported = bodies.join("\n");
        assert!(
            exported.contains("otlp-trace-me-7"),
            "no span with the request id in {exported}"
        );
        assert!(
            exported.contains("\"request\""),
            "no request span in {exported}"
        );
        assert!(
            exported.contains("meritree"),
            "the service is not named in {exported}"
        );
    }
}

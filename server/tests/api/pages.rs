use meritree_store::{test_both_backends, Backend};

use crate::helpers::spawn_app;

async fn html(app: &crate::helpers::TestApp, path: &str) -> (u16, String) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{path}: {content_type}"
    );
    (status, response.text().await.unwrap())
}

test_both_backends! {
    async fn status_page_is_rendered_on_the_server(backend: Backend) {
        let app = spawn_app(backend).await;
        let (status, body) = html(&app, "/status").await;
        assert_eq!(status, 200);
        // The report itself is in the HTML, not filled in later by the client.
        assert!(body.contains("<title>Status · Meritree</title>"), "{body}");
        assert!(body.contains(env!("CARGO_PKG_VERSION")));
        assert!(body.contains(r#"data-component="Database""#), "{body}");
        assert!(body.contains(backend.name()));
        assert!(body.contains("health-up"));
        assert!(body.contains(r#"data-testid="checked-at""#));
        // The page loads the client that hydrates it.
        assert!(body.contains("/pkg/meritree.js"), "{body}");
        assert!(body.contains("/pkg/meritree_bg.wasm"), "{body}");
        app.stop().await;
    }

    async fn landing_page_links_to_status(backend: Backend) {
        let app = spawn_app(backend).await;
        let (status, body) = html(&app, "/").await;
        assert_eq!(status, 200);
        assert!(body.contains(r#"href="/status""#), "{body}");
        app.stop().await;
    }

    async fn unknown_pages_are_html_404s(backend: Backend) {
        let app = spawn_app(backend).await;
        let (status, body) = html(&app, "/no/such/page").await;
        assert_eq!(status, 404);
        assert!(body.contains("Not found"));
        app.stop().await;
    }

    async fn the_status_server_function_answers_freshly(backend: Backend) {
        let app = spawn_app(backend).await;
        let call = || async {
            let response = app
                .client
                .post(app.url("/api/status/check"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<meritree_core::status::StatusReport>().await.unwrap()
        };
        let first = call().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = call().await;
        assert!(second.checked_at_unix_ms > first.checked_at_unix_ms);
        assert_eq!(first.instance_id, second.instance_id);
        app.stop().await;
    }
}

/// The client bundle is served precompressed when the browser accepts it,
/// and always revalidated (its file names carry no content hash).
#[tokio::test]
async fn the_client_bundle_is_served_precompressed() {
    let app = spawn_app(Backend::Sqlite).await;
    let pkg = app.site_root().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("meritree.js"), "export default 1;").unwrap();
    std::fs::write(pkg.join("meritree.js.br"), b"brotli bytes").unwrap();

    let plain = app.get("/pkg/meritree.js").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    assert!(plain.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert_eq!(plain.text().await.unwrap(), "export default 1;");

    let compressed = app
        .client
        .get(app.url("/pkg/meritree.js"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.headers()["content-encoding"], "br");
    assert_eq!(compressed.bytes().await.unwrap().as_ref(), b"brotli bytes");

    assert_eq!(app.get("/pkg/missing.js").await.status(), 404);
    app.stop().await;
}

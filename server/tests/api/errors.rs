use meritree_store::{test_both_backends, Backend};

use crate::helpers::{error_code, spawn_app};

test_both_backends! {
    async fn unknown_api_paths_are_json_404s(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.get("/api/v1/no-such-thing").await;
        assert_eq!(response.status(), 404);
        assert_eq!(error_code(response).await, "not_found");
        app.stop().await;
    }

    async fn wrong_methods_are_json_405s(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.client.delete(app.url("/api/v1/status")).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(error_code(response).await, "method_not_allowed");
        app.stop().await;
    }
}

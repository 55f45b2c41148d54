//! The OpenAPI document at `/api/v1/openapi.json`: complete and well formed.
//! (schemathesis, in the browser tests, checks the API against it.)

use std::collections::HashSet;

use meritree_store::Backend;
use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn the_document_describes_every_operation_once_with_its_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = document["paths"].as_object().unwrap();
    // A sample from each router: the doc is built from the route tables.
    for path in [
        "/api/v1/status",
        "/api/v1/auth/login",
        "/api/v1/user/api-keys/{id}",
        "/api/v1/rounds/{n}/export",
        "/api/v1/admin/audit/export",
        "/api/v1/tasks/submit",
        "/v1/chat/completions",
        "/v1/models",
    ] {
        assert!(paths.contains_key(path), "{path} is not described");
    }
    // WebSockets are not: OpenAPI cannot describe them.
    assert!(!paths.contains_key("/api/v1/ws"));

    let mut ids = HashSet::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} repeats");
            assert!(
                operation["tags"][0].is_string(),
                "{method} {path} has no tag"
            );
            for name in path
                .split('{')
                .skip(1)
                .map(|s| s.split('}').next().unwrap())
            {
                let declared = operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} undeclared"
                );
            }
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status}: no description"
                );
            }
            assert_eq!(
                responses["default"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}: errors undescribed"
            );
        }
    }
    assert!(ids.len() > 80, "only {} operations", ids.len());

    // Every stable error code is in the catalogue the document publishes.
    let codes = &document["components"]["schemas"]["ErrorCode"]["enum"];
    for code in meritree_core::ErrorCode::ALL {
        assert!(
            codes.as_array().unwrap().iter().any(|c| c == code.as_str()),
            "{code:?} missing from the document"
        );
    }
    app.stop().await;
}

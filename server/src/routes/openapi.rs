//! The OpenAPI 3.1 document of `/api/v1` and `/v1`, generated from the
//! route tables themselves (each handler's `#[utoipa::path]`, registered with
//! `routes!`), so a route cannot exist without its description. Served at
//! `GET /api/v1/openapi.json` and rendered by the app's `/docs/api` page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use meritree_core::api_reference::ApiReference;
use serde_json::{json, Value};
use utoipa::openapi::{OpenApi, PathItem};
use utoipa::PartialSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ErrorBody;

/// Every operation of `router` under one tag: the module that serves it.
pub fn tagged<S>(tag: &str, mut router: OpenApiRouter<S>) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        for operation in operations(item) {
            operation.tags = Some(vec![tag.to_owned()]);
        }
    }
    router
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The whole document, as served: the two APIs' paths under their
/// prefixes, the error envelope as every operation's `default` response,
/// and the two ways to authenticate.
#[derive(Clone)]
pub struct ApiDocument {
    /// Shared by every answer: cloning is a reference count, not a copy.
    json: Bytes,
    reference: Arc<ApiReference>,
}

impl ApiDocument {
    pub fn new(api: OpenApi, openai: OpenApi) -> Self {
        // Nesting keeps the first of two schemas with one name: two types
        // named alike must not silently share a description.
        if let (Some(a), Some(b)) = (&api.components, &openai.components) {
            for (name, schema) in &a.schemas {
                if let Some(other) = b.schemas.get(name) {
                    assert!(
                        serde_json::to_value(schema).ok() == serde_json::to_value(other).ok(),
                        "two API types are both named {name}: rename one with #[schema(as = …)]"
                    );
                }
            }
        }
        let mut document = OpenApi::default().nest("/api/v1", api).nest("/v1", openai);
        document.info.title = "Meritree API".to_owned();
        document.info.version = env!("CARGO_PKG_VERSION").to_owned();
        document.info.description = Some(DESCRIPTION.to_owned());
        document.info.license = None;
        let mut value = serde_json::to_value(&document).expect("an OpenAPI document serializes");
        finish(&mut value);
        Self {
            json: Bytes::from(value.to_string()),
            reference: Arc::new(ApiReference::from_document(&value)),
        }
    }

    /// What the app's `/docs/api` page renders (in each page request's
    /// context, hence shared).
    pub fn reference(&self) -> Arc<ApiReference> {
        Arc::clone(&self.reference)
    }
}

impl IntoResponse for ApiDocument {
    fn into_response(self) -> axum::response::Response {
        ([(CONTENT_TYPE, "application/json")], self.json).into_response()
    }
}

const DESCRIPTION: &str = "Meritree's JSON API (`/api/v1`) and its OpenAI-compatible AI gateway \
(`/v1`). Authenticate with a Meritree API key as a bearer token, or with the session cookies a \
sign-in sets (requests with cookies must come from the site's own origin). Every error is \
`{\"error\": {\"code\", \"message\"}}` with a stable `code`. Two WebSockets are not described \
here: `/api/v1/ws` (live events) and `/api/v1/nodes/{id}/connect` (compute nodes).";

/// A path item's operations, not its other members (`parameters`, `summary`).
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn operations_of(item: &serde_json::Map<String, Value>) -> impl Iterator<Item = &Value> {
    item.iter()
        .filter(|(key, _)| METHODS.contains(&key.as_str()))
        .map(|(_, op)| op)
}

fn operations_of_mut(
    item: &mut serde_json::Map<String, Value>,
) -> impl Iterator<Item = &mut Value> {
    item.iter_mut()
        .filter(|(key, _)| METHODS.contains(&key.as_str()))
        .map(|(_, op)| op)
}

fn name_of(operation: &Value) -> String {
    operation["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// OpenAPI requires every response to be described.
fn describe(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: under way",
        "204" => "Done; no body",
        _ => "Answer",
    }
}

/// Unique operation ids, a description for every response, and the error
/// envelope as every operation's `default` response.
fn finish_operations(paths: &mut serde_json::Map<String, Value>, error: &Value) {
    let mut names: HashMap<String, usize> = HashMap::new();
    for item in paths.values() {
        for operation in item.as_object().into_iter().flat_map(operations_of) {
            *names.entry(name_of(operation)).or_default() += 1;
        }
    }
    for item in paths.values_mut() {
        let operations = item.as_object_mut().into_iter().flat_map(operations_of_mut);
        for operation in operations {
            // Handler names repeat across modules (`create`, `status`):
            // qualified by the tag, operation ids stay unique.
            let name = name_of(operation);
            if names[&name] > 1 {
                let tag = operation["tags"][0].as_str().unwrap_or("api").to_owned();
                operation["operationId"] = Value::from(format!("{tag}_{name}"));
            }
            let Some(responses) = operation["responses"].as_object_mut() else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                if response.get("description").is_none() {
                    response["description"] = Value::from(describe(status));
                }
            }
            responses.insert("default".to_owned(), error.clone());
        }
    }
}

/// What utoipa's typed API does not say: applied to the serialized document.
fn finish(document: &mut Value) {
    let error = json!({
        "description": "An error: its `code` is stable, its `message` is for people",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        finish_operations(paths, &error);
    }
    let components = &mut document["components"];
    components["schemas"]["ErrorBody"] =
        serde_json::to_value(ErrorBody::schema()).expect("a schema serializes");
    components["schemas"]["ErrorCode"] =
        serde_json::to_value(meritree_core::ErrorCode::schema()).expect("a schema serializes");
    components["securitySchemes"] = json!({
        "api_key": {
            "type": "http",
            "scheme": "bearer",
            "description": "A Meritree API key (`mt_…`), or a session's access token"
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": "mt_access",
            "description": "The access cookie a sign-in sets"
        }
    });
    // Each operation says in its description what it needs; some need
    // nothing, hence the empty alternative.
    document["security"] = json!([{ "api_key": [] }, { "session": [] }, {}]);
}

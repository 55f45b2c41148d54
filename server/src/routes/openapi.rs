//! The OpenAPI 3.1 document of `/api/v1` and `/v1`, generated from the
//! route tables themselves (each handler's `#[utoipa::path]`, registered with
//! `routes!`), so a route cannot exist without its description. Served at
//! `GET /api/v1/openapi.json` and rendered by the app's `/api` page.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
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
pub struct ApiDocument(Arc<str>);

impl ApiDocument {
    pub fn new(api: OpenApi, openai: OpenApi) -> Self {
        let mut document = OpenApi::default().nest("/api/v1", api).nest("/v1", openai);
        document.info.title = "Meritree API".to_owned();
        document.info.version = env!("CARGO_PKG_VERSION").to_owned();
        document.info.description = Some(DESCRIPTION.to_owned());
        document.info.license = None;
        let mut value = serde_json::to_value(&document).expect("an OpenAPI document serializes");
        finish(&mut value);
        Self(Arc::from(value.to_string()))
    }

    pub fn json(&self) -> &str {
        &self.0
    }
}

impl IntoResponse for ApiDocument {
    fn into_response(self) -> axum::response::Response {
        ([(CONTENT_TYPE, "application/json")], self.0.to_string()).into_response()
    }
}

const DESCRIPTION: &str = "Meritree's JSON API (`/api/v1`) and its OpenAI-compatible AI gateway \
(`/v1`). Authenticate with a Meritree API key as a bearer token, or with the session cookies a \
sign-in sets (requests with cookies must come from the site's own origin). Every error is \
`{\"error\": {\"code\", \"message\"}}` with a stable `code`. Two WebSockets are not described \
here: `/api/v1/ws` (live events) and `/api/v1/nodes/{id}/connect` (compute nodes).";

/// What utoipa's typed API does not say: applied to the serialized document.
fn finish(document: &mut Value) {
    let error = json!({
        "description": "An error: its `code` is stable, its `message` is for people",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                if let Some(responses) = operation["responses"].as_object_mut() {
                    responses.insert("default".to_owned(), error.clone());
                }
            }
        }
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

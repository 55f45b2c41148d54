//! The API reference page's view of the OpenAPI document: operations
//! grouped by tag, with their parameters, bodies and answers, and the
//! schemas they name. Read from the document the server serves, so the
//! page and `/api/v1/openapi.json` cannot disagree.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiReference {
    pub title: String,
    pub version: String,
    pub description: String,
    pub groups: Vec<ApiGroup>,
    /// Named schemas, by name, as pretty-printed JSON Schema.
    pub schemas: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiGroup {
    pub tag: String,
    pub operations: Vec<ApiOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiOperation {
    /// Upper case: `GET`, `POST`, …
    pub method: String,
    pub path: String,
    pub id: String,
    pub summary: String,
    pub description: String,
    /// `name (in): type`, one per parameter.
    pub parameters: Vec<String>,
    /// The body's media types and schema, e.g. `application/json: NewClaim`.
    pub request: Option<String>,
    /// `(status, description, what the body is)`.
    pub responses: Vec<(String, String, String)>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

impl ApiReference {
    /// Reads an OpenAPI 3.1 document; what it does not find is left empty.
    pub fn from_document(document: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut groups: Vec<ApiGroup> = Vec::new();
        let paths = document["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let tag = operation["tags"][0].as_str().unwrap_or("other").to_owned();
                let operation = ApiOperation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    id: text(&operation["operationId"]),
                    summary: text(&operation["summary"]),
                    description: text(&operation["description"]),
                    parameters: parameters(operation),
                    request: operation
                        .get("requestBody")
                        .map(|body| content(&body["content"])),
                    responses: responses(operation),
                };
                match groups.iter_mut().find(|g| g.tag == tag) {
                    Some(group) => group.operations.push(operation),
                    None => groups.push(ApiGroup {
                        tag,
                        operations: vec![operation],
                    }),
                }
            }
        }
        groups.sort_by(|a, b| a.tag.cmp(&b.tag));
        let schemas = document["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| {
                let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
                (name.clone(), pretty)
            })
            .collect();
        Self {
            title: text(&document["info"]["title"]),
            version: text(&document["info"]["version"]),
            description: text(&document["info"]["description"]),
            groups,
            schemas,
        }
    }
}

fn parameters(operation: &Value) -> Vec<String> {
    let list = operation["parameters"].as_array().into_iter().flatten();
    list.map(|p| {
        let name = p["name"].as_str().unwrap_or("?");
        let place = p["in"].as_str().unwrap_or("?");
        let required = if p["required"] == true {
            ""
        } else {
            ", optional"
        };
        format!("{name} ({place}{required}): {}", schema_name(&p["schema"]))
    })
    .collect()
}

fn responses(operation: &Value) -> Vec<(String, String, String)> {
    let list = operation["responses"].as_object().into_iter().flatten();
    list.map(|(status, response)| {
        let description = response["description"].as_str().unwrap_or_default();
        let body = response
            .get("content")
            .map(content)
            .unwrap_or_else(|| "no body".to_owned());
        (status.clone(), description.to_owned(), body)
    })
    .collect()
}

/// `media type: schema` for each media type of a body.
fn content(content: &Value) -> String {
    let types = content.as_object().into_iter().flatten();
    types
        .map(|(media, body)| format!("{media}: {}", schema_name(&body["schema"])))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A schema in a few words: its name when it is a reference, else its type.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    match &schema["type"] {
        Value::String(kind) if kind == "array" => format!("[{}]", schema_name(&schema["items"])),
        Value::String(kind) => match schema["format"].as_str() {
            Some(format) => format!("{kind} ({format})"),
            None => kind.clone(),
        },
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ if schema.get("oneOf").is_some() => "one of several".to_owned(),
        _ => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_are_grouped_by_tag_with_their_shapes() {
        let document = json!({
            "openapi": "3.1.0",
            "info": {"title": "T", "version": "1", "description": "D"},
            "paths": {
                "/api/v1/rounds/{n}": {"get": {
                    "tags": ["rounds"], "operationId": "get_round", "summary": "One round",
                    "parameters": [{"name": "n", "in": "path", "required": true,
                                    "schema": {"type": "integer", "format": "int64"}}],
                    "responses": {
                        "200": {"description": "OK", "content": {"application/json":
                            {"schema": {"$ref": "#/components/schemas/RoundView"}}}},
                        "default": {"description": "An error", "content": {"application/json":
                            {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
                    }
                }},
                "/api/v1/user/claims": {"post": {
                    "tags": ["claims"], "operationId": "create_claim",
                    "requestBody": {"content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/NewClaim"}}}},
                    "responses": {"202": {"description": "Accepted"}}
                }}
            },
            "components": {"schemas": {"RoundView": {"type": "object"}}}
        });
        let reference = ApiReference::from_document(&document);
        assert_eq!(reference.title, "T");
        let tags: Vec<_> = reference.groups.iter().map(|g| g.tag.as_str()).collect();
        assert_eq!(tags, ["claims", "rounds"]);
        let round = &reference.groups[1].operations[0];
        assert_eq!(round.method, "GET");
        assert_eq!(round.parameters, ["n (path): integer (int64)"]);
        assert_eq!(
            round.responses[0],
            (
                "200".into(),
                "OK".into(),
                "application/json: RoundView".into()
            )
        );
        let claim = &reference.groups[0].operations[0];
        assert_eq!(claim.request.as_deref(), Some("application/json: NewClaim"));
        assert_eq!(claim.responses[0].2, "no body");
        assert_eq!(reference.schemas[0].0, "RoundView");
    }
}

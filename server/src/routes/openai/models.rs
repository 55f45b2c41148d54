use axum::extract::State;
use axum::Json;
use meritree_ai::config::Capability;
use meritree_platform::access::{ApiScope, AuthCheck};
use meritree_platform::Platform;

use super::wire::{ModelEntry, ModelList};
use crate::auth::Caller;
use crate::error::ApiError;

/// `GET /v1/models`: every name `model` accepts: the preferences
/// (`quality`, `speed`, `cost`), configured routes, and each usable
/// `provider/model`.
#[utoipa::path(get, path = "/models", operation_id = "list_models", responses((status = 200, body = ModelList)))]
pub async fn list(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<ModelList>, ApiError> {
    let _me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Ai))
        .await?;
    let gateway = platform.ai().configured()?;
    let mut data: Vec<ModelEntry> = Vec::new();
    for capability in [Capability::Chat, Capability::Embeddings] {
        for id in gateway.public_names(capability) {
            if data.iter().any(|m| m.id == id) {
                continue;
            }
            let owned_by = id
                .split_once('/')
                .map_or("meritree", |(provider, _)| provider)
                .to_owned();
            data.push(ModelEntry {
                id,
                object: "model",
                created: 0,
                owned_by,
            });
        }
    }
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}

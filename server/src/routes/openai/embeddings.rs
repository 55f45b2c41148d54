use axum::extract::State;
use axum::Json;
use base64::Engine;
use meritree_platform::access::{ApiScope, AuthCheck};
use meritree_platform::ai::AiCaller;
use meritree_platform::Platform;

use super::wire::{
    Billing, EmbeddingItem, EmbeddingList, EmbeddingUsage, EmbeddingsRequest, Encoding,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};

/// `POST /v1/embeddings`: vectors for one string or a list, in OpenAI's
/// format; `encoding_format: "base64"` (little-endian f32, what the Python
/// SDK asks for) or `"float"`.
#[utoipa::path(post, path = "/embeddings", operation_id = "create_embeddings", request_body = EmbeddingsRequest, responses((status = 200, body = EmbeddingList)))]
pub async fn create(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<EmbeddingsRequest>,
) -> Result<Json<EmbeddingList>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Ai))
        .await?;
    let (model, inputs, encoding) = body.validate()?;
    let answer = platform
        .ai()
        .embed(&AiCaller::from(&me), &model, inputs)
        .await?;
    let data = answer
        .embeddings
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: encode(vector, encoding),
        })
        .collect();
    Ok(Json(EmbeddingList {
        object: "list",
        data,
        model: format!("{}/{}", answer.provider, answer.embeddings.model),
        usage: EmbeddingUsage {
            prompt_tokens: answer.embeddings.input_tokens,
            total_tokens: answer.embeddings.input_tokens,
        },
        meritree: Billing {
            provider: answer.provider,
            cost_nanos: answer.cost_nanos,
            cached: false,
        },
    }))
}

fn encode(vector: Vec<f32>, encoding: Encoding) -> serde_json::Value {
    match encoding {
        Encoding::Float => serde_json::json!(vector),
        Encoding::Base64 => {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

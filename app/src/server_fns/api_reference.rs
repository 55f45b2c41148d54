use leptos::prelude::*;
use meritree_core::api_reference::ApiReference;

/// `POST /api/docs/reference`: the API reference, read from the OpenAPI
/// document the server serves at `/api/v1/openapi.json`.
#[server(endpoint = "docs/reference")]
pub async fn load_api_reference() -> Result<ApiReference, super::error::AppError> {
    use meritree_core::ErrorCode;
    use std::sync::Arc;
    let reference = use_context::<Arc<ApiReference>>().ok_or_else(|| {
        super::error::AppError::new(
            ErrorCode::Internal,
            "the API reference is not in the request context",
        )
    })?;
    Ok(ApiReference::clone(&reference))
}

//! `GET /images/{id}`: the stored image files, by content. An id names
//! one file forever, so it is cached for good; the headers keep a browser
//! from reading it as anything but the image it is.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use meritree_platform::Platform;

use crate::error::ApiError;
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/images/{id}", get(image))
}

async fn image(
    State(platform): State<Platform>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (format, file) = platform.submissions().image_file(&id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        file,
    )
        .into_response())
}

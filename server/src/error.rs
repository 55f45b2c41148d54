//! The API's one error type, mapped to HTTP in one place.
//!
//! Body: `{"error": {"code": "<stable code>", "message": "<for people>"}}`;
//! the status always matches the code (see `meritree_core::ErrorCode`).

use axum::extract::rejection::JsonRejection;
use axum::extract::FromRequest;
use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use meritree_core::ErrorCode;
use meritree_platform::error::PublicError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    /// Sent as `Retry-After` (whole seconds, rounded up).
    retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

/// The envelope of every error; named in the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(inline)]
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ErrorDetail<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_millis().div_ceil(1000).max(1);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs as u64));
        }
        response
    }
}

/// Every service error becomes an `ApiError` the same way: its stable
/// code, its public message, and `Retry-After` when it says when to retry.
impl<E: PublicError> From<E> for ApiError {
    fn from(err: E) -> Self {
        let error = ApiError::new(err.code(), err.public_message());
        match err.retry_after() {
            Some(after) => error.with_retry_after(after),
            None => error,
        }
    }
}

/// A body that is not the JSON an endpoint expects.
#[derive(Debug)]
pub struct BadJson(ApiError);

impl From<JsonRejection> for BadJson {
    fn from(rejection: JsonRejection) -> Self {
        BadJson(match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorCode::BodyTooLarge,
                format!("the body is larger than {JSON_BODY_LIMIT_BYTES} bytes"),
            ),
            other => ApiError::new(ErrorCode::InvalidRequest, other.body_text()),
        })
    }
}

/// The largest body a route reads (an image upload has its own limit).
pub const JSON_BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

impl IntoResponse for BadJson {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// `axum::Json`, but a bad body is an [`ApiError`] like every other failure.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(BadJson))]
pub struct ApiJson<T>(pub T);

/// An API's unknown paths and methods answer with its JSON errors, never
/// with the app's HTML or an empty body. Added last, so it covers every
/// route of `router`.
pub fn json_fallbacks<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    router
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no API route at this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
}

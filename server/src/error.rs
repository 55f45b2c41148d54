//! The API's one error type, mapped to HTTP in one place.
//!
//! Body: `{"error": {"code": "<stable code>", "message": "<for people>"}}`;
//! the status always matches the code (see `meritree_core::ErrorCode`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meritree_core::ErrorCode;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
            },
        };
        (status, Json(body)).into_response()
    }
}

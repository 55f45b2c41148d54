use std::fmt;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use meritree_core::ErrorCode;
use serde::{Deserialize, Serialize};

/// What a server function reports when it fails: the API's stable code and a
/// message for people. The same codes as the JSON API's errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Transport failures (offline, a 5xx proxy page) keep their detail in
    /// the message.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::new(ErrorCode::Internal, value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<meritree_platform::accounts::AuthError> for AppError {
    fn from(err: meritree_platform::accounts::AuthError) -> Self {
        AppError::new(err.code(), err.public_message())
    }
}

#[cfg(feature = "ssr")]
impl From<meritree_platform::rounds::RoundsError> for AppError {
    fn from(err: meritree_platform::rounds::RoundsError) -> Self {
        AppError::new(err.code(), err.public_message())
    }
}

#[cfg(feature = "ssr")]
impl From<meritree_platform::chain::ClaimError> for AppError {
    fn from(err: meritree_platform::chain::ClaimError) -> Self {
        AppError::new(err.code(), err.public_message())
    }
}

#[cfg(feature = "ssr")]
impl From<meritree_platform::ai::AiError> for AppError {
    fn from(err: meritree_platform::ai::AiError) -> Self {
        AppError::new(err.code(), err.public_message())
    }
}

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
        let code = match value {
            // The request's arguments did not decode: the caller's mistake.
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                ErrorCode::InvalidRequest
            }
            _ => ErrorCode::Internal,
        };
        AppError::new(code, value.to_string())
    }

    /// On the server, every error a server function returns leaves through
    /// here: it answers with its code's HTTP status, as the JSON API does.
    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        super::door::set_error_status(self.code);
        <JsonEncoding as leptos::server_fn::Encodes<Self>>::encode(self).unwrap_or_else(|_| {
            leptos::server_fn::Bytes::from_static(
                br#"{"code":"internal","message":"the error could not be encoded"}"#,
            )
        })
    }
}

/// Every service error becomes an `AppError` the same way as an API error.
#[cfg(feature = "ssr")]
impl<E: meritree_platform::error::PublicError> From<E> for AppError {
    fn from(err: E) -> Self {
        AppError::new(err.code(), err.public_message())
    }
}

//! Stable, machine-readable error codes of the HTTP API.
//!
//! Clients match on these strings, so a code's spelling never changes once
//! released; new failures get new codes.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No route or resource at this path.
    NotFound,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// The body is not valid JSON of the expected shape.
    InvalidRequest,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The email address is malformed.
    InvalidEmail,
    /// The new password does not meet the policy.
    WeakPassword,
    /// Another account already uses this email address.
    EmailTaken,
    /// Wrong email or password (never says which).
    InvalidCredentials,
    /// No valid session or API key came with the request.
    Unauthenticated,
    /// The access token expired: refresh the session and retry.
    TokenExpired,
    /// A refresh token was used twice; its whole session family is now revoked.
    RefreshTokenReused,
    /// Signed in, but this account's role does not allow the action.
    Forbidden,
    /// A cookie-authenticated write came from another origin.
    CsrfRejected,
    /// The database did not answer; the request may be retried.
    DatabaseUnavailable,
    /// A fault on our side; details are in the server log, not the response.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidEmail,
        ErrorCode::WeakPassword,
        ErrorCode::EmailTaken,
        ErrorCode::InvalidCredentials,
        ErrorCode::Unauthenticated,
        ErrorCode::TokenExpired,
        ErrorCode::RefreshTokenReused,
        ErrorCode::Forbidden,
        ErrorCode::CsrfRejected,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::Internal,
    ];

    /// The wire spelling, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::RefreshTokenReused => "refresh_token_reused",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfRejected => "csrf_rejected",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that always accompanies this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::InvalidRequest => 400,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::InvalidEmail => 422,
            ErrorCode::WeakPassword => 422,
            ErrorCode::EmailTaken => 409,
            ErrorCode::InvalidCredentials => 401,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::TokenExpired => 401,
            ErrorCode::RefreshTokenReused => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::CsrfRejected => 403,
            ErrorCode::DatabaseUnavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn codes_pair_with_error_statuses() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
    }
}

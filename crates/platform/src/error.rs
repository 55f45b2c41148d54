//! The error protocol every service error follows, so each door (the JSON
//! API, the pages' server functions) turns any of them into a response the
//! same way, with no conversion written per error type.
//!
//! A service error says which stable [`ErrorCode`] it is (the code fixes
//! the HTTP status) and what a caller may be told. Faults on our side
//! (database, chain, internal) are logged where they are turned into a
//! message, and reported without their details.

use std::time::Duration;

use meritree_core::ErrorCode;
use meritree_store::StoreError;

pub trait PublicError: std::error::Error {
    /// The stable code; also fixes the HTTP status.
    fn code(&self) -> ErrorCode;

    /// When the caller may try again (`Retry-After`), if the refusal says.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// What the caller may be told.
    fn public_message(&self) -> String {
        let code = self.code();
        match fault_message(code) {
            Some(message) => {
                tracing::error!(error = %self, %code, "request failed on our side");
                message.to_owned()
            }
            None => self.to_string(),
        }
    }
}

/// The message for a fault on our side, whose detail stays in the log;
/// `None` for refusals the caller can act on.
fn fault_message(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::Internal => Some("the request could not be completed; try again"),
        ErrorCode::DatabaseUnavailable => Some("the platform's database is unavailable; try again"),
        ErrorCode::ChainUnavailable => Some("the chain is unavailable right now; try again"),
        _ => None,
    }
}

/// The one classifier of store errors: the database not answering is worth
/// a retry (503); anything else is a fault on our side (500).
pub fn store_error_code(err: &StoreError) -> ErrorCode {
    match err {
        StoreError::Query(_) | StoreError::Connect { .. } | StoreError::WriterStopped => {
            ErrorCode::DatabaseUnavailable
        }
        StoreError::Duplicate(_) => ErrorCode::Internal,
        StoreError::UnsupportedUrl(_)
        | StoreError::InvalidUrl(_)
        | StoreError::DataDir { .. }
        | StoreError::Migrate(_) => ErrorCode::Internal,
    }
}

impl PublicError for StoreError {
    fn code(&self) -> ErrorCode {
        store_error_code(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_hide_their_detail_and_refusals_keep_theirs() {
        let fault = StoreError::WriterStopped;
        assert_eq!(fault.code(), ErrorCode::DatabaseUnavailable);
        assert!(!fault.public_message().contains("writer"));
        let refusal = crate::accounts::AuthError::EmailTaken;
        assert_eq!(refusal.public_message(), refusal.to_string());
    }
}

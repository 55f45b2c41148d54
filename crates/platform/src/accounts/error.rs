use meritree_core::accounts::{EmailError, PasswordError};
use meritree_core::ErrorCode;
use meritree_store::StoreError;

/// Why an account or session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    InvalidEmail(EmailError),
    #[error("{0}")]
    WeakPassword(PasswordError),
    #[error("an account with this email address already exists")]
    EmailTaken,
    /// Deliberately vague: never reveals whether the email has an account.
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("sign in to continue")]
    Unauthenticated,
    #[error("the session expired; refresh it")]
    TokenExpired,
    #[error("this session was ended because its refresh token was used twice; sign in again")]
    RefreshTokenReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::InvalidEmail(_) => ErrorCode::InvalidEmail,
            AuthError::WeakPassword(_) => ErrorCode::WeakPassword,
            AuthError::EmailTaken => ErrorCode::EmailTaken,
            AuthError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AuthError::Unauthenticated => ErrorCode::Unauthenticated,
            AuthError::TokenExpired => ErrorCode::TokenExpired,
            AuthError::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            AuthError::Store(StoreError::Query(_) | StoreError::Connect { .. }) => {
                ErrorCode::DatabaseUnavailable
            }
            AuthError::Store(_) => ErrorCode::Internal,
        }
    }
}

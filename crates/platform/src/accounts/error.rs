use meritree_core::accounts::{ApiScope, EmailError, HandleError, PasswordError};
use meritree_core::siwe::SiweError;
use meritree_core::telegram::TelegramError;
use meritree_core::ErrorCode;
use meritree_store::StoreError;

use crate::error::{store_error_code, PublicError};

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
    #[error("this account was disabled by an admin")]
    AccountDisabled,
    #[error("the session expired; refresh it")]
    TokenExpired,
    #[error("this session was ended because its refresh token was used twice; sign in again")]
    RefreshTokenReused,
    #[error("{0}")]
    Siwe(SiweError),
    #[error("this sign-in request expired or was already used; start again")]
    SiweNonceInvalid,
    #[error("this wallet is already bound to another account")]
    WalletTaken,
    #[error("this account already has a wallet; unbind it first")]
    WalletAlreadyBound,
    #[error("this account has no wallet bound")]
    NoWallet,
    #[error("the wallet is this account's only way to sign in; add an email and password first")]
    LastSignInMethod,
    #[error("this account already has an email address")]
    EmailAlreadySet,
    #[error("this server has no Telegram bot configured")]
    TelegramDisabled,
    #[error("{0}")]
    Telegram(TelegramError),
    #[error("this Telegram launch data was already used; open the app from Telegram again")]
    TelegramDataUsed,
    #[error("no account is linked to this Telegram user; create one, or sign in and link it")]
    TelegramNotLinked,
    #[error("this Telegram user is linked to another account")]
    TelegramTaken,
    #[error("this account already has a Telegram user linked; unlink it first")]
    TelegramAlreadyLinked,
    #[error("this account has no Telegram user linked")]
    NoTelegram,
    #[error("{0}")]
    InvalidHandle(HandleError),
    #[error("another member has this handle")]
    HandleTaken,
    #[error("this link expired or was already used; ask for a new one")]
    EmailLinkInvalid,
    #[error("this email address is already confirmed")]
    EmailAlreadyVerified,
    #[error("{0}")]
    InvalidKeyName(&'static str),
    #[error("this account has too many API keys; revoke one first")]
    TooManyKeys,
    #[error("no such API key")]
    NoSuchKey,
    #[error("enter the code from your authenticator app")]
    TotpRequired,
    #[error("that code is wrong or was already used")]
    InvalidTotp,
    #[error("two-factor authentication is already on")]
    TotpAlreadyEnabled,
    #[error("two-factor authentication is not on")]
    TotpNotEnabled,
    #[error("admins must keep two-factor authentication on")]
    TotpRequiredForAdmins,
    #[error("no such session")]
    NoSuchSession,
    #[error("no account has this email address")]
    NoSuchAccount,
    #[error("too many sign-in attempts for this account; try again later")]
    TooManyAttempts { retry_after: std::time::Duration },
    #[error("too many requests; try again later")]
    RateLimited { retry_after: std::time::Duration },
    #[error("this needs a signed-in session; an API key cannot do it")]
    SessionRequired,
    #[error("this API key does not have the `{}` scope", .0.as_str())]
    InsufficientScope(ApiScope),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("confirm it is you (password, two-factor code or wallet signature) and try again")]
    ReauthenticationRequired,
    #[error("{0}")]
    InvalidRequest(String),
    /// Logged, not shown: the RPC's detail stays in the server log.
    #[error("chain RPC unavailable: {0}")]
    ChainUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PublicError for AuthError {
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AuthError::TooManyAttempts { retry_after } | AuthError::RateLimited { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            AuthError::InvalidEmail(_) => ErrorCode::InvalidEmail,
            AuthError::WeakPassword(_) => ErrorCode::WeakPassword,
            AuthError::EmailTaken => ErrorCode::EmailTaken,
            AuthError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AuthError::Unauthenticated => ErrorCode::Unauthenticated,
            AuthError::TokenExpired => ErrorCode::TokenExpired,
            AuthError::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            AuthError::AccountDisabled => ErrorCode::AccountDisabled,
            AuthError::Siwe(err) => ErrorCode::from(err),
            AuthError::SiweNonceInvalid => ErrorCode::SiweNonceInvalid,
            AuthError::WalletTaken => ErrorCode::WalletTaken,
            AuthError::WalletAlreadyBound => ErrorCode::WalletAlreadyBound,
            AuthError::NoWallet => ErrorCode::NotFound,
            AuthError::LastSignInMethod => ErrorCode::LastSignInMethod,
            AuthError::EmailAlreadySet => ErrorCode::EmailAlreadySet,
            AuthError::TelegramDisabled => ErrorCode::TelegramDisabled,
            AuthError::Telegram(err) => ErrorCode::from(err),
            AuthError::TelegramDataUsed => ErrorCode::TelegramDataUsed,
            AuthError::TelegramNotLinked => ErrorCode::TelegramNotLinked,
            AuthError::TelegramTaken => ErrorCode::TelegramTaken,
            AuthError::TelegramAlreadyLinked => ErrorCode::TelegramAlreadyLinked,
            AuthError::NoTelegram => ErrorCode::NotFound,
            AuthError::InvalidHandle(_) => ErrorCode::InvalidHandle,
            AuthError::HandleTaken => ErrorCode::HandleTaken,
            AuthError::EmailLinkInvalid => ErrorCode::EmailLinkInvalid,
            AuthError::EmailAlreadyVerified => ErrorCode::EmailAlreadyVerified,
            AuthError::InvalidKeyName(_) | AuthError::InvalidRequest(_) => {
                ErrorCode::InvalidRequest
            }
            AuthError::TooManyKeys => ErrorCode::TooManyKeys,
            AuthError::NoSuchKey | AuthError::NoSuchSession | AuthError::NoSuchAccount => {
                ErrorCode::NotFound
            }
            AuthError::TotpRequired => ErrorCode::TotpRequired,
            AuthError::InvalidTotp => ErrorCode::InvalidTotp,
            AuthError::TotpAlreadyEnabled => ErrorCode::TotpAlreadyEnabled,
            AuthError::TotpNotEnabled => ErrorCode::TotpNotEnabled,
            AuthError::TotpRequiredForAdmins => ErrorCode::TotpRequiredForAdmins,
            AuthError::TooManyAttempts { .. } | AuthError::RateLimited { .. } => {
                ErrorCode::RateLimited
            }
            AuthError::SessionRequired => ErrorCode::SessionRequired,
            AuthError::InsufficientScope(_) => ErrorCode::InsufficientScope,
            AuthError::Forbidden(_) => ErrorCode::Forbidden,
            AuthError::ReauthenticationRequired => ErrorCode::ReauthenticationRequired,
            AuthError::ChainUnavailable(_) => ErrorCode::ChainUnavailable,
            AuthError::Store(err) => store_error_code(err),
        }
    }
}

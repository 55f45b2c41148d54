//! Stable, machine-readable error codes of the HTTP API.
//!
//! Clients match on these strings, so a code's spelling never changes once
//! released; new failures get new codes.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::siwe::SiweError;
use crate::telegram::TelegramError;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The body is larger than the route accepts.
    BodyTooLarge,
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
    /// An admin disabled the account: it cannot sign in or use its keys.
    AccountDisabled,
    /// Signed in, but this account's role does not allow the action.
    Forbidden,
    /// A cookie-authenticated write came from another origin.
    CsrfRejected,
    /// Credentials, identity and admin operations need a signed-in
    /// session; an API key cannot do them.
    SessionRequired,
    /// The API key's scopes do not cover this operation.
    InsufficientScope,
    /// Prove who you are again (password, TOTP code or wallet signature at
    /// `/api/v1/auth/reauthenticate`), then retry.
    ReauthenticationRequired,
    /// Another account already has this wallet bound.
    WalletTaken,
    /// This account already has a wallet; unbind it first.
    WalletAlreadyBound,
    /// Removing this would leave the account no way to sign in.
    LastSignInMethod,
    /// The sign-in nonce is unknown, already used or expired: fetch a new one.
    SiweNonceInvalid,
    /// The SIWE message does not follow the EIP-4361 grammar.
    SiweMalformed,
    /// The SIWE message's address is not EIP-55 checksummed.
    SiweAddressNotChecksummed,
    /// The SIWE message's version is not 1.
    SiweUnsupportedVersion,
    /// The SIWE message was made for another domain.
    SiweDomainMismatch,
    /// The SIWE message names another scheme.
    SiweSchemeMismatch,
    /// The SIWE message's URI is not on this site.
    SiweUriMismatch,
    /// The SIWE message is for another chain.
    SiweChainIdMismatch,
    /// The SIWE message's nonce is not the one issued.
    SiweNonceMismatch,
    /// The SIWE message was issued in the future.
    SiweIssuedInFuture,
    /// The SIWE message has expired.
    SiweExpired,
    /// The SIWE message is not valid yet.
    SiweNotYetValid,
    /// The signature is not a valid signature.
    SiweInvalidSignature,
    /// The message was signed by another key than its address.
    SiweSignerMismatch,
    /// The signed text is not the message.
    SiweMessageMismatch,
    /// This account already has an email address.
    EmailAlreadySet,
    /// The email link expired, was already used, or is for an address the
    /// account no longer has: ask for a new one.
    EmailLinkInvalid,
    /// The email address is already verified.
    EmailAlreadyVerified,
    /// The public handle breaks the handle rule (the message says how).
    InvalidHandle,
    /// Another member has this handle.
    HandleTaken,
    /// The account holds the maximum number of API keys.
    TooManyKeys,
    /// The account has two-factor authentication: send `totp_code`.
    TotpRequired,
    /// The one-time code is wrong or was already used.
    InvalidTotp,
    /// Two-factor authentication is already on.
    TotpAlreadyEnabled,
    /// Two-factor authentication is not on (or enrolment was not started).
    TotpNotEnabled,
    /// Admins cannot turn two-factor authentication off.
    TotpRequiredForAdmins,
    /// The points amount is zero, too large, or negative for a reason that only credits.
    InvalidAmount,
    /// The entry would take the balance below zero; nothing was posted.
    InsufficientPoints,
    /// This idempotency key was already used for a different posting.
    IdempotencyConflict,
    /// The title or body breaks a rule (the message says which).
    InvalidSubmission,
    /// The upload is not a PNG, JPEG or WebP image within the limits (the
    /// message says which).
    InvalidImage,
    /// The upload is larger than an image may be.
    ImageTooLarge,
    /// Choose a public handle before submitting work: entries are shown
    /// under it.
    HandleRequired,
    /// The account submitted as many works to this round as it may.
    SubmissionLimitReached,
    /// The submission is not waiting for a moderator's decision.
    NotInReview,
    /// Too many requests: wait for `Retry-After` seconds.
    RateLimited,
    /// The database did not answer; the request may be retried.
    DatabaseUnavailable,
    /// The chain's RPC did not answer; the request may be retried.
    ChainUnavailable,
    /// Never sent by the server: the installed app's service worker answers
    /// a write it kept on the device while offline, to be sent once the
    /// connection is back (public/sw.js).
    QueuedOffline,
    /// This server has no Telegram bot configured.
    TelegramDisabled,
    /// The Telegram launch data (`initData`) is not in Telegram's format.
    TelegramDataMalformed,
    /// The Telegram launch data is not signed for this server's bot.
    TelegramDataInvalid,
    /// The Telegram launch data is too old (or from the future): open the app from Telegram again.
    TelegramDataExpired,
    /// This Telegram launch data was already used: open the app from Telegram again.
    TelegramDataUsed,
    /// No account is linked to this Telegram user: create one, or sign in and link it.
    TelegramNotLinked,
    /// This Telegram user is linked to another account.
    TelegramTaken,
    /// This account already has a Telegram user linked; unlink it first.
    TelegramAlreadyLinked,
    /// The push subscription is not one a browser makes: its endpoint is not an absolute URL, or its keys are not a P-256 point and a 16-byte secret.
    PushSubscriptionInvalid,
    /// The push subscription's endpoint is not at a push service this server sends to.
    PushServiceNotAllowed,
    /// This browser's push subscription is another account's.
    PushSubscriptionTaken,
    /// No rewards to claim: none published yet, or all already paid.
    NothingToClaim,
    /// The account has no wallet bound (rewards are paid to a wallet).
    NoWallet,
    /// The chain would refuse the claim (a bad signature or proof, an
    /// expired deadline, a paused distributor); the message says which.
    ClaimRejected,
    /// Another claim of this account is still being sent.
    ClaimInProgress,
    /// No AI model or route of that name (see `GET /v1/models`).
    ModelNotFound,
    /// A budget of the account or API key is spent for this period; nothing
    /// was sent upstream.
    BudgetExceeded,
    /// The AI provider judged the request invalid (too long, a bad parameter).
    UpstreamRejected,
    /// No AI provider could answer (all failed or are held off); retry later.
    UpstreamUnavailable,
    /// No AI provider answered within the gateway's deadline; retry later.
    UpstreamTimeout,
    /// The task or its input breaks a rule (the message says which).
    InvalidTask,
    /// The node's registration breaks a rule (the message says which).
    InvalidNode,
    /// This node does not hold the task's lease (it expired, the task went
    /// to another node, or it was cancelled): drop the task.
    LeaseLost,
    /// The task already ended (completed, failed or cancelled).
    TaskFinished,
    /// The operator's stake on chain is below the network's minimum.
    StakeTooLow,
    /// The account has as many tasks waiting or running as it may.
    TooManyTasks,
    /// The review breaks a rule (a reason is needed; a slash is a positive
    /// amount in base units): the message says which.
    InvalidReview,
    /// The node is not flagged for review (another admin may have just
    /// reviewed it).
    NotFlagged,
    /// The slash cannot be made: staking is off, the operator has no
    /// wallet, or it asks more than is staked (the message says which).
    SlashRefused,
    /// A fault on our side; details are in the server log, not the response.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 90] = [
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::BodyTooLarge,
        ErrorCode::InvalidEmail,
        ErrorCode::WeakPassword,
        ErrorCode::EmailTaken,
        ErrorCode::InvalidCredentials,
        ErrorCode::Unauthenticated,
        ErrorCode::TokenExpired,
        ErrorCode::RefreshTokenReused,
        ErrorCode::AccountDisabled,
        ErrorCode::Forbidden,
        ErrorCode::CsrfRejected,
        ErrorCode::SessionRequired,
        ErrorCode::InsufficientScope,
        ErrorCode::ReauthenticationRequired,
        ErrorCode::WalletTaken,
        ErrorCode::WalletAlreadyBound,
        ErrorCode::LastSignInMethod,
        ErrorCode::SiweNonceInvalid,
        ErrorCode::SiweMalformed,
        ErrorCode::SiweAddressNotChecksummed,
        ErrorCode::SiweUnsupportedVersion,
        ErrorCode::SiweDomainMismatch,
        ErrorCode::SiweSchemeMismatch,
        ErrorCode::SiweUriMismatch,
        ErrorCode::SiweChainIdMismatch,
        ErrorCode::SiweNonceMismatch,
        ErrorCode::SiweIssuedInFuture,
        ErrorCode::SiweExpired,
        ErrorCode::SiweNotYetValid,
        ErrorCode::SiweInvalidSignature,
        ErrorCode::SiweSignerMismatch,
        ErrorCode::SiweMessageMismatch,
        ErrorCode::EmailAlreadySet,
        ErrorCode::EmailLinkInvalid,
        ErrorCode::EmailAlreadyVerified,
        ErrorCode::InvalidHandle,
        ErrorCode::HandleTaken,
        ErrorCode::TooManyKeys,
        ErrorCode::TotpRequired,
        ErrorCode::InvalidTotp,
        ErrorCode::TotpAlreadyEnabled,
        ErrorCode::TotpNotEnabled,
        ErrorCode::TotpRequiredForAdmins,
        ErrorCode::InvalidAmount,
        ErrorCode::InsufficientPoints,
        ErrorCode::IdempotencyConflict,
        ErrorCode::InvalidSubmission,
        ErrorCode::InvalidImage,
        ErrorCode::ImageTooLarge,
        ErrorCode::HandleRequired,
        ErrorCode::SubmissionLimitReached,
        ErrorCode::NotInReview,
        ErrorCode::RateLimited,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::ChainUnavailable,
        ErrorCode::QueuedOffline,
        ErrorCode::TelegramDisabled,
        ErrorCode::TelegramDataMalformed,
        ErrorCode::TelegramDataInvalid,
        ErrorCode::TelegramDataExpired,
        ErrorCode::TelegramDataUsed,
        ErrorCode::TelegramNotLinked,
        ErrorCode::TelegramTaken,
        ErrorCode::TelegramAlreadyLinked,
        ErrorCode::PushSubscriptionInvalid,
        ErrorCode::PushServiceNotAllowed,
        ErrorCode::PushSubscriptionTaken,
        ErrorCode::NothingToClaim,
        ErrorCode::NoWallet,
        ErrorCode::ClaimRejected,
        ErrorCode::ClaimInProgress,
        ErrorCode::ModelNotFound,
        ErrorCode::BudgetExceeded,
        ErrorCode::UpstreamRejected,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::UpstreamTimeout,
        ErrorCode::InvalidTask,
        ErrorCode::InvalidNode,
        ErrorCode::LeaseLost,
        ErrorCode::TaskFinished,
        ErrorCode::StakeTooLow,
        ErrorCode::TooManyTasks,
        ErrorCode::InvalidReview,
        ErrorCode::NotFlagged,
        ErrorCode::SlashRefused,
        ErrorCode::Internal,
    ];

    /// The wire spelling, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::RefreshTokenReused => "refresh_token_reused",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfRejected => "csrf_rejected",
            ErrorCode::SessionRequired => "session_required",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::ReauthenticationRequired => "reauthentication_required",
            ErrorCode::WalletTaken => "wallet_taken",
            ErrorCode::WalletAlreadyBound => "wallet_already_bound",
            ErrorCode::LastSignInMethod => "last_sign_in_method",
            ErrorCode::SiweNonceInvalid => "siwe_nonce_invalid",
            ErrorCode::SiweMalformed => "siwe_malformed",
            ErrorCode::SiweAddressNotChecksummed => "siwe_address_not_checksummed",
            ErrorCode::SiweUnsupportedVersion => "siwe_unsupported_version",
            ErrorCode::SiweDomainMismatch => "siwe_domain_mismatch",
            ErrorCode::SiweSchemeMismatch => "siwe_scheme_mismatch",
            ErrorCode::SiweUriMismatch => "siwe_uri_mismatch",
            ErrorCode::SiweChainIdMismatch => "siwe_chain_id_mismatch",
            ErrorCode::SiweNonceMismatch => "siwe_nonce_mismatch",
            ErrorCode::SiweIssuedInFuture => "siwe_issued_in_future",
            ErrorCode::SiweExpired => "siwe_expired",
            ErrorCode::SiweNotYetValid => "siwe_not_yet_valid",
            ErrorCode::SiweInvalidSignature => "siwe_invalid_signature",
            ErrorCode::SiweSignerMismatch => "siwe_signer_mismatch",
            ErrorCode::SiweMessageMismatch => "siwe_message_mismatch",
            ErrorCode::EmailAlreadySet => "email_already_set",
            ErrorCode::EmailLinkInvalid => "email_link_invalid",
            ErrorCode::EmailAlreadyVerified => "email_already_verified",
            ErrorCode::InvalidHandle => "invalid_handle",
            ErrorCode::HandleTaken => "handle_taken",
            ErrorCode::TooManyKeys => "too_many_keys",
            ErrorCode::TotpRequired => "totp_required",
            ErrorCode::InvalidTotp => "invalid_totp",
            ErrorCode::TotpAlreadyEnabled => "totp_already_enabled",
            ErrorCode::TotpNotEnabled => "totp_not_enabled",
            ErrorCode::TotpRequiredForAdmins => "totp_required_for_admins",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::InsufficientPoints => "insufficient_points",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::InvalidSubmission => "invalid_submission",
            ErrorCode::InvalidImage => "invalid_image",
            ErrorCode::ImageTooLarge => "image_too_large",
            ErrorCode::HandleRequired => "handle_required",
            ErrorCode::SubmissionLimitReached => "submission_limit_reached",
            ErrorCode::NotInReview => "not_in_review",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::ChainUnavailable => "chain_unavailable",
            ErrorCode::QueuedOffline => "queued_offline",
            ErrorCode::TelegramDisabled => "telegram_disabled",
            ErrorCode::TelegramDataMalformed => "telegram_data_malformed",
            ErrorCode::TelegramDataInvalid => "telegram_data_invalid",
            ErrorCode::TelegramDataExpired => "telegram_data_expired",
            ErrorCode::TelegramDataUsed => "telegram_data_used",
            ErrorCode::TelegramNotLinked => "telegram_not_linked",
            ErrorCode::TelegramTaken => "telegram_taken",
            ErrorCode::TelegramAlreadyLinked => "telegram_already_linked",
            ErrorCode::PushSubscriptionInvalid => "push_subscription_invalid",
            ErrorCode::PushServiceNotAllowed => "push_service_not_allowed",
            ErrorCode::PushSubscriptionTaken => "push_subscription_taken",
            ErrorCode::NothingToClaim => "nothing_to_claim",
            ErrorCode::NoWallet => "no_wallet",
            ErrorCode::ClaimRejected => "claim_rejected",
            ErrorCode::ClaimInProgress => "claim_in_progress",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::UpstreamRejected => "upstream_rejected",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::InvalidTask => "invalid_task",
            ErrorCode::InvalidNode => "invalid_node",
            ErrorCode::LeaseLost => "lease_lost",
            ErrorCode::TaskFinished => "task_finished",
            ErrorCode::StakeTooLow => "stake_too_low",
            ErrorCode::TooManyTasks => "too_many_tasks",
            ErrorCode::InvalidReview => "invalid_review",
            ErrorCode::NotFlagged => "not_flagged",
            ErrorCode::SlashRefused => "slash_refused",
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
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::InvalidEmail => 422,
            ErrorCode::WeakPassword => 422,
            ErrorCode::EmailTaken => 409,
            ErrorCode::InvalidCredentials => 401,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::TokenExpired => 401,
            ErrorCode::RefreshTokenReused => 401,
            ErrorCode::AccountDisabled => 403,
            ErrorCode::Forbidden => 403,
            ErrorCode::CsrfRejected => 403,
            ErrorCode::SessionRequired => 403,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::ReauthenticationRequired => 403,
            ErrorCode::WalletTaken => 409,
            ErrorCode::WalletAlreadyBound => 409,
            ErrorCode::LastSignInMethod => 409,
            ErrorCode::SiweNonceInvalid => 401,
            ErrorCode::SiweMalformed => 400,
            ErrorCode::SiweAddressNotChecksummed => 400,
            ErrorCode::SiweUnsupportedVersion => 400,
            ErrorCode::SiweDomainMismatch => 401,
            ErrorCode::SiweSchemeMismatch => 401,
            ErrorCode::SiweUriMismatch => 401,
            ErrorCode::SiweChainIdMismatch => 401,
            ErrorCode::SiweNonceMismatch => 401,
            ErrorCode::SiweIssuedInFuture => 401,
            ErrorCode::SiweExpired => 401,
            ErrorCode::SiweNotYetValid => 401,
            ErrorCode::SiweInvalidSignature => 401,
            ErrorCode::SiweSignerMismatch => 401,
            ErrorCode::SiweMessageMismatch => 401,
            ErrorCode::EmailAlreadySet => 409,
            ErrorCode::EmailLinkInvalid => 400,
            ErrorCode::EmailAlreadyVerified => 409,
            ErrorCode::InvalidHandle => 422,
            ErrorCode::HandleTaken => 409,
            ErrorCode::TooManyKeys => 409,
            ErrorCode::TotpRequired => 401,
            ErrorCode::InvalidTotp => 401,
            ErrorCode::TotpAlreadyEnabled => 409,
            ErrorCode::TotpNotEnabled => 409,
            ErrorCode::TotpRequiredForAdmins => 409,
            ErrorCode::InvalidAmount => 422,
            ErrorCode::InsufficientPoints => 409,
            ErrorCode::IdempotencyConflict => 409,
            ErrorCode::InvalidSubmission => 422,
            ErrorCode::InvalidImage => 422,
            ErrorCode::ImageTooLarge => 413,
            ErrorCode::HandleRequired => 409,
            ErrorCode::SubmissionLimitReached => 429,
            ErrorCode::NotInReview => 409,
            ErrorCode::RateLimited => 429,
            ErrorCode::DatabaseUnavailable => 503,
            ErrorCode::ChainUnavailable => 503,
            ErrorCode::QueuedOffline => 503,
            ErrorCode::TelegramDisabled => 404,
            ErrorCode::TelegramDataMalformed => 400,
            ErrorCode::TelegramDataInvalid => 401,
            ErrorCode::TelegramDataExpired => 401,
            ErrorCode::TelegramDataUsed => 401,
            ErrorCode::TelegramNotLinked => 404,
            ErrorCode::TelegramTaken => 409,
            ErrorCode::TelegramAlreadyLinked => 409,
            ErrorCode::PushSubscriptionInvalid => 422,
            ErrorCode::PushServiceNotAllowed => 422,
            ErrorCode::PushSubscriptionTaken => 409,
            ErrorCode::NothingToClaim => 409,
            ErrorCode::NoWallet => 409,
            ErrorCode::ClaimRejected => 422,
            ErrorCode::ClaimInProgress => 409,
            ErrorCode::ModelNotFound => 404,
            ErrorCode::BudgetExceeded => 402,
            ErrorCode::UpstreamRejected => 400,
            ErrorCode::UpstreamUnavailable => 503,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::InvalidTask => 422,
            ErrorCode::InvalidNode => 422,
            ErrorCode::LeaseLost => 409,
            ErrorCode::TaskFinished => 409,
            ErrorCode::StakeTooLow => 403,
            ErrorCode::TooManyTasks => 429,
            ErrorCode::InvalidReview => 422,
            ErrorCode::NotFlagged => 409,
            ErrorCode::SlashRefused => 409,
            ErrorCode::Internal => 500,
        }
    }
}

impl From<&SiweError> for ErrorCode {
    fn from(err: &SiweError) -> Self {
        match err {
            SiweError::Malformed { .. } => ErrorCode::SiweMalformed,
            SiweError::AddressNotChecksummed => ErrorCode::SiweAddressNotChecksummed,
            SiweError::UnsupportedVersion => ErrorCode::SiweUnsupportedVersion,
            SiweError::DomainMismatch => ErrorCode::SiweDomainMismatch,
            SiweError::SchemeMismatch => ErrorCode::SiweSchemeMismatch,
            SiweError::UriMismatch => ErrorCode::SiweUriMismatch,
            SiweError::ChainIdMismatch => ErrorCode::SiweChainIdMismatch,
            SiweError::NonceMismatch => ErrorCode::SiweNonceMismatch,
            SiweError::IssuedInFuture => ErrorCode::SiweIssuedInFuture,
            SiweError::Expired => ErrorCode::SiweExpired,
            SiweError::NotYetValid => ErrorCode::SiweNotYetValid,
            SiweError::InvalidSignature(_) => ErrorCode::SiweInvalidSignature,
            SiweError::SignerMismatch { .. } => ErrorCode::SiweSignerMismatch,
            SiweError::MessageMismatch => ErrorCode::SiweMessageMismatch,
        }
    }
}

impl From<&TelegramError> for ErrorCode {
    fn from(err: &TelegramError) -> Self {
        match err {
            TelegramError::Malformed(_) => ErrorCode::TelegramDataMalformed,
            TelegramError::InvalidHash => ErrorCode::TelegramDataInvalid,
            TelegramError::Expired => ErrorCode::TelegramDataExpired,
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
    fn siwe_errors_keep_their_codes() {
        for code in SiweError::CODES {
            assert!(ErrorCode::ALL.iter().any(|c| c.as_str() == code), "{code}");
        }
    }

    #[test]
    fn codes_pair_with_error_statuses() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
    }
}

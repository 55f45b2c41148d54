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
pub(crate) fn fault_message(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::Internal => Some("the request could not be completed; try again"),
        ErrorCode::DatabaseUnavailable => Some("the platform's database is unavailable; try again"),
        ErrorCode::ChainUnavailable => Some("the chain is unavailable right now; try again"),
        // The detail names providers, models and their addresses.
        ErrorCode::UpstreamUnavailable => Some("no AI provider could answer; try again later"),
        ErrorCode::UpstreamTimeout => Some("no AI provider answered in time; try again later"),
        // The provider's own words name it, and often its addresses.
        ErrorCode::UpstreamRejected => Some(
            "the AI provider refused this request as invalid (too long for the model, or a parameter it does not take)",
        ),
        _ => None,
    }
}

/// The one classifier of store errors: the database not answering is worth
/// a retry (503); anything else is a fault on our side (500).
pub fn store_error_code(err: &StoreError) -> ErrorCode {
    match err {
        StoreError::Query(_)
        | StoreError::Connect { .. }
        | StoreError::WriterStopped
        | StoreError::Fenced(_) => ErrorCode::DatabaseUnavailable,
        StoreError::Duplicate(_) => ErrorCode::Internal,
        StoreError::UnsupportedUrl(_)
        | StoreError::InvalidUrl(_)
        | StoreError::DataDir { .. }
        | StoreError::Unsupported(_)
        | StoreError::Sealed(_)
        | StoreError::Migrate(_)
        | StoreError::BrokenReferences(_) => ErrorCode::Internal,
    }
}

impl PublicError for StoreError {
    fn code(&self) -> ErrorCode {
        store_error_code(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use meritree_ai::gateway::ResolveError;
    use meritree_ai::ProviderError;
    use meritree_core::accounts::{ApiScope, EmailError, PasswordError};
    use meritree_core::points::AmountError;
    use meritree_core::rounds::InvalidRoundLength;
    use meritree_core::siwe::SiweError;

    use super::*;
    use crate::accounts::AuthError;
    use crate::ai::budgets::{BudgetExceeded, BudgetPeriod, BudgetScope};
    use crate::ai::AiError;
    use crate::chain::{ClaimError, SettlementError};
    use crate::compute::ComputeError;
    use crate::points::PointsError;
    use crate::push::PushError;
    use crate::rounds::RoundsError;
    use meritree_core::compute::{RuleError, TaskStatus, TransitionError};

    fn store() -> StoreError {
        StoreError::WriterStopped
    }

    /// One of every variant of every service error. The matches below do
    /// not compile when a variant is added without being listed here.
    fn every_service_error() -> Vec<Box<dyn PublicError>> {
        let auth = vec![
            AuthError::InvalidEmail(EmailError::Malformed),
            AuthError::WeakPassword(PasswordError::TooShort),
            AuthError::EmailTaken,
            AuthError::InvalidCredentials,
            AuthError::Unauthenticated,
            AuthError::TokenExpired,
            AuthError::RefreshTokenReused,
            AuthError::AccountDisabled,
            AuthError::Siwe(SiweError::Expired),
            AuthError::SiweNonceInvalid,
            AuthError::WalletTaken,
            AuthError::WalletAlreadyBound,
            AuthError::NoWallet,
            AuthError::LastSignInMethod,
            AuthError::EmailAlreadySet,
            AuthError::TelegramDisabled,
            AuthError::Telegram(meritree_core::telegram::TelegramError::Expired),
            AuthError::TelegramDataUsed,
            AuthError::TelegramNotLinked,
            AuthError::TelegramTaken,
            AuthError::TelegramAlreadyLinked,
            AuthError::NoTelegram,
            AuthError::EmailLinkInvalid,
            AuthError::EmailAlreadyVerified,
            AuthError::InvalidHandle(meritree_core::accounts::HandleError::TooShort),
            AuthError::HandleTaken,
            AuthError::InvalidKeyName("bad"),
            AuthError::TooManyKeys,
            AuthError::NoSuchKey,
            AuthError::TotpRequired,
            AuthError::InvalidTotp,
            AuthError::TotpAlreadyEnabled,
            AuthError::TotpNotEnabled,
            AuthError::TotpRequiredForAdmins,
            AuthError::NoSuchSession,
            AuthError::NoSuchAccount,
            AuthError::TooManyAttempts {
                retry_after: Duration::from_secs(3),
            },
            AuthError::RateLimited {
                retry_after: Duration::from_secs(3),
            },
            AuthError::SessionRequired,
            AuthError::InsufficientScope(ApiScope::Ai),
            AuthError::Forbidden("no"),
            AuthError::ReauthenticationRequired,
            AuthError::InvalidRequest("bad".into()),
            AuthError::ChainUnavailable("rpc detail".into()),
            AuthError::Store(store()),
        ];
        for err in &auth {
            match err {
                AuthError::InvalidEmail(_)
                | AuthError::WeakPassword(_)
                | AuthError::EmailTaken
                | AuthError::InvalidCredentials
                | AuthError::Unauthenticated
                | AuthError::TokenExpired
                | AuthError::RefreshTokenReused
                | AuthError::AccountDisabled
                | AuthError::Siwe(_)
                | AuthError::SiweNonceInvalid
                | AuthError::WalletTaken
                | AuthError::WalletAlreadyBound
                | AuthError::NoWallet
                | AuthError::LastSignInMethod
                | AuthError::EmailAlreadySet
                | AuthError::TelegramDisabled
                | AuthError::Telegram(_)
                | AuthError::TelegramDataUsed
                | AuthError::TelegramNotLinked
                | AuthError::TelegramTaken
                | AuthError::TelegramAlreadyLinked
                | AuthError::NoTelegram
                | AuthError::EmailLinkInvalid
                | AuthError::EmailAlreadyVerified
                | AuthError::InvalidHandle(_)
                | AuthError::HandleTaken
                | AuthError::InvalidKeyName(_)
                | AuthError::TooManyKeys
                | AuthError::NoSuchKey
                | AuthError::TotpRequired
                | AuthError::InvalidTotp
                | AuthError::TotpAlreadyEnabled
                | AuthError::TotpNotEnabled
                | AuthError::TotpRequiredForAdmins
                | AuthError::NoSuchSession
                | AuthError::NoSuchAccount
                | AuthError::TooManyAttempts { .. }
                | AuthError::RateLimited { .. }
                | AuthError::SessionRequired
                | AuthError::InsufficientScope(_)
                | AuthError::Forbidden(_)
                | AuthError::ReauthenticationRequired
                | AuthError::InvalidRequest(_)
                | AuthError::ChainUnavailable(_)
                | AuthError::Store(_) => {}
            }
        }
        let ai = vec![
            AiError::NotConfigured,
            AiError::Model(ResolveError::UnknownModel("m".into())),
            AiError::Budget(BudgetExceeded {
                scope: BudgetScope::Account("a".into()),
                period: BudgetPeriod::Day,
                limit_nanos: 1,
                spent_nanos: 1,
                resets_at: 0,
            }),
            AiError::Rejected {
                provider: "p".into(),
                error: ProviderError::BadRequest("x".into()),
            },
            AiError::Unavailable("all down".into()),
            AiError::TimedOut("late".into()),
            AiError::InvalidPeriod,
            AiError::InvalidSpan,
            AiError::Unsupported("seed".into()),
            AiError::NoSuchKey,
            AiError::NoSuchAccount,
            AiError::NoSuchBudget,
            AiError::Store(store()),
        ];
        for err in &ai {
            match err {
                AiError::NotConfigured
                | AiError::Model(_)
                | AiError::Budget(_)
                | AiError::Rejected { .. }
                | AiError::Unavailable(_)
                | AiError::TimedOut(_)
                | AiError::InvalidPeriod
                | AiError::InvalidSpan
                | AiError::Unsupported(_)
                | AiError::NoSuchKey
                | AiError::NoSuchAccount
                | AiError::NoSuchBudget
                | AiError::Store(_) => {}
            }
        }
        let claims = vec![
            ClaimError::NoWallet,
            ClaimError::NothingToClaim,
            ClaimError::Rejected("paused".into()),
            ClaimError::NoSuchClaim,
            ClaimError::InProgress,
            ClaimError::InvalidRequest("bad"),
            ClaimError::Settlement(SettlementError::NoChain),
            ClaimError::Settlement(SettlementError::Store(store())),
            ClaimError::Settlement(SettlementError::Corrupt("detail".into())),
        ];
        for err in &claims {
            match err {
                ClaimError::NoWallet
                | ClaimError::NothingToClaim
                | ClaimError::Rejected(_)
                | ClaimError::NoSuchClaim
                | ClaimError::InProgress
                | ClaimError::InvalidRequest(_)
                | ClaimError::Settlement(_) => {}
            }
        }
        let points = vec![
            PointsError::InvalidAmount(AmountError::Zero),
            PointsError::InvalidRequest("bad"),
            PointsError::InsufficientPoints { balance: 3 },
            PointsError::BalanceOverflow,
            PointsError::IdempotencyConflict {
                key: "k".into(),
                entry_id: 1,
            },
            PointsError::NoSuchAccount,
            PointsError::UnknownStoredReason {
                id: 1,
                reason: "x".into(),
            },
            PointsError::Store(store()),
        ];
        for err in &points {
            match err {
                PointsError::InvalidAmount(_)
                | PointsError::InvalidRequest(_)
                | PointsError::InsufficientPoints { .. }
                | PointsError::BalanceOverflow
                | PointsError::IdempotencyConflict { .. }
                | PointsError::NoSuchAccount
                | PointsError::UnknownStoredReason { .. }
                | PointsError::Store(_) => {}
            }
        }
        let rounds = vec![
            RoundsError::NoSuchRound(1),
            RoundsError::NoTree(1),
            RoundsError::NoSuchAccount,
            RoundsError::InvalidPolicy(InvalidRoundLength),
            RoundsError::CumulativeDecrease {
                round: 1,
                wallet: "w".into(),
                previous: "2".into(),
                next: "1".into(),
            },
            RoundsError::AmountOverflow { wallet: "w".into() },
            RoundsError::Contention("busy".into()),
            RoundsError::Corrupt("detail".into()),
            RoundsError::Store(store()),
        ];
        for err in &rounds {
            match err {
                RoundsError::NoSuchRound(_)
                | RoundsError::NoTree(_)
                | RoundsError::NoSuchAccount
                | RoundsError::InvalidPolicy(_)
                | RoundsError::CumulativeDecrease { .. }
                | RoundsError::AmountOverflow { .. }
                | RoundsError::Contention(_)
                | RoundsError::Corrupt(_)
                | RoundsError::Store(_) => {}
            }
        }
        let mut all: Vec<Box<dyn PublicError>> = Vec::new();
        all.extend(
            auth.into_iter()
                .map(|e| Box::new(e) as Box<dyn PublicError>),
        );
        all.extend(ai.into_iter().map(|e| Box::new(e) as Box<dyn PublicError>));
        all.extend(
            claims
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn PublicError>),
        );
        all.extend(
            points
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn PublicError>),
        );
        all.extend(
            rounds
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn PublicError>),
        );
        let compute = vec![
            ComputeError::InvalidTask(RuleError::NoMessages),
            ComputeError::InvalidNode(RuleError::Capacity),
            ComputeError::NoSuchTask,
            ComputeError::NoSuchNode,
            ComputeError::NotOperator,
            ComputeError::NotYourNode,
            ComputeError::Transition(TransitionError::LeaseLost),
            ComputeError::Transition(TransitionError::Finished(TaskStatus::Completed)),
            ComputeError::Transition(TransitionError::NotAllowed {
                from: TaskStatus::Assigned,
                transition: "assign",
            }),
            ComputeError::StakeTooLow {
                have: "0".into(),
                need: "1".into(),
            },
            ComputeError::NoNodeOnline,
            ComputeError::UnknownModel("m".into()),
            ComputeError::TooManyOpenTasks(1),
            ComputeError::StakeUnknown,
            ComputeError::InvalidReview(meritree_core::compute::review::ReviewError::Reason),
            ComputeError::NotFlagged,
            ComputeError::SlashRefused("the stake is smaller".into()),
            ComputeError::Store(store()),
            ComputeError::Corrupt("detail".into()),
        ];
        for err in &compute {
            match err {
                ComputeError::InvalidTask(_)
                | ComputeError::InvalidNode(_)
                | ComputeError::NoSuchTask
                | ComputeError::NoSuchNode
                | ComputeError::NotOperator
                | ComputeError::NotYourNode
                | ComputeError::Transition(_)
                | ComputeError::StakeTooLow { .. }
                | ComputeError::NoNodeOnline
                | ComputeError::UnknownModel(_)
                | ComputeError::TooManyOpenTasks(_)
                | ComputeError::StakeUnknown
                | ComputeError::InvalidReview(_)
                | ComputeError::NotFlagged
                | ComputeError::SlashRefused(_)
                | ComputeError::Store(_)
                | ComputeError::Corrupt(_) => {}
            }
        }
        all.extend(
            compute
                .into_iter()
                .map(|e| Box::new(e) as Box<dyn PublicError>),
        );
        let push = vec![
            PushError::Invalid(meritree_core::push::PushSubscriptionError::Endpoint),
            PushError::KeyOffCurve,
            PushError::ServiceNotAllowed("https://push.example".into()),
            PushError::Taken,
            PushError::SessionRequired,
            PushError::Store(store()),
        ];
        for err in &push {
            match err {
                PushError::Invalid(_)
                | PushError::KeyOffCurve
                | PushError::ServiceNotAllowed(_)
                | PushError::Taken
                | PushError::SessionRequired
                | PushError::Store(_) => {}
            }
        }
        all.extend(
            push.into_iter()
                .map(|e| Box::new(e) as Box<dyn PublicError>),
        );
        all.push(Box::new(store()));
        all
    }

    #[test]
    fn every_service_error_maps_to_a_stable_code_and_a_safe_message() {
        for err in every_service_error() {
            let code = err.code();
            assert!(ErrorCode::ALL.contains(&code), "{err}: {code}");
            assert!((400..600).contains(&code.http_status()), "{err}: {code}");
            let message = err.public_message();
            assert!(!message.trim().is_empty(), "{err}");
            if fault_message(code).is_some() {
                // Faults on our side never show their detail.
                for detail in ["rpc detail", "detail", "writer"] {
                    assert!(!message.contains(detail), "{err} leaked into {message:?}");
                }
            } else {
                assert_eq!(message, err.to_string(), "a refusal says what it is");
            }
            assert_eq!(
                err.retry_after().is_some(),
                code == ErrorCode::RateLimited,
                "{err}: only rate limits say when to retry"
            );
        }
    }

    #[test]
    fn a_providers_rejection_is_reported_without_its_words() {
        let rejected = AiError::Rejected {
            provider: "acme-openai".into(),
            error: ProviderError::BadRequest(
                "context too long, see https://api.acme.example/v1/docs".into(),
            ),
        };
        assert_eq!(rejected.code(), ErrorCode::UpstreamRejected);
        let message = rejected.public_message();
        assert!(
            !message.contains("acme") && !message.contains("https://"),
            "{message}"
        );
    }

    #[test]
    fn faults_hide_their_detail_and_refusals_keep_theirs() {
        let fault = StoreError::WriterStopped;
        assert_eq!(fault.code(), ErrorCode::DatabaseUnavailable);
        assert!(!fault.public_message().contains("writer"));
        let refusal = AuthError::EmailTaken;
        assert_eq!(refusal.public_message(), refusal.to_string());
    }
}

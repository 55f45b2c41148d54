//! What can go wrong talking to an upstream, in terms the router can act on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A failure of one call to one provider.
///
/// The variants are chosen by what the router must do about them, not by
/// which upstream produced them: every adapter maps its own status codes and
/// error bodies onto this one set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    #[error("the provider refused the credentials")]
    Unauthorized,
    #[error("the provider does not know this model")]
    NotFound,
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the provider is overloaded")]
    Overloaded,
    #[error("the provider failed with HTTP {0}")]
    Server(u16),
    /// Not followed: a provider's base URL is configuration, and a
    /// redirect would carry the request, with the key headers HTTP clients
    /// do not strip (`x-api-key`, `x-goog-api-key`), wherever it points.
    #[error(
        "the provider redirected the request (HTTP {status}): set its base_url to where it points"
    )]
    Redirected { status: u16 },
    #[error("the provider rejected the request: {0}")]
    BadRequest(String),
    #[error("malformed response from the provider: {0}")]
    Malformed(String),
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the stream stopped before its end")]
    StreamBroken,
    #[error("transport error: {0}")]
    Transport(String),
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
}

impl ProviderError {
    /// Worth trying the same provider again after a pause: the failure is
    /// about this moment, not about the request or the configuration. Not
    /// a timeout: a provider that hung once likely hangs again, and waiting
    /// out a second timeout on it costs the caller more than the next
    /// candidate does.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Overloaded
                | Self::Server(_)
                | Self::StreamBroken
                | Self::Transport(_)
        )
    }

    /// Worth sending to the next candidate. Only a request the upstream
    /// judged invalid stops the search: another provider would judge it the
    /// same, and each attempt costs the caller time.
    pub fn allows_failover(&self) -> bool {
        !matches!(self, Self::BadRequest(_))
    }

    /// Counts against the provider's health. A 400 or a 404 is a healthy
    /// upstream answering a request it cannot serve; counting those would let
    /// one caller's typo open the breaker for everyone.
    pub fn is_provider_fault(&self) -> bool {
        !matches!(
            self,
            Self::BadRequest(_) | Self::NotFound | Self::Unsupported(_)
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_errors_are_never_retried() {
        for e in [
            ProviderError::BadRequest("x".into()),
            ProviderError::Unauthorized,
            ProviderError::NotFound,
            ProviderError::Malformed("x".into()),
        ] {
            assert!(!e.is_retryable(), "{e:?}");
        }
        assert!(!ProviderError::BadRequest("x".into()).allows_failover());
        assert!(ProviderError::Unauthorized.allows_failover());
    }

    #[test]
    fn serialises_with_a_kind_tag() {
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "rate_limited");
        assert_eq!(serde_json::from_value::<ProviderError>(v).unwrap(), e);
    }
}

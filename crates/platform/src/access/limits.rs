//! Request limits, applied by the services themselves so that both doors
//! count alike: per client IP on the unauthenticated entry points
//! (registration, sign-in, SIWE nonces) and per account on everything
//! authenticated. Counted in process, or in Redis so instances share one
//! count.
//!
//! If the counter store fails (Redis away, the in-process table full), a
//! limit that guards credentials — sign-in attempts, wrong secrets, emails
//! sent on request — refuses (fail closed: the limit is the defence against
//! guessing and flooding); every other limit lets the request through and
//! logs the failure (fail open: an outage of the counter must not take the
//! platform down with it).

use meritree_core::rate_limit::Quota;

use crate::accounts::AuthError;
use crate::Platform;

/// The quotas, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitPolicy {
    pub enabled: bool,
    pub register_per_ip_per_hour: u32,
    pub sign_in_per_ip_per_minute: u32,
    pub nonce_per_ip_per_minute: u32,
    pub api_per_account_per_minute: u32,
    pub emails_per_hour: u32,
    pub secret_failures_per_account_per_hour: u32,
    pub images_per_account_per_hour: u32,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            register_per_ip_per_hour: 20,
            sign_in_per_ip_per_minute: 30,
            nonce_per_ip_per_minute: 30,
            api_per_account_per_minute: 600,
            emails_per_hour: 5,
            secret_failures_per_account_per_hour: 10,
            images_per_account_per_hour: 60,
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Account registrations per client IP.
    Register,
    /// Sign-in and re-authentication attempts (password or wallet) per
    /// client IP.
    SignIn,
    /// SIWE nonces per client IP.
    Nonce,
    /// Authenticated requests per account.
    Api,
    /// Emails sent on request (password reset, verification again) per
    /// client IP, per address and per account.
    Email,
    /// Wrong passwords and two-factor codes checked for one account outside
    /// the per-email sign-in limit: second factors at sign-in,
    /// re-authentication, password changes. Even a right guess waits while
    /// it is exhausted: knowing the password must not make the code
    /// guessable.
    SecretFailure,
    /// Image uploads per account: each is decoded and re-encoded.
    ImageUpload,
}

/// How long a caller refused because the counter is away should wait.
pub(crate) const LIMITER_AWAY_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl Rule {
    /// Whether a request is refused when the counter cannot decide.
    fn fails_closed(self) -> bool {
        matches!(self, Rule::SignIn | Rule::SecretFailure | Rule::Email)
    }
}

impl LimitPolicy {
    fn quota(&self, rule: Rule) -> Quota {
        match rule {
            Rule::Register => Quota::per_hour(self.register_per_ip_per_hour),
            Rule::SignIn => Quota::per_minute(self.sign_in_per_ip_per_minute),
            Rule::Nonce => Quota::per_minute(self.nonce_per_ip_per_minute),
            Rule::Api => Quota::per_minute(self.api_per_account_per_minute),
            Rule::Email => Quota::per_hour(self.emails_per_hour),
            Rule::SecretFailure => Quota::per_hour(self.secret_failures_per_account_per_hour),
            Rule::ImageUpload => Quota::per_hour(self.images_per_account_per_hour),
        }
    }
}

impl Platform {
    /// Counts one request under `rule` for `subject` (an IP or an account
    /// id); `RateLimited` with the wait when over the limit.
    pub async fn limit(&self, rule: Rule, subject: &str) -> Result<(), AuthError> {
        self.decide(rule, subject, Counting::Count).await
    }

    /// Refuses while `subject`'s failures under `rule` are over the quota;
    /// counts nothing (see [`Platform::count_failure`]).
    pub(crate) async fn refuse_while_failing(
        &self,
        rule: Rule,
        subject: &str,
    ) -> Result<(), AuthError> {
        self.decide(rule, subject, Counting::Peek).await
    }

    /// Counts one failure of `subject` under `rule`.
    pub(crate) async fn count_failure(&self, rule: Rule, subject: &str) {
        // Over the quota is what the next attempt's refusal reports.
        let _ = self.limit(rule, subject).await;
    }

    async fn decide(&self, rule: Rule, subject: &str, counting: Counting) -> Result<(), AuthError> {
        let policy = &self.inner.limits;
        if !policy.enabled {
            return Ok(());
        }
        let key = format!("{rule:?}:{subject}");
        let quota = policy.quota(rule);
        let decided = match counting {
            Counting::Count => self.inner.limiter.check(&key, quota).await,
            Counting::Peek => self.inner.limiter.peek(&key, quota).await,
        };
        match decided {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => {
                tracing::info!(rule = ?rule, "rate limited");
                Err(AuthError::RateLimited {
                    retry_after: decision.retry_after(),
                })
            }
            Err(err) if rule.fails_closed() => {
                tracing::error!(error = %err, rule = ?rule, "rate limiter unavailable; request refused");
                Err(AuthError::RateLimited {
                    retry_after: LIMITER_AWAY_RETRY,
                })
            }
            Err(err) => {
                tracing::error!(error = %err, rule = ?rule, "rate limiter unavailable; request allowed");
                Ok(())
            }
        }
    }
}

/// Whether a decision counts the request or only looks.
#[derive(Debug, Clone, Copy)]
enum Counting {
    Count,
    Peek,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::MemoryLimiter;
    use crate::PlatformOptions;
    use meritree_store::testing::TestDatabase;
    use meritree_store::{Backend, Database, PoolOptions};

    #[tokio::test]
    async fn limits_that_guard_credentials_refuse_when_the_counter_cannot_decide() {
        let test_db = TestDatabase::fresh(Backend::Sqlite).await;
        let db = Database::connect(&test_db.target, PoolOptions::default())
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let platform = Platform::start(
            db,
            PlatformOptions {
                limiter: MemoryLimiter::with_max_keys(1).into(),
                ..PlatformOptions::default()
            },
        )
        .await
        .unwrap();
        platform.limit(Rule::Api, "account-1").await.unwrap();
        // The table is full: no new key can be counted.
        for guard in [Rule::SignIn, Rule::SecretFailure, Rule::Email] {
            assert!(
                matches!(
                    platform.limit(guard, "203.0.113.7").await,
                    Err(AuthError::RateLimited { retry_after }) if retry_after == LIMITER_AWAY_RETRY
                ),
                "{guard:?} fails closed"
            );
        }
        for open in [Rule::Api, Rule::Register, Rule::Nonce, Rule::ImageUpload] {
            assert!(
                platform.limit(open, "account-2").await.is_ok(),
                "{open:?} fails open"
            );
        }
    }
}

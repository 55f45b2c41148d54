//! Request limits, applied by the services themselves so that both doors
//! count alike: per client IP on the unauthenticated entry points
//! (registration, sign-in, SIWE nonces) and per account on everything
//! authenticated. Counted in process, or in Redis so instances share one
//! count.
//!
//! If the counter store fails, the request is let through and the failure
//! logged: a Redis outage must not take sign-in down with it.

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

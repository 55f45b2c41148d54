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
    pub password_reset_per_hour: u32,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            register_per_ip_per_hour: 20,
            sign_in_per_ip_per_minute: 30,
            nonce_per_ip_per_minute: 30,
            api_per_account_per_minute: 600,
            password_reset_per_hour: 5,
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
    /// Password-reset emails per client IP and per address.
    PasswordReset,
}

impl LimitPolicy {
    fn quota(&self, rule: Rule) -> Quota {
        match rule {
            Rule::Register => Quota::per_hour(self.register_per_ip_per_hour),
            Rule::SignIn => Quota::per_minute(self.sign_in_per_ip_per_minute),
            Rule::Nonce => Quota::per_minute(self.nonce_per_ip_per_minute),
            Rule::Api => Quota::per_minute(self.api_per_account_per_minute),
            Rule::PasswordReset => Quota::per_hour(self.password_reset_per_hour),
        }
    }
}

impl Platform {
    /// Counts one request under `rule` for `subject` (an IP or an account
    /// id); `RateLimited` with the wait when over the limit.
    pub async fn limit(&self, rule: Rule, subject: &str) -> Result<(), AuthError> {
        let policy = &self.inner.limits;
        if !policy.enabled {
            return Ok(());
        }
        let key = format!("{rule:?}:{subject}");
        match self.inner.limiter.check(&key, policy.quota(rule)).await {
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

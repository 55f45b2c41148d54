//! Request limits: per client IP on the unauthenticated entry points
//! (registration, sign-in, SIWE nonces) and per account on everything
//! authenticated. Counted in process by default, in Redis when
//! `cache.redis_url` is set, so several instances share one count.
//!
//! If the counter store fails, the request is let through and the failure
//! logged: a Redis outage must not take sign-in down with it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use meritree_core::rate_limit::Quota;
use meritree_core::ErrorCode;
use meritree_platform::rate_limit::RateLimiter;

use crate::configuration::RateLimitSettings;
use crate::error::ApiError;

/// The limiter and the quotas, as the handlers use them.
#[derive(Clone)]
pub struct Limits {
    limiter: RateLimiter,
    settings: RateLimitSettings,
    /// How many reverse proxies in front of us append to X-Forwarded-For.
    trusted_proxy_hops: usize,
}

/// What a limit counts.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Account registrations per client IP.
    Register,
    /// Sign-in attempts (password or wallet) per client IP.
    SignIn,
    /// SIWE nonces per client IP.
    Nonce,
    /// Authenticated API requests per account.
    Api,
}

impl Limits {
    pub fn new(
        limiter: RateLimiter,
        settings: RateLimitSettings,
        trusted_proxy_hops: usize,
    ) -> Self {
        Self {
            limiter,
            settings,
            trusted_proxy_hops,
        }
    }

    fn quota(&self, rule: Rule) -> Quota {
        let s = &self.settings;
        match rule {
            Rule::Register => Quota::per_hour(s.register_per_ip_per_hour),
            Rule::SignIn => Quota::per_minute(s.sign_in_per_ip_per_minute),
            Rule::Nonce => Quota::per_minute(s.nonce_per_ip_per_minute),
            Rule::Api => Quota::per_minute(s.api_per_account_per_minute),
        }
    }

    /// Counts one request under `rule` for `subject`; 429 `rate_limited` with
    /// `Retry-After` when over the limit.
    pub async fn check(&self, rule: Rule, subject: &str) -> Result<(), ApiError> {
        if !self.settings.enabled {
            return Ok(());
        }
        let key = format!("{rule:?}:{subject}");
        match self.limiter.check(&key, self.quota(rule)).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => {
                tracing::info!(rule = ?rule, "rate limited");
                Err(
                    ApiError::new(ErrorCode::RateLimited, "too many requests; try again later")
                        .with_retry_after(decision.retry_after()),
                )
            }
            Err(err) => {
                tracing::error!(error = %err, rule = ?rule, "rate limiter unavailable; request allowed");
                Ok(())
            }
        }
    }

    /// The client's address: the peer, or with proxies in front the address
    /// the outermost trusted proxy saw (`X-Forwarded-For`, counted from the
    /// right, which a client cannot forge).
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        if self.trusted_proxy_hops == 0 {
            return peer.ip();
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .nth(self.trusted_proxy_hops - 1)
            .and_then(|ip| ip.parse().ok())
            .unwrap_or(peer.ip())
    }
}

/// The per-IP rule for a request, by route: the JSON API and the pages'
/// server functions that do the same thing share a rule.
fn rule_for(method: &Method, path: &str) -> Option<Rule> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/api/v1/auth/register" | "/api/auth/register" => Some(Rule::Register),
        "/api/v1/auth/login"
        | "/api/v1/auth/siwe/login"
        | "/api/auth/sign_in"
        | "/api/wallet/sign_in" => Some(Rule::SignIn),
        "/api/v1/auth/siwe/nonce" | "/api/wallet/challenge" => Some(Rule::Nonce),
        _ => None,
    }
}

/// Middleware: per-IP limits on the unauthenticated entry points.
pub async fn per_ip(
    State(limits): State<Limits>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(rule) = rule_for(request.method(), request.uri().path()) {
        let ip = limits.client_ip(request.headers(), peer);
        if let Err(refused) = limits.check(rule, &ip.to_string()).await {
            return refused.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn limits(hops: usize) -> Limits {
        Limits::new(RateLimiter::in_memory(), RateLimitSettings::default(), hops)
    }

    #[test]
    fn client_ip_trusts_only_configured_proxies() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
        );
        assert_eq!(limits(0).client_ip(&headers, peer), peer.ip());
        assert_eq!(
            limits(1).client_ip(&headers, peer).to_string(),
            "203.0.113.9"
        );
        assert_eq!(limits(2).client_ip(&headers, peer).to_string(), "6.6.6.6");
        assert_eq!(
            limits(3).client_ip(&headers, peer),
            peer.ip(),
            "too few hops: the peer"
        );
    }
}

//! Cross-site request forgery guard for cookie-authenticated writes.
//!
//! Browsers attach cookies to cross-site requests, so a write that carries a
//! session cookie must prove it comes from our own pages. Browsers send
//! `Origin` on every cross-origin POST (and on same-origin fetches), so:
//! - a write whose `Origin` is another site is refused, cookies or not
//!   (that also stops login CSRF);
//! - a write with session cookies and no `Origin` must have a same-origin
//!   `Referer`;
//! - requests with an `Authorization` header are not cookie-authenticated and
//!   pass, as do reads.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, REFERER};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use meritree_core::ErrorCode;

use crate::error::ApiError;
use meritree_platform::sessions::cookies;

/// Which origin may write with cookies.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// `scheme://host[:port]` from `server.public_url`; `None` trusts the
    /// request's own `Host`.
    public_origin: Option<String>,
}

impl OriginPolicy {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_origin: origin_of(public_url),
        }
    }

    /// `scheme://host[:port]` of the configured public URL, if any.
    pub fn public_origin(&self) -> Option<&str> {
        self.public_origin.as_deref()
    }

    fn allows(&self, origin: &str, headers: &HeaderMap) -> bool {
        match &self.public_origin {
            Some(expected) => origin == expected,
            None => {
                let host = headers.get(HOST).and_then(|h| h.to_str().ok());
                let authority = origin.split_once("://").map(|(_, a)| a);
                matches!((host, authority), (Some(h), Some(a)) if h.eq_ignore_ascii_case(a))
            }
        }
    }
}

pub async fn guard(State(policy): State<OriginPolicy>, request: Request, next: Next) -> Response {
    if is_forged(&policy, request.method(), request.headers()) {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), "cross-origin write refused");
        return ApiError::new(
            ErrorCode::CsrfRejected,
            "this request did not come from this site",
        )
        .into_response();
    }
    next.run(request).await
}

fn is_forged(policy: &OriginPolicy, method: &Method, headers: &HeaderMap) -> bool {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || headers.contains_key(AUTHORIZATION)
    {
        return false;
    }
    let header_origin = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_of)
    };
    match header_origin(ORIGIN) {
        Some(origin) => !policy.allows(&origin, headers),
        None if headers.contains_key(ORIGIN) => true, // "null" or garbage
        None => {
            let has_session = cookies::get(headers, cookies::ACCESS).is_some()
                || cookies::get(headers, cookies::REFRESH).is_some();
            has_session
                && !header_origin(REFERER).is_some_and(|referer| policy.allows(&referer, headers))
        }
    }
}

/// `scheme://authority` of a URL, lower-cased; `None` if it is not one.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid_scheme = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    (valid_scheme && !authority.is_empty())
        .then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const SESSION: (&str, &str) = ("cookie", "mt_access=x");
    const HOST_HDR: (&str, &str) = ("host", "app.test:3000");

    #[test]
    fn same_origin_writes_pass() {
        let policy = OriginPolicy::new("");
        let ok = headers(&[SESSION, HOST_HDR, ("origin", "http://app.test:3000")]);
        assert!(!is_forged(&policy, &Method::POST, &ok));
        let referer_only = headers(&[
            SESSION,
            HOST_HDR,
            ("referer", "http://app.test:3000/account"),
        ]);
        assert!(!is_forged(&policy, &Method::POST, &referer_only));
    }

    #[test]
    fn cross_origin_writes_are_refused() {
        let policy = OriginPolicy::new("");
        for pairs in [
            &[SESSION, HOST_HDR, ("origin", "https://evil.test")][..],
            &[SESSION, HOST_HDR, ("origin", "null")],
            &[SESSION, HOST_HDR],
            &[SESSION, HOST_HDR, ("referer", "https://evil.test/")],
            // Login CSRF: no cookies yet, but a foreign Origin.
            &[HOST_HDR, ("origin", "https://evil.test")],
        ] {
            assert!(
                is_forged(&policy, &Method::POST, &headers(pairs)),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn reads_bearer_requests_and_cookieless_programs_pass() {
        let policy = OriginPolicy::new("");
        let foreign = headers(&[SESSION, HOST_HDR, ("origin", "https://evil.test")]);
        assert!(!is_forged(&policy, &Method::GET, &foreign));
        let bearer = headers(&[
            HOST_HDR,
            ("authorization", "Bearer k"),
            ("origin", "https://evil.test"),
        ]);
        assert!(!is_forged(&policy, &Method::POST, &bearer));
        assert!(!is_forged(&policy, &Method::POST, &headers(&[HOST_HDR])));
    }

    #[test]
    fn a_public_url_pins_the_origin() {
        let policy = OriginPolicy::new("https://Meritree.example/app");
        let spoofed_host = headers(&[
            SESSION,
            ("host", "evil.test"),
            ("origin", "https://evil.test"),
        ]);
        assert!(is_forged(&policy, &Method::POST, &spoofed_host));
        let ok = headers(&[
            SESSION,
            ("host", "internal:3000"),
            ("origin", "https://meritree.example"),
        ]);
        assert!(!is_forged(&policy, &Method::POST, &ok));
    }
}

//! Cross-site request forgery guard for cookie-authenticated writes.
//!
//! Browsers attach cookies to cross-site requests, so a write that carries a
//! session cookie must prove it comes from our own pages. Browsers send
//! `Origin` on every cross-origin POST (and on same-origin fetches), so:
//! - a write whose `Origin` is not one of this site's configured origins
//!   (scheme, host and port compared) is refused, cookies or not (that also
//!   stops login CSRF);
//! - a write with session cookies and no `Origin` must have a same-origin
//!   `Referer`;
//! - a request with a well-formed `Authorization: Bearer` credential is not
//!   cookie-authenticated (the front door then ignores cookies) and passes,
//!   as do reads. Any other `Authorization` header exempts nothing.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, ORIGIN, REFERER};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use meritree_core::ErrorCode;
use meritree_platform::access::request::bearer_token;
use meritree_platform::access::Site;
use meritree_platform::sessions::cookies;

use crate::error::ApiError;

pub async fn guard(State(site): State<Site>, request: Request, next: Next) -> Response {
    if is_forged(&site, request.method(), request.headers()) {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), "cross-origin write refused");
        return ApiError::new(
            ErrorCode::CsrfRejected,
            "this request did not come from this site",
        )
        .into_response();
    }
    next.run(request).await
}

fn is_forged(site: &Site, method: &Method, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .is_some();
    if bearer
        || matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
    {
        return false;
    }
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match header(ORIGIN) {
        Some(origin) => !site.allows(origin),
        None if headers.contains_key(ORIGIN) => true, // not text
        None => {
            let has_session = cookies::get(headers, cookies::ACCESS).is_some()
                || cookies::get(headers, cookies::REFRESH).is_some();
            has_session && !header(REFERER).is_some_and(|referer| site.allows(referer))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use meritree_platform::access::Origin;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn site() -> Site {
        Site::new(Origin::of_url("http://app.test:3000").unwrap(), [])
    }

    const SESSION: (&str, &str) = ("cookie", "mt_access=x");
    const HOST_HDR: (&str, &str) = ("host", "app.test:3000");

    #[test]
    fn same_origin_writes_pass() {
        let ok = headers(&[SESSION, HOST_HDR, ("origin", "http://app.test:3000")]);
        assert!(!is_forged(&site(), &Method::POST, &ok));
        let referer_only = headers(&[
            SESSION,
            HOST_HDR,
            ("referer", "http://app.test:3000/account"),
        ]);
        assert!(!is_forged(&site(), &Method::POST, &referer_only));
    }

    #[test]
    fn cross_origin_writes_are_refused() {
        for pairs in [
            &[SESSION, HOST_HDR, ("origin", "https://evil.test")][..],
            &[SESSION, HOST_HDR, ("origin", "null")],
            &[SESSION, HOST_HDR],
            &[SESSION, HOST_HDR, ("referer", "https://evil.test/")],
            // Same host and port, another scheme.
            &[SESSION, HOST_HDR, ("origin", "https://app.test:3000")],
            // Login CSRF: no cookies yet, but a foreign Origin.
            &[HOST_HDR, ("origin", "https://evil.test")],
            // The Host header names nothing: a spoofed one does not help.
            &[
                SESSION,
                ("host", "evil.test"),
                ("origin", "http://evil.test"),
            ],
            // Only a well-formed bearer credential exempts a request.
            &[
                SESSION,
                ("authorization", "Basic dXNlcjpwYXNz"),
                ("origin", "https://evil.test"),
            ],
            &[
                SESSION,
                ("authorization", "Bearer"),
                ("origin", "https://evil.test"),
            ],
        ] {
            assert!(
                is_forged(&site(), &Method::POST, &headers(pairs)),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn reads_bearer_requests_and_cookieless_programs_pass() {
        let foreign = headers(&[SESSION, HOST_HDR, ("origin", "https://evil.test")]);
        assert!(!is_forged(&site(), &Method::GET, &foreign));
        let bearer = headers(&[
            HOST_HDR,
            ("authorization", "Bearer mt_k"),
            ("origin", "https://evil.test"),
        ]);
        assert!(!is_forged(&site(), &Method::POST, &bearer));
        assert!(!is_forged(&site(), &Method::POST, &headers(&[HOST_HDR])));
    }
}

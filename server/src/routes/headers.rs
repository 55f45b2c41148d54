//! Headers every response carries: what browsers may do with it (its
//! Content-Security-Policy unless a page set its own, no MIME sniffing,
//! the referrer only as an origin across sites, HTTPS only once the site
//! is served over it), and `no-store` on anything answered to a caller
//! with credentials, so no cache keeps one member's page or data.

use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use meritree_platform::access::Site;
use meritree_platform::sessions::cookies;

/// The service worker's script, one of the site's files.
const SERVICE_WORKER: &str = "/sw.js";

pub async fn set(State(site): State<Site>, request: Request, next: Next) -> Response {
    let personal = carries_credentials(request.headers());
    let service_worker = request.uri().path() == SERVICE_WORKER;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    // For browsers that predate `frame-ancestors`.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if service_worker {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(app::csp::SERVICE_WORKER),
        );
        // Each release is a new worker; browsers must see it at once.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(app::csp::NOT_A_PAGE));
    if site.primary().is_https() {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    // Unless the handler chose (the client's files are the same for everyone).
    if personal && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    response
}

/// A session cookie or an API key: the answer may be this caller's own.
fn carries_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION)
        || cookies::get(headers, cookies::ACCESS).is_some()
        || cookies::get(headers, cookies::REFRESH).is_some()
}

//! `GET /metrics` for a Prometheus scraper, behind a bearer token of its
//! own (`metrics.token`), and the middleware that counts every request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use meritree_platform::metrics::{HttpLabels, CONTENT_TYPE};
use meritree_platform::Platform;

use crate::routes::AppState;

/// The scraper's token; `None`: metrics are not served.
#[derive(Clone, Default)]
pub struct MetricsToken(pub Option<Arc<str>>);

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// 404 when no token is configured (nothing hints that metrics exist),
/// 401 without the right one, else the OpenMetrics text.
async fn metrics(
    State(platform): State<Platform>,
    State(MetricsToken(token)): State<MetricsToken>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(offered.as_bytes(), token.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        platform.render_metrics().await,
    )
        .into_response()
}

/// Compares without stopping at the first difference, so response times
/// do not tell a guesser how much of the token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts each request under its route's pattern, with its status and the
/// time to the response's head.
pub async fn track(State(platform): State<Platform>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    platform.metrics().http_request(
        HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        },
        started.elapsed(),
    );
    response
}

/// The request's method as a label: the methods routes answer, else
/// `other`, so a client inventing methods cannot add series without end.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::{constant_time_eq, method_label};

    #[test]
    fn invented_methods_share_one_label() {
        let invented = axum::http::Method::from_bytes(b"FOO1").unwrap();
        assert_eq!(method_label(&invented), "other");
        assert_eq!(method_label(&axum::http::Method::GET), "GET");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret-longer"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}

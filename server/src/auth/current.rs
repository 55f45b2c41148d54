use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use meritree_platform::access::RequestContext;
use meritree_platform::Platform;

/// What the platform's front door needs from the request (credential,
/// client address, user agent, host). Handlers pass it to
/// [`Platform::authorize`] with the operation's `AuthCheck`, or to the
/// sign-in services, which apply their own per-IP limits.
#[derive(Debug, Clone)]
pub struct Caller(pub RequestContext);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Platform: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        Ok(Caller(
            Platform::from_ref(state).request_context(&parts.headers, peer),
        ))
    }
}

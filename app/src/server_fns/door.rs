//! The server functions' side of the platform's front door: the same
//! request reading, authorization and session cookies as the JSON API, so
//! a server function is decode → one service call → encode.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::request::Parts;
use http::HeaderMap;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use meritree_core::accounts::SessionInfo;
use meritree_core::ErrorCode;
use meritree_platform::access::{AuthCheck, RequestContext};
use meritree_platform::principal::Principal;
use meritree_platform::sessions::SignedIn;
use meritree_platform::Platform;

use super::error::AppError;

pub fn platform() -> Result<Platform, AppError> {
    use_context::<Platform>().ok_or_else(|| {
        AppError::new(
            ErrorCode::Internal,
            "the platform is not in the request context",
        )
    })
}

/// The request as the front door reads it.
pub fn request(platform: &Platform) -> RequestContext {
    match use_context::<Parts>() {
        Some(parts) => {
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr);
            platform.request_context(&parts.headers, peer)
        }
        None => RequestContext::default(),
    }
}

/// The platform and the caller, once `check` passes.
pub async fn authorize(check: AuthCheck) -> Result<(Platform, Principal), AppError> {
    let platform = platform()?;
    let principal = platform.authorize(&request(&platform), check).await?;
    Ok((platform, principal))
}

fn set_headers(headers: HeaderMap) {
    if let Some(response) = use_context::<ResponseOptions>() {
        for (name, value) in headers.iter() {
            response.append_header(name.clone(), value.clone());
        }
    }
}

/// Sets the session cookies of a sign-in.
pub fn start_session(platform: &Platform, signed_in: SignedIn) -> SessionInfo {
    set_headers(
        platform
            .sessions()
            .cookie_policy()
            .session_headers(&signed_in.tokens),
    );
    signed_in.info()
}

/// Clears the session cookies.
pub fn clear_session(platform: &Platform) {
    set_headers(platform.sessions().cookie_policy().cleared_headers());
}

/// The status an error answers with: its code's, as on the JSON API.
pub fn set_error_status(code: ErrorCode) {
    if let Some(response) = use_context::<ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(code.http_status()) {
            response.set_status(status);
        }
    }
}

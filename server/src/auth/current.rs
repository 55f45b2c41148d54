use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use meritree_platform::accounts::AuthError;
use meritree_platform::principal::Principal;
use meritree_platform::sessions::cookies;
use meritree_platform::Platform;

use crate::error::ApiError;
use crate::rate_limit::{Limits, Rule};

/// The account making the request: `Authorization: Bearer <API key or
/// access token>`, else the `mt_access` cookie. Rejects with 401
/// `unauthenticated`, or `token_expired` (the client should refresh and
/// retry).
#[derive(Debug, Clone)]
pub struct CurrentAccount(pub Principal);

impl<S> FromRequestParts<S> for CurrentAccount
where
    S: Send + Sync,
    Platform: FromRef<S>,
    Limits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let token = bearer
            .or_else(|| cookies::get(&parts.headers, cookies::ACCESS))
            .ok_or(AuthError::Unauthenticated)?;
        let principal = Platform::from_ref(state)
            .authenticate_bearer(token.trim())
            .await?;
        Limits::from_ref(state)
            .check(Rule::Api, &principal.account_id)
            .await?;
        Ok(CurrentAccount(principal))
    }
}

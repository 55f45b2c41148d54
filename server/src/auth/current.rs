use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use meritree_platform::sessions::AccessClaims;
use meritree_platform::Platform;

use crate::error::ApiError;
use meritree_platform::sessions::cookies;

/// The signed-in account making the request, from `Authorization: Bearer`
/// or the `mt_access` cookie. Rejects with 401 `unauthenticated` or
/// `token_expired` (the client should refresh and retry).
#[derive(Debug, Clone)]
pub struct CurrentAccount(pub AccessClaims);

impl<S> FromRequestParts<S> for CurrentAccount
where
    S: Send + Sync,
    Platform: FromRef<S>,
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
            .ok_or_else(|| {
                ApiError::from(meritree_platform::accounts::AuthError::Unauthenticated)
            })?;
        let claims = Platform::from_ref(state).authenticate(token.trim())?;
        Ok(CurrentAccount(claims))
    }
}

//! Single-use links sent by email (verify an address, reset a password),
//! stored as hashes.

use crate::{with_pool, Database, StoreError};

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

pub struct NewEmailToken<'a> {
    pub token_hash: &'a str,
    pub account_id: &'a str,
    pub purpose: Purpose,
    pub email: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Stores a token and drops the account's earlier unused ones of the same
/// purpose: only the newest link works.
pub async fn issue(db: &Database, token: NewEmailToken<'_>) -> Result<(), StoreError> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "DELETE FROM email_tokens WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL",
        )
        .bind(token.account_id)
        .bind(token.purpose.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO email_tokens \
             (token_hash, account_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.token_hash)
        .bind(token.account_id)
        .bind(token.purpose.as_str())
        .bind(token.email)
        .bind(token.now)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    })
}

/// The live token's `(account_id, email)`, without using it up.
pub async fn find_live(
    db: &Database,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT account_id, email FROM email_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await)?)
}

/// Uses the token: `(account_id, email)` for the first use of a live token
/// of this purpose; concurrent uses see exactly one.
pub async fn consume(
    db: &Database,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "UPDATE email_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING account_id, email",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await)?)
}

/// Expires every token at `now`, for tests of expired links.
#[cfg(feature = "testing")]
pub async fn expire_all(db: &Database, now: i64) -> Result<u64, StoreError> {
    Ok(crate::execute!(
        db,
        "UPDATE email_tokens SET expires_at = $1",
        now
    )?)
}

//! Refresh tokens, stored as hashes, grouped in families (one per sign-in).

use crate::{execute, with_pool, Database, StoreError};

pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub account_id: &'a str,
    pub user_agent: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now used and its successor stored.
    Rotated {
        account_id: String,
        family_id: String,
    },
    /// The token had been used before: someone holds a copy. Its family is
    /// now revoked.
    Reused {
        account_id: String,
        family_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

pub async fn insert(db: &Database, token: NewRefreshToken<'_>) -> Result<(), StoreError> {
    execute!(
        db,
        "INSERT INTO refresh_tokens \
             (token_hash, family_id, account_id, user_agent, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        token.token_hash,
        token.family_id,
        token.account_id,
        token.user_agent,
        token.now,
        token.expires_at
    )
    .map(drop)?;
    Ok(())
}

/// Uses the token with `presented_hash` and stores `successor_hash` in its
/// family, in one transaction: of two concurrent uses only one rotates, and
/// the other is treated as reuse.
pub async fn rotate(
    db: &Database,
    presented_hash: &str,
    successor_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<Rotation, StoreError> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let used: Option<(String, String, Option<String>)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             RETURNING account_id, family_id, user_agent",
        )
        .bind(presented_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;

        if let Some((account_id, family_id, user_agent)) = used {
            sqlx::query(
                "INSERT INTO refresh_tokens \
                 (token_hash, family_id, account_id, user_agent, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(successor_hash)
            .bind(&family_id)
            .bind(&account_id)
            .bind(user_agent)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Rotation::Rotated { account_id, family_id });
        }

        let previous: Option<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT account_id, family_id, used_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match previous {
            Some((account_id, family_id, Some(_used_at))) => {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 \
                     WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(&family_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                Rotation::Reused { account_id, family_id }
            }
            _ => Rotation::Invalid,
        };
        tx.commit().await?;
        Ok(outcome)
    })
}

/// Ends one sign-in (all tokens of the family). Returns how many were live.
pub async fn revoke_family(db: &Database, family_id: &str, now: i64) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        now
    )?)
}

/// Ends every sign-in of an account except `keep_family` (if any).
pub async fn revoke_account(
    db: &Database,
    account_id: &str,
    keep_family: Option<&str>,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE account_id = $1 AND revoked_at IS NULL AND family_id <> COALESCE($2, '')",
        account_id,
        keep_family,
        now
    )?)
}

/// Ends one sign-in of the account. Returns how many tokens were live: 0 when
/// the family is not this account's or has already ended.
pub async fn revoke_account_family(
    db: &Database,
    account_id: &str,
    family_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE account_id = $1 AND family_id = $2 AND revoked_at IS NULL",
        account_id,
        family_id,
        now
    )?)
}

/// A sign-in that can still be refreshed: its family's one live token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveSession {
    pub family_id: String,
    pub started_at: i64,
    /// When the session last refreshed (or started).
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
}

/// The account's live sessions, most recently active first.
pub async fn list_live(
    db: &Database,
    account_id: &str,
    now: i64,
) -> Result<Vec<LiveSession>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT t.family_id, \
                    (SELECT MIN(f.created_at) FROM refresh_tokens f WHERE f.family_id = t.family_id) \
                        AS started_at, \
                    t.created_at AS last_seen_at, t.user_agent \
             FROM refresh_tokens t \
             WHERE t.account_id = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL \
               AND t.expires_at > $2 \
             ORDER BY t.created_at DESC, t.family_id",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(pool)
        .await)?)
}

/// The family a refresh token belongs to, if the token exists.
pub async fn family_of(db: &Database, token_hash: &str) -> Result<Option<String>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as::<_, (String,)>(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?
    .map(|(family,)| family))
}

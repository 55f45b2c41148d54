//! Accounts: who can sign in, and how.

use crate::error::duplicate_on;
use crate::{with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRecord {
    pub id: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub wallet_address: Option<String>,
    pub role: String,
    pub created_at: i64,
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub wallet_address: Option<&'a str>,
    pub role: &'a str,
    pub now: i64,
}

const COLUMNS: &str = "id, email, password_hash, wallet_address, role, created_at";

/// Inserts an account; `StoreError::Duplicate("email" | "wallet_address")`
/// when another account holds either.
pub async fn insert(db: &Database, new: NewAccount<'_>) -> Result<AccountRecord, StoreError> {
    let sql = format!(
        "INSERT INTO accounts (id, email, password_hash, wallet_address, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    );
    with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(new.id)
        .bind(new.email)
        .bind(new.password_hash)
        .bind(new.wallet_address)
        .bind(new.role)
        .bind(new.now)
        .fetch_one(pool)
        .await)
    .map_err(|e| duplicate_on(e, &["email", "wallet_address"]))
}

pub async fn find_by_email(
    db: &Database,
    email: &str,
) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE email = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(email).fetch_optional(pool).await)?)
}

pub async fn find_by_id(db: &Database, id: &str) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
}

/// Replaces the password hash; false when the account does not exist.
pub async fn set_password_hash(
    db: &Database,
    id: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = with_pool!(db, pool => sqlx::query(
            "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

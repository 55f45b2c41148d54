//! Accounts: who can sign in, and how.

use crate::error::duplicate_on;
use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRecord {
    pub id: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub wallet_address: Option<String>,
    pub role: String,
    pub created_at: i64,
    pub totp_enabled_at: Option<i64>,
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub wallet_address: Option<&'a str>,
    pub role: &'a str,
    pub now: i64,
}

const COLUMNS: &str = "id, email, password_hash, wallet_address, role, created_at, totp_enabled_at";

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

pub async fn find_by_wallet(
    db: &Database,
    wallet: &str,
) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE wallet_address = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(wallet).fetch_optional(pool).await)?)
}

/// What binding a wallet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Bound,
    /// The account already has a wallet (or does not exist).
    AccountHasWallet,
}

/// Binds `wallet` to an account that has none.
/// `StoreError::Duplicate("wallet_address")` when another account holds it.
pub async fn bind_wallet(
    db: &Database,
    id: &str,
    wallet: &str,
    now: i64,
) -> Result<Binding, StoreError> {
    let updated = execute!(db, "UPDATE accounts SET wallet_address = $2, updated_at = $3              WHERE id = $1 AND wallet_address IS NULL", id, wallet, now)
    .map_err(|e| duplicate_on(e, &["wallet_address"]))?;
    Ok(if updated == 1 {
        Binding::Bound
    } else {
        Binding::AccountHasWallet
    })
}

/// Removes the wallet from an account that can still sign in with a
/// password. False when it has no wallet or no password.
pub async fn unbind_wallet(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(db, "UPDATE accounts SET wallet_address = NULL, updated_at = $2              WHERE id = $1 AND wallet_address IS NOT NULL                AND email IS NOT NULL AND password_hash IS NOT NULL", id, now)?;
    Ok(updated == 1)
}

/// Gives a wallet-first account an email and password. False when the
/// account already has an email. `StoreError::Duplicate("email")` when
/// another account uses it.
pub async fn add_email_login(
    db: &Database,
    id: &str,
    email: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(db, "UPDATE accounts SET email = $2, password_hash = $3, updated_at = $4              WHERE id = $1 AND email IS NULL", id, email, password_hash, now)
    .map_err(|e| duplicate_on(e, &["email"]))?;
    Ok(updated == 1)
}

/// Sets the role of the account with this email; false if there is none.
pub async fn set_role_by_email(
    db: &Database,
    email: &str,
    role: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET role = $2, updated_at = $3 WHERE email = $1",
        email,
        role,
        now
    )?;
    Ok(updated == 1)
}

/// Replaces the password hash; false when the account does not exist.
pub async fn set_password_hash(
    db: &Database,
    id: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = execute!(
        db,
        "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1",
        id,
        password_hash,
        now
    )?;
    Ok(done == 1)
}

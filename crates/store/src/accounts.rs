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
    pub email_verified_at: Option<i64>,
    pub handle: Option<String>,
    /// When an admin disabled it; `None` while it may sign in.
    pub disabled_at: Option<i64>,
    /// The Telegram user who signs in with it (the Mini App).
    pub telegram_id: Option<i64>,
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub email: Option<&'a str>,
    /// What `email` looks like (UTS #39 skeleton): unique, so look-alikes
    /// of an existing address are refused.
    pub email_skeleton: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub wallet_address: Option<&'a str>,
    pub telegram_id: Option<i64>,
    pub role: &'a str,
    pub now: i64,
}

const COLUMNS: &str =
    "id, email, password_hash, wallet_address, role, created_at, totp_enabled_at, email_verified_at, \
     handle, disabled_at, telegram_id";

/// Inserts an account; `StoreError::Duplicate("email" | "wallet_address" |
/// "telegram_id")` when another account holds one of them.
pub async fn insert(db: &Database, new: NewAccount<'_>) -> Result<AccountRecord, StoreError> {
    let sql = format!(
        "INSERT INTO accounts \
         (id, email, password_hash, wallet_address, role, created_at, updated_at, email_skeleton, \
          telegram_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) RETURNING {COLUMNS}"
    );
    with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(new.id)
        .bind(new.email)
        .bind(new.password_hash)
        .bind(new.wallet_address)
        .bind(new.role)
        .bind(new.now)
        .bind(new.email_skeleton)
        .bind(new.telegram_id)
        .fetch_one(pool)
        .await)
    // The skeleton's column name contains "email": look for it first.
    .map_err(|e| {
        duplicate_on(
            e,
            &["email_skeleton", "email", "wallet_address", "telegram_id"],
        )
    })
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

pub async fn find_by_telegram(
    db: &Database,
    telegram_id: i64,
) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE telegram_id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(telegram_id).fetch_optional(pool).await)?)
}

/// Links a Telegram user to an account that has none.
/// `StoreError::Duplicate("telegram_id")` when another account holds it.
pub async fn bind_telegram(
    db: &Database,
    id: &str,
    telegram_id: i64,
    now: i64,
) -> Result<Binding, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET telegram_id = $2, updated_at = $3 \
             WHERE id = $1 AND telegram_id IS NULL",
        id,
        telegram_id,
        now
    )
    .map_err(|e| duplicate_on(e, &["telegram_id"]))?;
    Ok(if updated == 1 {
        Binding::Bound
    } else {
        Binding::AlreadyBound
    })
}

/// Unlinks the Telegram user from an account that can still sign in
/// another way. False when it has none, or no other way.
pub async fn unbind_telegram(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET telegram_id = NULL, updated_at = $2 \
             WHERE id = $1 AND telegram_id IS NOT NULL \
               AND (wallet_address IS NOT NULL \
                    OR (email IS NOT NULL AND password_hash IS NOT NULL))",
        id,
        now
    )?;
    Ok(updated == 1)
}

/// What binding a wallet or a Telegram user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Bound,
    /// The account already has one of that kind (or does not exist).
    AlreadyBound,
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
        Binding::AlreadyBound
    })
}

/// Removes the wallet from an account that can still sign in with a
/// password or Telegram. False when it has no wallet or no other way.
pub async fn unbind_wallet(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET wallet_address = NULL, updated_at = $2 \
             WHERE id = $1 AND wallet_address IS NOT NULL \
               AND (telegram_id IS NOT NULL \
                    OR (email IS NOT NULL AND password_hash IS NOT NULL))",
        id,
        now
    )?;
    Ok(updated == 1)
}

/// Gives a wallet-first account an email and password. False when the
/// account already has an email. `StoreError::Duplicate("email")` when
/// another account uses it.
pub async fn add_email_login(
    db: &Database,
    id: &str,
    email: &str,
    email_skeleton: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET email = $2, email_skeleton = $3, password_hash = $4, \
             email_verified_at = NULL, updated_at = $5 WHERE id = $1 AND email IS NULL",
        id,
        email,
        email_skeleton,
        password_hash,
        now
    )
    .map_err(|e| duplicate_on(e, &["email_skeleton", "email"]))?;
    Ok(updated == 1)
}

/// Unbinds the account's wallet and Telegram user whatever else it has
/// (a password reset of an address nobody had proved: whoever registered
/// it first may have bound their own); true if either was bound.
pub async fn unbind_other_sign_ins(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET wallet_address = NULL, telegram_id = NULL, updated_at = $2 \
             WHERE id = $1 AND (wallet_address IS NOT NULL OR telegram_id IS NOT NULL)",
        id,
        now
    )?;
    Ok(updated == 1)
}

/// Sets the account's public handle; `Duplicate("handle")` when another
/// account has it.
pub async fn set_handle(
    db: &Database,
    id: &str,
    handle: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET handle = $2, updated_at = $3 WHERE id = $1",
        id,
        handle,
        now
    )
    .map_err(|e| duplicate_on(e, &["handle"]))?;
    Ok(updated == 1)
}

/// Marks the account's address proved, if it is still `email`; false
/// otherwise (the account changed its address since the link was sent).
pub async fn set_email_verified(
    db: &Database,
    id: &str,
    email: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, $3), updated_at = $3 \
             WHERE id = $1 AND email = $2",
        id,
        email,
        now
    )?;
    Ok(updated == 1)
}

/// Accounts with an address whose skeleton is not computed yet (created
/// before skeletons existed): `(id, email)`, at most `limit`.
pub async fn missing_skeletons(
    db: &Database,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT id, email FROM accounts WHERE email IS NOT NULL AND email_skeleton IS NULL \
         ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await)?)
}

/// Stores a computed skeleton; `Duplicate("email_skeleton")` when an older
/// account already looks the same (the newer one keeps NULL, and stays
/// usable).
pub async fn set_skeleton(db: &Database, id: &str, skeleton: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE accounts SET email_skeleton = $2 WHERE id = $1",
        id,
        skeleton
    )
    .map_err(|e| duplicate_on(e, &["email_skeleton"]))?;
    Ok(())
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

/// Sets the role of the account `id`; false if there is none.
pub async fn set_role(db: &Database, id: &str, role: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET role = $2, updated_at = $3 WHERE id = $1",
        id,
        role,
        now
    )?;
    Ok(updated == 1)
}

/// Disables the account `id` at `now`, or enables it again (`None`);
/// false if there is none.
pub async fn set_disabled(
    db: &Database,
    id: &str,
    disabled_at: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET disabled_at = $2, updated_at = $3 WHERE id = $1",
        id,
        disabled_at,
        now
    )?;
    Ok(updated == 1)
}

/// When the account `id` was disabled (`None`: it is not) and its role;
/// `None` if there is no such account.
pub async fn standing(
    db: &Database,
    id: &str,
) -> Result<Option<(Option<i64>, String)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT disabled_at, role FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?)
}

/// Accounts whose email, handle or wallet contains `query` (case-insensitive),
/// or whose id is `query`; newest first, at most `limit`.
pub async fn search(
    db: &Database,
    query: &str,
    limit: u32,
) -> Result<Vec<AccountRecord>, StoreError> {
    let pattern = format!(
        "%{}%",
        query
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts \
         WHERE id = $1 OR LOWER(COALESCE(email, '')) LIKE $2 ESCAPE '\\' \
            OR LOWER(COALESCE(handle, '')) LIKE $2 ESCAPE '\\' \
            OR COALESCE(wallet_address, '') LIKE $2 ESCAPE '\\' \
         ORDER BY created_at DESC, id LIMIT $3"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(query)
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
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

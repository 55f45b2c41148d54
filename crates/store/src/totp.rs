//! Accounts' TOTP second factor.

use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpState {
    pub totp_secret: Option<Vec<u8>>,
    pub totp_enabled_at: Option<i64>,
    pub totp_last_step: Option<i64>,
}

pub async fn state(db: &Database, account_id: &str) -> Result<Option<TotpState>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT totp_secret, totp_enabled_at, totp_last_step FROM accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await)?)
}

/// Starts (or restarts) an enrolment; false when TOTP is already enabled.
pub async fn begin_enrolment(
    db: &Database,
    account_id: &str,
    secret: &[u8],
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET totp_secret = $2, totp_last_step = NULL \
             WHERE id = $1 AND totp_enabled_at IS NULL",
        account_id,
        secret
    )?;
    Ok(updated == 1)
}

/// Turns TOTP on, recording the step of the code that proved the enrolment.
pub async fn enable(
    db: &Database,
    account_id: &str,
    step: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET totp_enabled_at = $3, totp_last_step = $2 \
             WHERE id = $1 AND totp_secret IS NOT NULL AND totp_enabled_at IS NULL",
        account_id,
        step,
        now
    )?;
    Ok(updated == 1)
}

/// Creates an enabled factor in one step (for admins made on the command line).
pub async fn enable_with_secret(
    db: &Database,
    account_id: &str,
    secret: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    execute!(db, "UPDATE accounts SET totp_secret = $2, totp_enabled_at = $3, totp_last_step = NULL WHERE id = $1", account_id, secret, now).map(drop)?;
    Ok(())
}

pub async fn disable(db: &Database, account_id: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE accounts SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL \
             WHERE id = $1",
        account_id
    )
    .map(drop)?;
    Ok(())
}

/// Records that the code of `step` was used. False if that step (or a later
/// one) was used already: of two concurrent uses of one code, one wins.
pub async fn use_step(db: &Database, account_id: &str, step: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        account_id,
        step
    )?;
    Ok(updated == 1)
}

/// Every stored TOTP secret, with its account (for sealing those stored
/// before sealing existed).
pub async fn all_secrets(db: &Database) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT id, totp_secret FROM accounts WHERE totp_secret IS NOT NULL"
    )
    .fetch_all(pool)
    .await)?)
}

/// Replaces an account's stored secret if it still holds `old`.
pub async fn replace_secret(
    db: &Database,
    account_id: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE accounts SET totp_secret = $3 WHERE id = $1 AND totp_secret = $2",
        account_id,
        old,
        new
    )?;
    Ok(updated == 1)
}

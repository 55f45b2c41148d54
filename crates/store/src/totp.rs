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
    execute!(
        db,
        "DELETE FROM totp_recovery_codes WHERE account_id = $1",
        account_id
    )?;
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

/// Replaces the account's recovery codes with `hashes` (all unused).
pub async fn replace_recovery_codes(
    db: &Database,
    account_id: &str,
    hashes: &[String],
) -> Result<(), StoreError> {
    let mut write = db.begin_write().await?;
    crate::database::with_tx!(&mut write, conn => sqlx::query(
        "DELETE FROM totp_recovery_codes WHERE account_id = $1"
    )
    .bind(account_id)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    for hash in hashes {
        crate::database::with_tx!(&mut write, conn => sqlx::query(
            "INSERT INTO totp_recovery_codes (account_id, code_hash) VALUES ($1, $2)"
        )
        .bind(account_id)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    }
    write.commit().await?;
    Ok(())
}

/// Uses the recovery code with this digest; false if it is not the
/// account's or was used (of two concurrent uses, one wins).
pub async fn use_recovery_code(
    db: &Database,
    account_id: &str,
    hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE totp_recovery_codes SET used_at = $3 \
         WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
        account_id,
        hash,
        now
    )?;
    Ok(updated == 1)
}

/// Unused recovery codes the account has left.
pub async fn recovery_codes_left(db: &Database, account_id: &str) -> Result<i64, StoreError> {
    let (left,): (i64,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM totp_recovery_codes WHERE account_id = $1 AND used_at IS NULL"
    )
    .bind(account_id)
    .fetch_one(pool)
    .await)?;
    Ok(left)
}

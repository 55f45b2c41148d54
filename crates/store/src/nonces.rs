//! Single-use values: nonces for Sign-In With Ethereum, Telegram launch
//! data.

use crate::{execute, with_pool, Database, StoreError};

/// Stores a freshly issued nonce for `domain` (the site it may sign in
/// to) and drops long-expired ones.
pub async fn issue(
    db: &Database,
    nonce: &str,
    domain: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    with_pool!(db, pool => {
        // Keep the table small: anything expired an hour ago is useless.
        sqlx::query("DELETE FROM siwe_nonces WHERE expires_at < $1")
            .bind(now - 3600)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO siwe_nonces (nonce, created_at, expires_at, domain) VALUES ($1, $2, $3, $4)",
        )
            .bind(nonce)
            .bind(now)
            .bind(expires_at)
            .bind(domain)
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// Marks the nonce used. True only for the first use of an unexpired
/// nonce issued for `domain`; concurrent uses see exactly one `true`.
pub async fn consume(
    db: &Database,
    nonce: &str,
    domain: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let used = execute!(
        db,
        "UPDATE siwe_nonces SET used_at = $2 \
             WHERE nonce = $1 AND domain = $3 AND used_at IS NULL AND expires_at > $2",
        nonce,
        now,
        domain
    )?;
    Ok(used == 1)
}

/// Marks Telegram launch data (by its hash) used until `expires_at`, when
/// it is too old to be accepted anyway. True only for its first use;
/// concurrent uses see exactly one `true`.
pub async fn use_telegram_init_data(
    db: &Database,
    hash: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    execute!(
        db,
        "DELETE FROM telegram_init_data WHERE expires_at < $1",
        now
    )?;
    let used = execute!(
        db,
        "INSERT INTO telegram_init_data (hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (hash) DO NOTHING",
        hash,
        expires_at
    )?;
    Ok(used == 1)
}

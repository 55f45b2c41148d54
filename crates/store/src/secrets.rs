//! Server-generated secrets shared by every instance on one database.

use crate::{with_pool, Database, StoreError};

/// Returns the secret called `name`, storing `candidate` first if none
/// exists. Concurrent first starts agree on one value.
pub async fn get_or_insert(
    db: &Database,
    name: &str,
    candidate: &[u8],
    now: i64,
) -> Result<Vec<u8>, StoreError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(pool)
        .await?;
        let (value,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?;
        Ok(value)
    })
}

/// Replaces the secret `name` if it still holds `old` (a migration that
/// several instances may run at once); false when it changed meanwhile.
pub async fn replace(
    db: &Database,
    name: &str,
    old: &[u8],
    new: &[u8],
) -> Result<bool, StoreError> {
    let updated = crate::execute!(
        db,
        "UPDATE server_secrets SET value = $3 WHERE name = $1 AND value = $2",
        name,
        old,
        new
    )?;
    Ok(updated == 1)
}

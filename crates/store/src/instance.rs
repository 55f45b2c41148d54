//! This installation's identity.

use crate::{with_pool, Database, StoreError};

/// Returns the installation's id, creating it on first use. Safe to call
/// concurrently from several instances sharing one database.
pub async fn ensure_instance_id(db: &Database) -> Result<String, StoreError> {
    let candidate = uuid::Uuid::new_v4().to_string();
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO instance (singleton, instance_id) VALUES (1, $1) \
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(&candidate)
        .execute(pool)
        .await?;
        let (id,): (String,) = sqlx::query_as("SELECT instance_id FROM instance WHERE singleton = 1")
            .fetch_one(pool)
            .await?;
        Ok(id)
    })
}

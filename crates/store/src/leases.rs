//! Leases with fencing tokens (migration 0022): background work that must
//! run on one instance at a time is done by the lease's holder, and its
//! writes carry the fence they were made under.

use crate::{execute, with_pool, Database, StoreError};

/// The settlement loop's lease: closing rounds, publishing roots, and the
/// outbox's nonces and sends.
pub const SETTLEMENT: &str = "settlement";

/// Takes `name` for `holder` until `now_ms + ttl_ms`, or renews it: when
/// it is free, expired, or already `holder`'s. Returns the fence (new on
/// every change of holder), or `None` while another instance holds it.
pub async fn acquire(
    db: &Database,
    name: &str,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = with_pool!(db, pool => sqlx::query_as(
        "INSERT INTO leases (name, holder, fence, expires_at) VALUES ($1, $2, 1, $3 + $4) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END, \
             expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at < $3 \
         RETURNING fence"
    )
    .bind(name)
    .bind(holder)
    .bind(now_ms)
    .bind(ttl_ms)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(fence,)| fence))
}

/// Lets the lease go at once (a clean shutdown), so another instance need
/// not wait for it to expire.
pub async fn release(db: &Database, name: &str, holder: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2",
        name,
        holder
    )?;
    Ok(())
}

/// Who holds `name` now, with its fence and expiry (ms), if anyone ever did.
pub async fn holder(db: &Database, name: &str) -> Result<Option<(String, i64, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT holder, fence, expires_at FROM leases WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(pool)
    .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend};

    test_both_backends! {
        async fn one_holder_at_a_time_and_a_new_fence_on_takeover(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            assert_eq!(acquire(&db, SETTLEMENT, "a", 1_000, 5_000).await.unwrap(), Some(1));
            // Held: another instance waits; the holder renews with its fence.
            assert_eq!(acquire(&db, SETTLEMENT, "b", 2_000, 5_000).await.unwrap(), None);
            assert_eq!(acquire(&db, SETTLEMENT, "a", 3_000, 5_000).await.unwrap(), Some(1));
            assert_eq!(acquire(&db, SETTLEMENT, "b", 7_999, 5_000).await.unwrap(), None);
            // Expired: taken over, with a new fence; the old holder is out.
            assert_eq!(acquire(&db, SETTLEMENT, "b", 8_001, 5_000).await.unwrap(), Some(2));
            assert_eq!(acquire(&db, SETTLEMENT, "a", 8_002, 5_000).await.unwrap(), None);
            assert_eq!(holder(&db, SETTLEMENT).await.unwrap(), Some(("b".into(), 2, 13_001)));
            // Released: the next instance need not wait.
            release(&db, SETTLEMENT, "b").await.unwrap();
            assert_eq!(acquire(&db, SETTLEMENT, "a", 9_000, 5_000).await.unwrap(), Some(3));
            // Other leases are independent.
            assert_eq!(acquire(&db, "other", "b", 9_000, 5_000).await.unwrap(), Some(1));
        }
    }
}

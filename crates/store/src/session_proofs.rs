//! When each session last proved who it is (step-up authentication).

use crate::{execute, with_pool, Database, StoreError};

/// Records that the session proved its identity at `now`.
pub async fn record(
    db: &Database,
    session_id: &str,
    account_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    execute!(
        db,
        "INSERT INTO session_proofs (session_id, account_id, proved_at) VALUES ($1, $2, $3) \
             ON CONFLICT (session_id) DO UPDATE SET proved_at = excluded.proved_at",
        session_id,
        account_id,
        now
    )
    .map(drop)?;
    Ok(())
}

/// When the account's session last proved its identity; `None` when it
/// never did or the session has ended (revoked or expired), so an access
/// token that outlives its session cannot step up.
pub async fn proved_at(
    db: &Database,
    session_id: &str,
    account_id: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let sql = format!(
        "SELECT p.proved_at FROM session_proofs p \
         WHERE p.session_id = $1 AND p.account_id = $2 AND {}",
        crate::sessions::live_family("p.session_id", "p.account_id", "$3")
    );
    let found: Option<(i64,)> = with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(session_id)
        .bind(account_id)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
    Ok(found.map(|(at,)| at))
}

//! Where members' browsers take Web Push messages.

use crate::database::with_tx;
use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushSubscriptionRecord {
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
}

pub struct NewPushSubscription<'a> {
    pub account_id: &'a str,
    pub endpoint: &'a str,
    pub p256dh: &'a [u8],
    pub auth: &'a [u8],
    pub now: i64,
}

/// Keeps the subscription for the account (an endpoint already kept moves
/// to it, with its new keys) and drops the account's oldest beyond `keep`.
pub async fn subscribe(
    db: &Database,
    new: NewPushSubscription<'_>,
    keep: u32,
) -> Result<(), StoreError> {
    let mut write = db.begin_write().await?;
    with_tx!(&mut write, conn => sqlx::query(
        "INSERT INTO push_subscriptions (endpoint, account_id, p256dh, auth, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (endpoint) DO UPDATE SET account_id = excluded.account_id, \
             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at",
    )
    .bind(new.endpoint)
    .bind(new.account_id)
    .bind(new.p256dh)
    .bind(new.auth)
    .bind(new.now)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    with_tx!(&mut write, conn => sqlx::query(
        "DELETE FROM push_subscriptions WHERE account_id = $1 AND endpoint <> $2 \
         AND endpoint NOT IN (SELECT endpoint FROM push_subscriptions WHERE account_id = $1 \
             ORDER BY created_at DESC, endpoint LIMIT $3)",
    )
    .bind(new.account_id)
    .bind(new.endpoint)
    .bind(i64::from(keep.saturating_sub(1)))
    .execute(&mut *conn)
    .await
    .map(drop))?;
    write.commit().await
}

/// The account's subscriptions, newest first.
pub async fn for_account(
    db: &Database,
    account_id: &str,
) -> Result<Vec<PushSubscriptionRecord>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE account_id = $1 \
         ORDER BY created_at DESC, endpoint",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await)?)
}

/// Forgets the account's subscription at `endpoint`; false if it had none.
pub async fn unsubscribe(
    db: &Database,
    account_id: &str,
    endpoint: &str,
) -> Result<bool, StoreError> {
    let removed = execute!(
        db,
        "DELETE FROM push_subscriptions WHERE account_id = $1 AND endpoint = $2",
        account_id,
        endpoint
    )?;
    Ok(removed > 0)
}

/// Forgets an endpoint its push service says is gone (404, 410).
pub async fn remove(db: &Database, endpoint: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "DELETE FROM push_subscriptions WHERE endpoint = $1",
        endpoint
    )?;
    Ok(())
}

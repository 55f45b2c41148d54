//! Where members' browsers take Web Push messages, each for as long as the
//! sign-in that subscribed it lasts.

use crate::database::with_tx;
use crate::sessions::live_family;
use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushSubscriptionRecord {
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    /// Whether the sign-in that subscribed it still lasts.
    pub live: bool,
}

pub struct NewPushSubscription<'a> {
    pub account_id: &'a str,
    /// The sign-in (refresh-token family) subscribing.
    pub session_id: &'a str,
    pub endpoint: &'a str,
    pub p256dh: &'a [u8],
    pub auth: &'a [u8],
    pub now: i64,
}

/// What keeping a subscription did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    Kept,
    /// The endpoint is another account's, subscribed with another secret:
    /// not this browser's subscription to move.
    Taken,
}

/// Keeps the subscription for the account's sign-in and drops the
/// account's oldest beyond `keep`. An endpoint already kept is renewed for
/// the same account, or moves to another only with the same auth secret
/// (the browser itself subscribing again).
pub async fn subscribe(
    db: &Database,
    new: NewPushSubscription<'_>,
    keep: u32,
) -> Result<Subscribed, StoreError> {
    let mut write = db.begin_write().await?;
    let written = with_tx!(&mut write, conn => sqlx::query(
        "INSERT INTO push_subscriptions (endpoint, account_id, session_id, p256dh, auth, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (endpoint) DO UPDATE SET account_id = excluded.account_id, \
             session_id = excluded.session_id, p256dh = excluded.p256dh, auth = excluded.auth, \
             created_at = excluded.created_at \
         WHERE push_subscriptions.account_id = excluded.account_id \
             OR push_subscriptions.auth = excluded.auth",
    )
    .bind(new.endpoint)
    .bind(new.account_id)
    .bind(new.session_id)
    .bind(new.p256dh)
    .bind(new.auth)
    .bind(new.now)
    .execute(&mut *conn)
    .await
    .map(|done| done.rows_affected()))?;
    if written == 0 {
        return Ok(Subscribed::Taken);
    }
    with_tx!(&mut write, conn => sqlx::query(
        "DELETE FROM push_subscriptions WHERE account_id = $1 AND endpoint <> $2 \
         AND endpoint NOT IN (SELECT endpoint FROM push_subscriptions \
             WHERE account_id = $1 AND endpoint <> $2 \
             ORDER BY created_at DESC, endpoint LIMIT $3)",
    )
    .bind(new.account_id)
    .bind(new.endpoint)
    .bind(i64::from(keep.saturating_sub(1)))
    .execute(&mut *conn)
    .await
    .map(drop))?;
    write.commit().await?;
    Ok(Subscribed::Kept)
}

/// The account's subscriptions, newest first, each saying whether its
/// sign-in is still live at `now`.
pub async fn for_account(
    db: &Database,
    account_id: &str,
    now: i64,
) -> Result<Vec<PushSubscriptionRecord>, StoreError> {
    let sql = format!(
        "SELECT ps.endpoint, ps.p256dh, ps.auth, {} AS live FROM push_subscriptions ps \
         WHERE ps.account_id = $1 ORDER BY ps.created_at DESC, ps.endpoint",
        live_family("ps.session_id", "ps.account_id", "$2")
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(now)
        .fetch_all(pool)
        .await)?)
}

/// Which of `accounts` have a browser subscribed (live or not: sending
/// tells), in one read, for a batch of notices.
pub async fn subscribed_among(
    db: &Database,
    accounts: &[&str],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT account_id FROM push_subscriptions WHERE account_id IN ({})",
        crate::sql::json_list(db.backend(), 1)
    );
    let accounts = crate::sql::strings(accounts.iter().copied());
    let rows: Vec<(String,)> = with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(&accounts)
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(account,)| account).collect())
}

/// Forgets the account's subscriptions whose sign-in ended (signed out,
/// ended elsewhere, expired); how many.
pub async fn forget_ended(db: &Database, account_id: &str, now: i64) -> Result<u64, StoreError> {
    let sql = format!(
        "DELETE FROM push_subscriptions WHERE account_id = $1 AND NOT {}",
        live_family(
            "push_subscriptions.session_id",
            "push_subscriptions.account_id",
            "$2"
        )
    );
    Ok(execute!(db, &sql, account_id, now)?)
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

/// Forgets an endpoint its push service refused for good (404, 410, …).
pub async fn remove(db: &Database, endpoint: &str) -> Result<(), StoreError> {
    execute!(
        db,
        "DELETE FROM push_subscriptions WHERE endpoint = $1",
        endpoint
    )?;
    Ok(())
}

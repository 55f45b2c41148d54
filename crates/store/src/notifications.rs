//! Members' notification centres and the kinds each turned off.

use crate::database::with_tx;
use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRecord {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

pub struct NewNotification<'a> {
    pub account_id: &'a str,
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub link: Option<&'a str>,
    pub now: i64,
}

const COLUMNS: &str = "id, kind, title, body, link, created_at, read_at";

/// Stores a notification unless the account turned its kind off: `None`
/// then.
pub async fn insert(
    db: &Database,
    new: NewNotification<'_>,
) -> Result<Option<NotificationRecord>, StoreError> {
    let sql = format!(
        "INSERT INTO notifications (account_id, kind, title, body, link, created_at) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
             (SELECT 1 FROM notification_mutes WHERE account_id = $1 AND kind = $2) \
         RETURNING {COLUMNS}"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(new.account_id)
        .bind(new.kind)
        .bind(new.title)
        .bind(new.body)
        .bind(new.link)
        .bind(new.now)
        .fetch_optional(pool)
        .await)?)
}

/// The account's newest `limit` notifications, newest first.
pub async fn newest(
    db: &Database,
    account_id: &str,
    limit: u32,
) -> Result<Vec<NotificationRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE account_id = $1 ORDER BY id DESC LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

pub async fn unread(db: &Database, account_id: &str) -> Result<u32, StoreError> {
    let (count,): (i64,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM notifications WHERE account_id = $1 AND read_at IS NULL",
    )
    .bind(account_id)
    .fetch_one(pool)
    .await)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Marks the account's notifications up to `up_to` (an id) read; how many
/// were unread.
pub async fn mark_read(
    db: &Database,
    account_id: &str,
    up_to: i64,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE notifications SET read_at = $3 \
             WHERE account_id = $1 AND id <= $2 AND read_at IS NULL",
        account_id,
        up_to,
        now
    )?)
}

/// The kinds the account turned off, by name.
pub async fn muted(db: &Database, account_id: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT kind FROM notification_mutes WHERE account_id = $1 ORDER BY kind",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(kind,)| kind).collect())
}

/// Replaces the kinds the account turned off, in one transaction.
pub async fn set_muted(db: &Database, account_id: &str, kinds: &[&str]) -> Result<(), StoreError> {
    let mut write = db.begin_write().await?;
    with_tx!(&mut write, conn => sqlx::query("DELETE FROM notification_mutes WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    for kind in kinds {
        with_tx!(&mut write, conn => sqlx::query(
            "INSERT INTO notification_mutes (account_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(account_id)
        .bind(*kind)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    }
    write.commit().await
}

/// Deletes up to `limit` notifications made before `cutoff`, oldest first;
/// how many.
pub async fn delete_older_than(db: &Database, cutoff: i64, limit: u32) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "DELETE FROM notifications WHERE id IN \
             (SELECT id FROM notifications WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        cutoff,
        i64::from(limit)
    )?)
}

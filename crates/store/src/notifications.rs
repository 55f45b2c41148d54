//! Members' notification centres and the kinds each turned off.

use crate::database::{with_tx, Tx};
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

/// A notification composed for a batch, owned: see [`insert_many_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub account_id: String,
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

/// A notification a batch kept, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Kept {
    pub account_id: String,
    #[sqlx(flatten)]
    pub record: NotificationRecord,
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

/// Stores a batch of notifications in one statement, inside the
/// transaction whose change they tell of (a crash keeps both or neither),
/// leaving out each whose account turned its kind off; those kept, in no
/// particular order.
pub(crate) async fn insert_many_in(
    tx: &mut Tx,
    notices: &[Composed],
    now: i64,
) -> Result<Vec<Kept>, StoreError> {
    if notices.is_empty() {
        return Ok(Vec::new());
    }
    let rows_of = crate::sql::json_rows_once(tx.backend(), 1);
    let sql = format!(
        "{rows_of}INSERT INTO notifications (account_id, kind, title, body, link, created_at) \
         SELECT j.value ->> 'a', j.value ->> 'k', j.value ->> 't', j.value ->> 'b', \
             j.value ->> 'l', $2 FROM j \
         WHERE NOT EXISTS (SELECT 1 FROM notification_mutes m \
             WHERE m.account_id = j.value ->> 'a' AND m.kind = j.value ->> 'k') \
         RETURNING account_id, {COLUMNS}"
    );
    let batch = crate::sql::json(notices.iter().map(|n| {
        serde_json::json!({
            "a": n.account_id, "k": n.kind, "t": n.title, "b": n.body, "l": n.link,
        })
    }));
    Ok(with_tx!(tx, conn => sqlx::query_as(&sql)
        .bind(&batch)
        .bind(now)
        .fetch_all(&mut *conn)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend};

    fn composed(account_id: &str, title: &str, link: Option<&str>) -> Composed {
        Composed {
            account_id: account_id.to_owned(),
            kind: "round_result",
            title: title.to_owned(),
            body: format!("{title}, in full"),
            link: link.map(str::to_owned),
        }
    }

    test_both_backends! {
        async fn a_batch_keeps_each_notice_but_the_kinds_turned_off(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            for id in ["ann", "bob"] {
                let email = format!("{id}@example.org");
                accounts::insert(&db, NewAccount { id, email: Some(&email), email_skeleton: None,
                    password_hash: None, wallet_address: None, telegram_id: None, role: "member",
                    now: 1 }).await.unwrap();
            }
            set_muted(&db, "bob", &["round_result"]).await.unwrap();
            let batch = [
                composed("ann", "first", Some("/s/1")),
                composed("bob", "muted", Some("/s/2")),
                composed("ann", "second", None),
            ];
            let mut tx = db.begin_write().await.unwrap();
            let mut kept = insert_many_in(&mut tx, &batch, 7).await.unwrap();
            tx.commit().await.unwrap();

            kept.sort_by_key(|k| k.record.id);
            let told: Vec<(&str, &str, Option<&str>)> = kept.iter()
                .map(|k| (k.account_id.as_str(), k.record.title.as_str(), k.record.link.as_deref()))
                .collect();
            assert_eq!(told, [("ann", "first", Some("/s/1")), ("ann", "second", None)]);
            assert!(kept.iter().all(|k| k.record.created_at == 7 && k.record.read_at.is_none()
                && k.record.kind == "round_result" && k.record.body.ends_with(", in full")));
            // What the centre reads is what the batch said it kept.
            let centre = newest(&db, "ann", 10).await.unwrap();
            assert_eq!(centre, kept.iter().rev().map(|k| k.record.clone()).collect::<Vec<_>>());
            assert!(newest(&db, "bob", 10).await.unwrap().is_empty());
        }
    }
}

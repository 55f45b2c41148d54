//! The audit log (migration 0024): appended to, read in order, never
//! changed. The hash chain itself is `meritree_core::audit`'s; this module
//! only keeps the chain's order under concurrent writers.

use crate::database::with_tx;
use crate::{with_pool, Backend, Database, StoreError};

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub state_before: Option<String>,
    pub state_after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub reference: Option<String>,
}

/// An entry to append; its number and hashes are given by [`append`].
#[derive(Debug, Clone, Copy)]
pub struct NewAudit<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub state_before: Option<&'a str>,
    pub state_after: Option<&'a str>,
    /// Makes the append idempotent: an entry with this reference already
    /// in the log is returned instead of a second one.
    pub reference: Option<&'a str>,
}

const COLUMNS: &str =
    "seq, at, actor, action, subject, state_before, state_after, prev_hash, hash, reference";

/// Appends `entry` after the current head (`genesis` as the first entry's
/// `prev_hash`): `hash(seq, prev_hash)` gives the new entry's hash. The
/// head is read and the entry written in one write transaction, one append
/// at a time: on SQLite that transaction already holds the database's write
/// lock; on PostgreSQL it first locks the log against other appenders
/// (readers are not held up). So the chain never forks, whichever instance
/// appends. Retrying on the unique `prev_hash` instead ran out of attempts
/// with eight admins' requests at once, and answered them with errors.
pub async fn append(
    db: &Database,
    entry: NewAudit<'_>,
    genesis: &str,
    hash: impl Fn(i64, &str) -> String,
) -> Result<AuditRow, StoreError> {
    let mut tx = db.begin_write().await?;
    if tx.backend() == Backend::Postgres {
        // Conflicts with itself, not with the ACCESS SHARE of a read.
        with_tx!(&mut tx, conn => sqlx::query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await
            .map(drop))?;
    }
    if let Some(reference) = entry.reference {
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE reference = $1");
        let existing: Option<AuditRow> = with_tx!(&mut tx, conn => sqlx::query_as(&sql)
            .bind(reference)
            .fetch_optional(&mut *conn)
            .await)?;
        if let Some(existing) = existing {
            return Ok(existing);
        }
    }
    let head: Option<(i64, String)> = with_tx!(&mut tx, conn => sqlx::query_as(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    )
    .fetch_optional(&mut *conn)
    .await)?;
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, genesis.to_owned()),
    };
    let row = AuditRow {
        seq,
        at: entry.at,
        actor: entry.actor.to_owned(),
        action: entry.action.to_owned(),
        subject: entry.subject.to_owned(),
        state_before: entry.state_before.map(str::to_owned),
        state_after: entry.state_after.map(str::to_owned),
        hash: hash(seq, &prev_hash),
        prev_hash,
        reference: entry.reference.map(str::to_owned),
    };
    with_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, state_before, state_after, prev_hash, hash, reference) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(row.seq)
    .bind(row.at)
    .bind(&row.actor)
    .bind(&row.action)
    .bind(&row.subject)
    .bind(&row.state_before)
    .bind(&row.state_after)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .bind(&row.reference)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    tx.commit().await?;
    Ok(row)
}

/// The entry recorded under `reference`, if any.
pub async fn by_reference(db: &Database, reference: &str) -> Result<Option<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE reference = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(reference)
        .fetch_optional(pool)
        .await)?)
}

/// Up to `limit` entries after `after`, oldest first.
pub async fn page(db: &Database, after: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_both_backends;
    use crate::testing::TestDatabase;

    /// A stand-in for the real hash (core's): fixed length, and a
    /// different previous hash gives a different one.
    fn chained(seq: i64, prev_hash: &str) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (seq, prev_hash).hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Appends the audit entry of ledger posting `posting`, made at `at`.
    async fn append_posting(db: &Database, posting: &str, at: i64) -> Result<AuditRow, StoreError> {
        let reference = format!("ledger:{posting}");
        let entry = NewAudit {
            at,
            actor: "admin",
            action: "points_posted",
            subject: "account",
            state_before: None,
            state_after: None,
            reference: Some(&reference),
        };
        append(db, entry, "genesis", chained).await
    }

    test_both_backends! {
        async fn writers_appending_without_pause_make_one_chain(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            // Thirty-two writers, each appending as soon as its last append
            // is answered: none is refused. (Retrying on a lost race, as
            // appends once did, refused some of them.)
            let writers: Vec<_> = (0..32)
                .map(|writer| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        for i in 0..25 {
                            let posting = format!("{writer}:{i}");
                            append_posting(&db, &posting, 1_000).await.expect("appended");
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.await.unwrap();
            }
            assert_chain(&db, 32 * 25).await;
        }

        async fn an_entry_appended_twice_at_once_is_kept_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            // A retried request racing its first attempt, among others.
            let appends: Vec<_> = (0..16i64)
                .map(|i| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        // The last two are the same posting.
                        append_posting(&db, &i.min(14).to_string(), 1_000 + i).await
                    })
                })
                .collect();
            let mut appended = Vec::new();
            for handle in appends {
                appended.push(handle.await.unwrap().expect("every append is answered"));
            }
            assert_eq!(appended[14], appended[15], "one entry per reference");
            assert_chain(&db, 15).await;
        }
    }

    /// The log holds `len` entries, numbered from 1, each chained to the one
    /// before.
    async fn assert_chain(db: &Database, len: usize) {
        let mut log = Vec::new();
        while log.len() < len {
            let after = log.last().map_or(0, |row: &AuditRow| row.seq);
            let more = page(db, after, 100).await.unwrap();
            assert!(!more.is_empty(), "{} of {len} entries", log.len());
            log.extend(more);
        }
        assert_eq!(log.len(), len);
        let mut prev_hash = "genesis".to_owned();
        for (at, row) in log.iter().enumerate() {
            assert_eq!(row.seq, at as i64 + 1);
            assert_eq!(row.prev_hash, prev_hash, "the chain does not fork");
            assert_eq!(row.hash, chained(row.seq, &row.prev_hash));
            prev_hash = row.hash.clone();
        }
    }
}

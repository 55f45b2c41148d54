//! The audit log (migration 0024): appended to, read in order, never
//! changed. The hash chain itself is `meritree_core::audit`'s; this module
//! only keeps the chain's order under concurrent writers.

use crate::{with_pool, Database, StoreError};

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

/// How often an append retries when another writer extended the chain first.
const ATTEMPTS: usize = 20;

/// Appends `entry` after the current head (`genesis` as the first entry's
/// `prev_hash`): `hash(seq, prev_hash)` gives the new entry's hash. Another instance appending at the same moment makes
/// the insert fail on the unique `prev_hash` (or `seq`); it is retried on
/// the new head, so the chain never forks.
pub async fn append(
    db: &Database,
    entry: NewAudit<'_>,
    genesis: &str,
    hash: impl Fn(i64, &str) -> String,
) -> Result<AuditRow, StoreError> {
    for _ in 0..ATTEMPTS {
        let head: Option<(i64, String)> = with_pool!(db, pool => sqlx::query_as(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        )
        .fetch_optional(pool)
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
        let inserted = with_pool!(db, pool => sqlx::query(
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
        .execute(pool)
        .await
        .map(drop));
        match inserted {
            Ok(_) => return Ok(row),
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                // Recorded before (the reference), or another writer took
                // this place in the chain (retry on the new head).
                if let Some(reference) = entry.reference {
                    if let Some(existing) = by_reference(db, reference).await? {
                        return Ok(existing);
                    }
                }
                continue;
            }
            Err(err) => return Err(err.into()),
        }
    }
    // Twenty other entries appended while this one tried: contention no
    // admin action causes; reported as the conflict it is.
    Err(StoreError::Duplicate("seq"))
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

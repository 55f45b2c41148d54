//! The points ledger: append-only entries and the balances they sum to.
//!
//! Every post runs in one transaction that holds the account's balance row
//! for its whole length: SQLite's `BEGIN IMMEDIATE` takes the database's
//! write lock before the first read, PostgreSQL's `SELECT … FOR UPDATE`
//! locks the one row. So for one account the idempotency check, the balance
//! check, the balance update and the entry insert see no concurrent post,
//! and idempotency keys (unique per account) need no second lock.

use std::collections::HashMap;

use crate::database::{with_tx, Tx};
use crate::{with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EntryRecord {
    pub id: i64,
    pub account_id: String,
    pub amount: i64,
    pub reason: String,
    pub reference: Option<String>,
    pub idempotency_key: String,
    pub balance_after: i64,
    pub created_at: i64,
}

pub struct NewEntry<'a> {
    pub account_id: &'a str,
    /// Non-zero; negative debits.
    pub amount: i64,
    pub reason: &'a str,
    pub reference: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub now: i64,
}

impl NewEntry<'_> {
    /// Whether `entry` is what posting `self` wrote (or would have).
    fn matches(&self, entry: &EntryRecord) -> bool {
        entry.account_id == self.account_id
            && entry.amount == self.amount
            && entry.reason == self.reason
            && entry.reference.as_deref() == self.reference
    }
}

/// What posting an entry did. Only [`Posted::Created`] wrote anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Created(EntryRecord),
    /// The key was used before for the same posting: the entry written then.
    Replayed(EntryRecord),
    /// The key was used before for a different amount, reason or reference.
    KeyConflict(EntryRecord),
    /// The balance would go below zero.
    InsufficientBalance {
        balance: i64,
    },
    /// The balance would not fit in 64 bits.
    BalanceOverflow {
        balance: i64,
    },
    NoSuchAccount,
}

const COLUMNS: &str =
    "id, account_id, amount, reason, reference, idempotency_key, balance_after, created_at";

/// Joins a batch's rows (`j`, see `crate::sql::json_rows`, each with the
/// account `a` and key `k`) to the entries posted under those keys (`e`),
/// through the unique index. Not `(account_id, idempotency_key) IN (…)`:
/// SQLite answers that form by scanning the whole ledger's key index.
const BY_KEY: &str = "JOIN points_entries e \
     ON e.account_id = j.value ->> 'a' AND e.idempotency_key = j.value ->> 'k'";

/// [`COLUMNS`], each prefixed with `table.`: for statements that join.
fn qualified_columns(table: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|column| format!("{table}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Posts one entry and moves the account's balance, atomically and at most
/// once per idempotency key.
pub async fn post(db: &Database, new: NewEntry<'_>) -> Result<Posted, StoreError> {
    match post_once(db, &new).await {
        Err(StoreError::Query(err)) if is_unique_violation(&err) => {
            // Unreachable while every post locks the balance row first; kept
            // so that a writer that does not (a manual fix, a future bulk
            // path) still cannot make a key post twice.
            match find_by_key(db, new.account_id, new.idempotency_key).await? {
                Some(entry) => Ok(replay_or_conflict(&new, entry)),
                None => Err(StoreError::Query(err)),
            }
        }
        other => other,
    }
}

async fn post_once(db: &Database, new: &NewEntry<'_>) -> Result<Posted, StoreError> {
    let mut tx = db.begin_write().await?;
    let Some(balance) = lock_balance(&mut tx, new.account_id, new.now).await? else {
        return Ok(Posted::NoSuchAccount);
    };
    let posted = post_locked(&mut tx, new, balance).await?;
    // Dropping `tx` otherwise rolls it back: a refused post leaves no
    // trace, not even the zero balance row `lock_balance` made.
    if matches!(posted, Posted::Created(_)) {
        tx.commit().await?;
    }
    Ok(posted)
}

/// Posts each entry in order, all in one transaction (group commit): each
/// is checked and answered as [`post`] would, in order, so a later entry
/// sees the balance an earlier one left. The whole batch is a few
/// set-based statements, however many entries it holds: the balance rows
/// of every account named are locked at once, the keys looked up at once,
/// the outcomes decided in memory, then the new entries inserted and each
/// balance moved once. A refused entry writes nothing, not even a balance
/// row; a database error writes none of them.
pub async fn post_batch(
    db: &Database,
    entries: &[NewEntry<'_>],
) -> Result<Vec<Posted>, StoreError> {
    let now = entries.iter().map(|e| e.now).max().unwrap_or_default();
    let mut tx = db.begin_write().await?;
    let (mut balances, created_rows) = lock_balances(&mut tx, entries, now).await?;
    let earlier = find_by_keys(&mut tx, entries).await?;

    // Decided in order. An entry's outcome may name an entry of this same
    // batch, whose id is known only once inserted.
    enum Decided {
        Final(Posted),
        Create(usize),
        Again(usize),
    }
    let mut decided = Vec::with_capacity(entries.len());
    let mut to_insert: Vec<(&NewEntry<'_>, i64)> = Vec::new();
    let mut new_keys: HashMap<(&str, &str), usize> = HashMap::new();
    for new in entries {
        let key = (new.account_id, new.idempotency_key);
        let outcome = if let Some(entry) = earlier.get(&key) {
            Decided::Final(replay_or_conflict(new, entry.clone()))
        } else if let Some(&of) = new_keys.get(&key) {
            Decided::Again(of)
        } else if let Some(balance) = balances.get_mut(new.account_id) {
            match balance.checked_add(new.amount) {
                None => Decided::Final(Posted::BalanceOverflow { balance: *balance }),
                Some(after) if after < 0 => {
                    Decided::Final(Posted::InsufficientBalance { balance: *balance })
                }
                Some(after) => {
                    *balance = after;
                    new_keys.insert(key, to_insert.len());
                    to_insert.push((new, after));
                    Decided::Create(to_insert.len() - 1)
                }
            }
        } else {
            Decided::Final(Posted::NoSuchAccount)
        };
        decided.push(outcome);
    }

    // Nothing to write: dropping `tx` rolls back the balance rows it made.
    if to_insert.is_empty() {
        return Ok(decided
            .into_iter()
            .map(|d| match d {
                Decided::Final(posted) => posted,
                Decided::Create(_) | Decided::Again(_) => unreachable!("nothing was created"),
            })
            .collect());
    }
    let inserted = insert_entries(&mut tx, &to_insert).await?;
    let moved = moved_balances(&to_insert, &balances);
    store_balances(&mut tx, &moved, now).await?;
    // A balance row made for postings that were all refused goes again.
    let unused: Vec<&str> = created_rows
        .iter()
        .map(String::as_str)
        .filter(|a| moved.binary_search_by(|(m, _)| m.cmp(a)).is_err())
        .collect();
    delete_balance_rows(&mut tx, &unused).await?;
    tx.commit().await?;

    Ok(decided
        .into_iter()
        .zip(entries)
        .map(|(d, new)| match d {
            Decided::Final(posted) => posted,
            Decided::Create(i) => Posted::Created(inserted[i].clone()),
            Decided::Again(of) => replay_or_conflict(new, inserted[of].clone()),
        })
        .collect())
}

/// Each account `entries` credit or debit, in account order, with its
/// final balance.
fn moved_balances<'a>(
    entries: &[(&NewEntry<'a>, i64)],
    balances: &HashMap<String, i64>,
) -> Vec<(&'a str, i64)> {
    let mut moved: Vec<&'a str> = entries.iter().map(|(e, _)| e.account_id).collect();
    moved.sort_unstable();
    moved.dedup();
    moved.into_iter().map(|a| (a, balances[a])).collect()
}

/// Creates (at 0) and locks the balance rows of every existing account
/// `entries` name, in account order so two batches cannot deadlock.
/// Returns the balances, keyed by account (an account missing from them
/// does not exist), and the accounts whose row this call created.
async fn lock_balances(
    tx: &mut Tx,
    entries: &[NewEntry<'_>],
    now: i64,
) -> Result<(HashMap<String, i64>, Vec<String>), StoreError> {
    let mut accounts: Vec<&str> = entries.iter().map(|e| e.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    // Every missing row is created before any is locked, each step in
    // account order: two batches on PostgreSQL then take their row locks in
    // one order and cannot wait on each other in a cycle.
    let accounts = crate::sql::strings(accounts);
    // Selected from `accounts`, so an unknown account is left out instead
    // of failing the statement; `WHERE` also keeps SQLite from reading
    // `ON CONFLICT` as a join.
    let create = format!(
        "INSERT INTO points_balances (account_id, balance, updated_at) \
         SELECT id, 0, $1 FROM accounts WHERE id IN ({}) ORDER BY id \
         ON CONFLICT (account_id) DO NOTHING RETURNING account_id",
        crate::sql::json_list(tx.backend(), 2)
    );
    let lock = crate::sql::json_agg(
        tx.backend(),
        "account_id, balance",
        &format!(
            "SELECT account_id, balance FROM points_balances WHERE account_id IN ({}) \
             ORDER BY account_id{}",
            crate::sql::json_list(tx.backend(), 1),
            tx.for_update()
        ),
    );
    let (created, (balances,)): (Vec<(String,)>, (String,)) = with_tx!(tx, conn => (
        sqlx::query_as(&create)
            .bind(now)
            .bind(&accounts)
            .fetch_all(&mut *conn)
            .await?,
        sqlx::query_as(&lock).bind(&accounts).fetch_one(&mut *conn).await?,
    ));
    let created = created.into_iter().map(|(a,)| a).collect();
    let balances = crate::sql::decode::<(String, i64)>(&balances)?
        .into_iter()
        .collect();
    Ok((balances, created))
}

/// The entries already posted under the keys `entries` use, by (account,
/// key). Run under the balance locks: a concurrent post with one of these
/// keys has either committed (and is seen) or not started.
async fn find_by_keys<'a>(
    tx: &mut Tx,
    entries: &[NewEntry<'a>],
) -> Result<HashMap<(&'a str, &'a str), EntryRecord>, StoreError> {
    if entries.is_empty() {
        return Ok(HashMap::new());
    }
    let keys = crate::sql::json(
        entries
            .iter()
            .map(|e| serde_json::json!({ "a": e.account_id, "k": e.idempotency_key })),
    );
    let sql = format!(
        "SELECT {} FROM {} {BY_KEY}",
        qualified_columns("e"),
        crate::sql::json_rows(tx.backend(), 1)
    );
    let rows: Vec<EntryRecord> =
        with_tx!(tx, conn => sqlx::query_as(&sql).bind(&keys).fetch_all(&mut *conn).await?);
    let mut rows: HashMap<(String, String), EntryRecord> = rows
        .into_iter()
        .map(|r| ((r.account_id.clone(), r.idempotency_key.clone()), r))
        .collect();
    let mut found = HashMap::new();
    for new in entries {
        let key = (new.account_id.to_owned(), new.idempotency_key.to_owned());
        if let Some(row) = rows.remove(&key) {
            found.insert((new.account_id, new.idempotency_key), row);
        }
    }
    Ok(found)
}

/// Inserts each entry with its balance after it; returns the rows written,
/// in the order given.
async fn insert_entries(
    tx: &mut Tx,
    entries: &[(&NewEntry<'_>, i64)],
) -> Result<Vec<EntryRecord>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let rows = crate::sql::json(entries.iter().map(|(e, after)| {
        serde_json::json!({
            "a": e.account_id, "n": e.amount, "r": e.reason, "f": e.reference,
            "k": e.idempotency_key, "b": after, "t": e.now,
        })
    }));
    let rows_of = crate::sql::json_rows(tx.backend(), 1);
    let insert = format!(
        "INSERT INTO points_entries \
         (account_id, amount, reason, reference, idempotency_key, balance_after, created_at) \
         SELECT j.value ->> 'a', CAST(j.value ->> 'n' AS BIGINT), j.value ->> 'r', \
         j.value ->> 'f', j.value ->> 'k', CAST(j.value ->> 'b' AS BIGINT), \
         CAST(j.value ->> 't' AS BIGINT) FROM {rows_of}"
    );
    // Read back by key rather than by `RETURNING`, whose rows SQLite hands
    // over one at a time (see `crate::sql::json_agg`).
    let ids = crate::sql::json_agg(
        tx.backend(),
        "account_id, idempotency_key, id",
        &format!("SELECT e.account_id, e.idempotency_key, e.id FROM {rows_of} {BY_KEY}"),
    );
    let (ids,): (String,) = with_tx!(tx, conn => {
        sqlx::query(&insert).bind(&rows).execute(&mut *conn).await?;
        sqlx::query_as(&ids).bind(&rows).fetch_one(&mut *conn).await?
    });
    let ids: HashMap<(String, String), i64> = crate::sql::decode::<(String, String, i64)>(&ids)?
        .into_iter()
        .map(|(a, k, id)| ((a, k), id))
        .collect();
    let mut inserted = Vec::with_capacity(entries.len());
    for (entry, after) in entries {
        let key = (
            entry.account_id.to_owned(),
            entry.idempotency_key.to_owned(),
        );
        let id = *ids
            .get(&key)
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))?;
        inserted.push(EntryRecord {
            id,
            account_id: key.0,
            amount: entry.amount,
            reason: entry.reason.to_owned(),
            reference: entry.reference.map(str::to_owned),
            idempotency_key: key.1,
            balance_after: *after,
            created_at: entry.now,
        });
    }
    Ok(inserted)
}

/// Sets each account's balance in one statement, joined to each row by
/// account (a `CASE` over thousands of accounts would compare every row
/// with each of them).
async fn store_balances(tx: &mut Tx, balances: &[(&str, i64)], now: i64) -> Result<(), StoreError> {
    if balances.is_empty() {
        return Ok(());
    }
    let rows = crate::sql::json(
        balances
            .iter()
            .map(|(account, balance)| serde_json::json!({ "a": account, "b": balance })),
    );
    let update = format!(
        "UPDATE points_balances SET balance = CAST(j.value ->> 'b' AS BIGINT), updated_at = $1 \
         FROM {} WHERE points_balances.account_id = j.value ->> 'a'",
        crate::sql::json_rows(tx.backend(), 2)
    );
    with_tx!(tx, conn => sqlx::query(&update)
        .bind(now)
        .bind(&rows)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    Ok(())
}

async fn delete_balance_rows(tx: &mut Tx, accounts: &[&str]) -> Result<(), StoreError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "DELETE FROM points_balances WHERE account_id IN ({})",
        crate::sql::json_list(tx.backend(), 1)
    );
    let accounts = crate::sql::strings(accounts.iter().copied());
    with_tx!(tx, conn => sqlx::query(&sql)
        .bind(&accounts)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    Ok(())
}

/// Locks the account's balance row for the rest of `tx` (creating it at 0
/// the first time) and returns the balance; `None` when there is no such
/// account. The first step of every write to an account's points.
pub(crate) async fn lock_balance(
    tx: &mut Tx,
    account_id: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let lock_sql = format!(
        "SELECT balance FROM points_balances WHERE account_id = $1{}",
        tx.for_update()
    );
    with_tx!(tx, conn => {
        let created = sqlx::query(
            "INSERT INTO points_balances (account_id, balance, updated_at) VALUES ($1, 0, $2) \
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(now)
        .execute(&mut *conn)
        .await;
        match created {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => return Ok(None),
            other => other.map(drop)?,
        }
        let (balance,): (i64,) = sqlx::query_as(&lock_sql)
            .bind(account_id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(Some(balance))
    })
}

/// Posts `new` inside `tx`, which holds the account's balance row (see
/// [`lock_balance`]); nothing is committed here. Only [`Posted::Created`]
/// wrote anything, so a caller commits on that and drops `tx` otherwise.
pub(crate) async fn post_locked(
    tx: &mut Tx,
    new: &NewEntry<'_>,
    balance: i64,
) -> Result<Posted, StoreError> {
    let find_sql = format!(
        "SELECT {COLUMNS} FROM points_entries WHERE account_id = $1 AND idempotency_key = $2"
    );
    let insert_sql = format!(
        "INSERT INTO points_entries \
             (account_id, amount, reason, reference, idempotency_key, balance_after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    with_tx!(tx, conn => {
        // Checked only now, under the lock: a concurrent post with the same
        // key has either committed (and is seen) or not started.
        let previous: Option<EntryRecord> = sqlx::query_as(&find_sql)
            .bind(new.account_id)
            .bind(new.idempotency_key)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(entry) = previous {
            return Ok(replay_or_conflict(new, entry));
        }

        let Some(after) = balance.checked_add(new.amount) else {
            return Ok(Posted::BalanceOverflow { balance });
        };
        if after < 0 {
            return Ok(Posted::InsufficientBalance { balance });
        }
        sqlx::query("UPDATE points_balances SET balance = $2, updated_at = $3 WHERE account_id = $1")
            .bind(new.account_id)
            .bind(after)
            .bind(new.now)
            .execute(&mut *conn)
            .await?;
        let entry: EntryRecord = sqlx::query_as(&insert_sql)
            .bind(new.account_id)
            .bind(new.amount)
            .bind(new.reason)
            .bind(new.reference)
            .bind(new.idempotency_key)
            .bind(after)
            .bind(new.now)
            .fetch_one(&mut *conn)
            .await?;
        Ok(Posted::Created(entry))
    })
}

/// Credits many entries inside `tx` with a few statements in all instead
/// of four per entry: the balance rows of every account named
/// are created if need be and locked (in account order, so two batches
/// cannot deadlock), each entry's `balance_after` is computed in order,
/// the entries are inserted and each balance is moved once. Every amount
/// must be positive and every idempotency key new: a key used before fails
/// the whole batch (the unique index refuses it), which the caller's
/// transaction then rolls back. Returns each entry's balance after it.
pub(crate) async fn credit_many_locked(
    tx: &mut Tx,
    entries: &[NewEntry<'_>],
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    if let Some(bad) = entries.iter().find(|e| e.amount <= 0) {
        return Err(StoreError::Query(sqlx::Error::Protocol(format!(
            "a batch credit of {} to {}",
            bad.amount, bad.account_id
        ))));
    }
    let (mut balances, _) = lock_balances(tx, entries, now).await?;
    let mut credits = Vec::with_capacity(entries.len());
    for entry in entries {
        let balance = balances
            .get_mut(entry.account_id)
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))?;
        *balance = balance.checked_add(entry.amount).ok_or_else(|| {
            StoreError::Query(sqlx::Error::Protocol(format!(
                "the balance of {} would not fit in 64 bits",
                entry.account_id
            )))
        })?;
        credits.push((entry, *balance));
    }
    insert_entries(tx, &credits).await?;
    store_balances(tx, &moved_balances(&credits, &balances), now).await?;
    Ok(credits.into_iter().map(|(_, after)| after).collect())
}

fn replay_or_conflict(new: &NewEntry<'_>, entry: EntryRecord) -> Posted {
    if new.matches(&entry) {
        Posted::Replayed(entry)
    } else {
        Posted::KeyConflict(entry)
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

async fn find_by_key(
    db: &Database,
    account_id: &str,
    key: &str,
) -> Result<Option<EntryRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM points_entries WHERE account_id = $1 AND idempotency_key = $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(key)
        .fetch_optional(pool)
        .await)?)
}

/// The account's balance; 0 when it never had an entry.
pub async fn balance(db: &Database, account_id: &str) -> Result<i64, StoreError> {
    let row: Option<(i64,)> = with_pool!(db, pool => sqlx::query_as(
            "SELECT balance FROM points_balances WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map_or(0, |(balance,)| balance))
}

/// Up to `limit` of the account's entries, newest first, older than the
/// entry `before` when given.
pub async fn history(
    db: &Database,
    account_id: &str,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<EntryRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM points_entries \
         WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Accounts whose balance is not the sum of their entries, or whose latest
/// entry's `balance_after` is not their balance. Empty unless something
/// wrote around [`post`]; for tests and consistency checks.
pub async fn mismatched_balances(db: &Database) -> Result<Vec<String>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as::<_, (String,)>(
            "SELECT b.account_id FROM points_balances b \
             LEFT JOIN (SELECT account_id, SUM(amount) AS total, MAX(id) AS last_id \
                        FROM points_entries GROUP BY account_id) e \
                 ON e.account_id = b.account_id \
             LEFT JOIN points_entries l ON l.id = e.last_id \
             WHERE b.balance <> COALESCE(e.total, 0) \
                OR b.balance <> COALESCE(l.balance_after, 0) \
             UNION \
             SELECT DISTINCT account_id FROM points_entries \
             WHERE account_id NOT IN (SELECT account_id FROM points_balances) \
             ORDER BY 1",
        )
        .fetch_all(pool)
        .await)?
    .into_iter()
    .map(|(account,)| account)
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend};

    async fn account(db: &Database, id: &str) {
        accounts::insert(
            db,
            NewAccount {
                id,
                email: Some(&format!("{id}@example.org")),
                email_skeleton: None,
                password_hash: None,
                wallet_address: None,
                telegram_id: None,
                role: "member",
                now: 1,
            },
        )
        .await
        .unwrap();
    }

    fn entry<'a>(account_id: &'a str, amount: i64, key: &'a str) -> NewEntry<'a> {
        NewEntry {
            account_id,
            amount,
            reason: "admin_adjustment",
            reference: None,
            idempotency_key: key,
            now: 100,
        }
    }

    async fn count_entries(db: &Database) -> i64 {
        let (n,): (i64,) = with_pool!(db, pool => sqlx::query_as(
                "SELECT COUNT(*) FROM points_entries",
            )
            .fetch_one(pool)
            .await)
        .unwrap();
        n
    }

    fn created(posted: Posted) -> EntryRecord {
        match posted {
            Posted::Created(entry) => entry,
            other => panic!("expected a new entry, got {other:?}"),
        }
    }

    test_both_backends! {
        async fn points_credit_then_balance(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            assert_eq!(balance(&db, "ann").await.unwrap(), 0);

            let first = created(post(&db, NewEntry {
                reason: "task_reward",
                reference: Some("task:1"),
                ..entry("ann", 30, "task:1")
            }).await.unwrap());
            assert_eq!((first.amount, first.balance_after), (30, 30));
            assert_eq!(first.reference.as_deref(), Some("task:1"));
            let second = created(post(&db, entry("ann", -12, "fix:1")).await.unwrap());
            assert_eq!(second.balance_after, 18);
            assert!(second.id > first.id);
            assert_eq!(balance(&db, "ann").await.unwrap(), 18);
            assert!(mismatched_balances(&db).await.unwrap().is_empty());
        }

        async fn points_key_replays_the_first_entry(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            let first = created(post(&db, entry("ann", 50, "k1")).await.unwrap());
            // Later entries do not change what a replay returns.
            created(post(&db, entry("ann", 5, "k2")).await.unwrap());
            let again = post(&db, NewEntry { now: 999, ..entry("ann", 50, "k1") }).await.unwrap();
            assert_eq!(again, Posted::Replayed(first.clone()));
            assert_eq!(balance(&db, "ann").await.unwrap(), 55);
            assert_eq!(count_entries(&db).await, 2);

            // Keys are per account: Bob's k1 is another posting.
            let bobs = created(post(&db, entry("bob", 7, "k1")).await.unwrap());
            assert_eq!(bobs.balance_after, 7);
        }

        async fn points_key_reused_for_another_posting_conflicts(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            let first = created(post(&db, entry("ann", 50, "k1")).await.unwrap());
            for different in [
                entry("ann", 51, "k1"),
                NewEntry { reason: "referral", ..entry("ann", 50, "k1") },
                NewEntry { reference: Some("x"), ..entry("ann", 50, "k1") },
            ] {
                assert_eq!(post(&db, different).await.unwrap(), Posted::KeyConflict(first.clone()));
            }
            assert_eq!(balance(&db, "ann").await.unwrap(), 50);
            assert_eq!(count_entries(&db).await, 1);
        }

        async fn points_refused_debit_writes_nothing(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            // Even the balance row a first post creates is rolled back.
            assert_eq!(
                post(&db, entry("ann", -1, "d0")).await.unwrap(),
                Posted::InsufficientBalance { balance: 0 }
            );
            assert_eq!(count_entries(&db).await, 0);
            assert!(mismatched_balances(&db).await.unwrap().is_empty());
            let (rows,): (i64,) = with_pool!(&db, pool => sqlx::query_as(
                    "SELECT COUNT(*) FROM points_balances",
                ).fetch_one(pool).await).unwrap();
            assert_eq!(rows, 0);

            created(post(&db, entry("ann", 10, "c1")).await.unwrap());
            assert_eq!(
                post(&db, entry("ann", -11, "d1")).await.unwrap(),
                Posted::InsufficientBalance { balance: 10 }
            );
            assert_eq!(balance(&db, "ann").await.unwrap(), 10);
            assert_eq!(count_entries(&db).await, 1);
            // The refused key was not consumed.
            assert_eq!(created(post(&db, entry("ann", -10, "d1")).await.unwrap()).balance_after, 0);
        }

        async fn points_overflow_and_unknown_accounts_are_refused(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            created(post(&db, entry("ann", i64::MAX, "big")).await.unwrap());
            assert_eq!(
                post(&db, entry("ann", 1, "one")).await.unwrap(),
                Posted::BalanceOverflow { balance: i64::MAX }
            );
            assert_eq!(post(&db, entry("nobody", 1, "k")).await.unwrap(), Posted::NoSuchAccount);
            assert_eq!(count_entries(&db).await, 1);
        }

        async fn points_entries_are_append_only(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            created(post(&db, entry("ann", 5, "k")).await.unwrap());
            assert!(crate::execute!(&db, "UPDATE points_entries SET amount = 500").is_err());
            assert!(crate::execute!(&db, "DELETE FROM points_entries").is_err());
            assert!(crate::execute!(&db, "DELETE FROM accounts WHERE id = 'ann'").is_err());
            assert_eq!(count_entries(&db).await, 1);
        }

        async fn points_concurrent_posts_with_one_key_post_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move { post(&db, entry("ann", 25, "same")).await.unwrap() })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.unwrap());
            }
            let created: Vec<_> = outcomes.iter().filter(|o| matches!(o, Posted::Created(_))).collect();
            assert_eq!(created.len(), 1, "{outcomes:?}");
            let Posted::Created(first) = created[0] else { unreachable!() };
            for outcome in &outcomes {
                assert!(
                    matches!(outcome, Posted::Created(e) | Posted::Replayed(e) if e == first),
                    "{outcome:?}"
                );
            }
            assert_eq!(count_entries(&db).await, 1);
            assert_eq!(balance(&db, "ann").await.unwrap(), 25);
        }

        async fn points_concurrent_debits_never_overdraw(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            created(post(&db, entry("ann", 50, "fund")).await.unwrap());
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        post(&db, entry("ann", -10, &format!("spend:{i}"))).await.unwrap()
                    })
                })
                .collect();
            let mut spent = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Posted::Created(_) => spent += 1,
                    Posted::InsufficientBalance { balance } => assert!(balance < 10),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(spent, 5);
            assert_eq!(balance(&db, "ann").await.unwrap(), 0);
            assert!(mismatched_balances(&db).await.unwrap().is_empty());
        }

        async fn points_balance_is_the_sum_of_entries(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            let accounts = ["a", "b", "c"];
            for id in accounts {
                account(&db, id).await;
            }
            // A deterministic pseudo-random walk (64-bit LCG): credits,
            // debits (some refused), and replays of earlier keys.
            let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = move || {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                state >> 33
            };
            let mut expected = [0_i64; 3];
            for step in 0..120 {
                let who = (next() % 3) as usize;
                let amount = (next() % 200) as i64 - 80;
                let amount = if amount == 0 { 1 } else { amount };
                let key = if step > 10 && next() % 5 == 0 {
                    format!("k{}", next() % step)
                } else {
                    format!("k{step}")
                };
                match post(&db, entry(accounts[who], amount, &key)).await.unwrap() {
                    Posted::Created(e) => {
                        expected[who] += amount;
                        assert_eq!(e.balance_after, expected[who]);
                    }
                    Posted::InsufficientBalance { balance } => {
                        assert_eq!(balance, expected[who]);
                        assert!(balance + amount < 0);
                    }
                    Posted::Replayed(_) | Posted::KeyConflict(_) => {}
                    other => panic!("{other:?}"),
                }
            }
            for (who, id) in accounts.iter().enumerate() {
                assert_eq!(balance(&db, id).await.unwrap(), expected[who]);
            }
            assert!(mismatched_balances(&db).await.unwrap().is_empty());
        }

        async fn points_history_pages_newest_first(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            for i in 1..=5 {
                created(post(&db, entry("ann", i, &format!("k{i}"))).await.unwrap());
                created(post(&db, entry("bob", 100, &format!("k{i}"))).await.unwrap());
            }
            let page = history(&db, "ann", 2, None).await.unwrap();
            assert_eq!(page.iter().map(|e| e.amount).collect::<Vec<_>>(), [5, 4]);
            let page = history(&db, "ann", 2, Some(page[1].id)).await.unwrap();
            assert_eq!(page.iter().map(|e| e.amount).collect::<Vec<_>>(), [3, 2]);
            let page = history(&db, "ann", 2, Some(page[1].id)).await.unwrap();
            assert_eq!(page.iter().map(|e| e.amount).collect::<Vec<_>>(), [1]);
            assert!(history(&db, "carol", 10, None).await.unwrap().is_empty());
        }
    }

    test_both_backends! {
        async fn a_batch_of_credits_moves_each_balance_once_and_in_order(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            created(post(&db, entry("ann", 5, "before")).await.unwrap());

            // 2,500 credits: more than one statement's worth of rows.
            let keys: Vec<String> = (0..2_500).map(|i| format!("batch:{i}")).collect();
            let batch: Vec<NewEntry<'_>> = keys
                .iter()
                .enumerate()
                .map(|(i, key)| entry(if i % 3 == 0 { "bob" } else { "ann" }, 2, key))
                .collect();
            let mut tx = db.begin_write().await.unwrap();
            let after = credit_many_locked(&mut tx, &batch, 100).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(&after[..4], [2, 7, 9, 4], "bob 0+2, ann 5+2, ann 7+2, bob 2+2");
            assert_eq!(balance(&db, "bob").await.unwrap(), 2 * 834);
            assert_eq!(balance(&db, "ann").await.unwrap(), 5 + 2 * 1_666);
            assert_eq!(count_entries(&db).await, 2_501);

            // One key used before fails the whole batch, which writes nothing.
            let again = [entry("bob", 9, "fresh"), entry("ann", 2, "batch:7")];
            let mut tx = db.begin_write().await.unwrap();
            assert!(credit_many_locked(&mut tx, &again, 101).await.is_err());
            drop(tx);
            assert_eq!(balance(&db, "bob").await.unwrap(), 2 * 834);
            assert_eq!(count_entries(&db).await, 2_501);

            // Only credits.
            let mut tx = db.begin_write().await.unwrap();
            assert!(credit_many_locked(&mut tx, &[entry("ann", -1, "debit")], 102).await.is_err());
        }
    }

    test_both_backends! {
        async fn a_group_committed_batch_answers_each_posting_as_alone(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            created(post(&db, entry("ann", 10, "first")).await.unwrap());

            let batch = [
                entry("ann", 5, "a"),
                entry("bob", -3, "overdraw"),
                entry("ann", 10, "first"),
                entry("ann", 11, "first"),
                entry("nobody", 1, "x"),
                entry("ann", -15, "spend"),
                entry("bob", 2, "b"),
            ];
            let posted = post_batch(&db, &batch).await.unwrap();
            assert!(matches!(&posted[0], Posted::Created(e) if e.balance_after == 15));
            assert_eq!(posted[1], Posted::InsufficientBalance { balance: 0 });
            assert!(matches!(&posted[2], Posted::Replayed(e) if e.idempotency_key == "first"));
            assert!(matches!(&posted[3], Posted::KeyConflict(_)));
            assert_eq!(posted[4], Posted::NoSuchAccount);
            assert!(matches!(&posted[5], Posted::Created(e) if e.balance_after == 0));
            assert!(matches!(&posted[6], Posted::Created(e) if e.balance_after == 2));
            assert_eq!(balance(&db, "ann").await.unwrap(), 0);
            assert_eq!(balance(&db, "bob").await.unwrap(), 2);
            assert_eq!(count_entries(&db).await, 4);
            assert!(mismatched_balances(&db).await.unwrap().is_empty());

            // A key used twice in one batch posts once: the repeat replays
            // the entry the batch wrote, or conflicts with it.
            account(&db, "cat").await;
            let batch = [
                entry("bob", 4, "twice"),
                entry("bob", 4, "twice"),
                entry("bob", 5, "twice"),
                entry("cat", -1, "refused"),
            ];
            let posted = post_batch(&db, &batch).await.unwrap();
            let Posted::Created(first) = &posted[0] else { panic!("{posted:?}") };
            assert_eq!(first.balance_after, 6);
            assert_eq!(posted[1], Posted::Replayed(first.clone()));
            assert_eq!(posted[2], Posted::KeyConflict(first.clone()));
            assert_eq!(posted[3], Posted::InsufficientBalance { balance: 0 });
            assert_eq!(first, &find_by_key(&db, "bob", "twice").await.unwrap().unwrap());
            // The refused debit left not even a balance row behind.
            let (rows,): (i64,) = with_pool!(&db, pool => sqlx::query_as(
                    "SELECT COUNT(*) FROM points_balances WHERE account_id = 'cat'",
                ).fetch_one(pool).await).unwrap();
            assert_eq!(rows, 0);
            assert_eq!(count_entries(&db).await, 5);
        }
    }
}

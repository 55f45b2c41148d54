//! The outbox of the platform's own chain transactions and the contracts
//! it deployed (migration 0008).

use crate::database::{with_tx, Tx};
use crate::{execute, leases, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TxRecord {
    pub id: String,
    pub idempotency_key: String,
    pub kind: String,
    pub to_address: String,
    pub calldata: String,
    pub nonce: Option<i64>,
    pub status: String,
    pub tx_hashes: String,
    pub max_fee_per_gas: Option<String>,
    pub priority_fee: Option<String>,
    pub gas_limit: Option<i64>,
    pub sends: i64,
    pub last_sent_at: Option<i64>,
    pub mined_hash: Option<String>,
    pub mined_block: Option<i64>,
    pub succeeded: Option<bool>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TxRecord {
    /// Every hash sent for this transaction, oldest first.
    pub fn hashes(&self) -> Vec<String> {
        serde_json::from_str(&self.tx_hashes).unwrap_or_default()
    }
}

pub struct NewTx<'a> {
    pub id: &'a str,
    pub idempotency_key: &'a str,
    pub kind: &'a str,
    pub to_address: &'a str,
    pub calldata: &'a str,
    pub now: i64,
}

const COLUMNS: &str = "id, idempotency_key, kind, to_address, calldata, nonce, status, tx_hashes, \
     max_fee_per_gas, priority_fee, gas_limit, sends, last_sent_at, mined_hash, mined_block, \
     succeeded, error, created_at, updated_at";

/// Queues a transaction; with a key seen before, returns the transaction
/// queued then and queues nothing.
pub async fn enqueue(db: &Database, tx: NewTx<'_>) -> Result<TxRecord, StoreError> {
    let mut write = db.begin_write().await?;
    enqueue_in(&mut write, &tx).await?;
    write.commit().await?;
    by_key(db, tx.idempotency_key)
        .await?
        .ok_or(StoreError::Duplicate("idempotency_key"))
}

/// Queues a transaction as part of a larger write (what it is for is
/// recorded in the same commit); a key seen before queues nothing.
pub(crate) async fn enqueue_in(write: &mut Tx, tx: &NewTx<'_>) -> Result<(), StoreError> {
    with_tx!(write, conn => sqlx::query(
        "INSERT INTO chain_txs (id, idempotency_key, kind, to_address, calldata, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(tx.id)
    .bind(tx.idempotency_key)
    .bind(tx.kind)
    .bind(tx.to_address)
    .bind(tx.calldata)
    .bind(tx.now)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    Ok(())
}

/// What [`enqueue_unless_pending`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued now, or found under its key (a retry).
    Queued(TxRecord),
    /// Another transaction with the prefix is still queued or sent.
    Pending(TxRecord),
}

/// Queues `tx` unless another transaction whose key starts with `prefix`
/// (one account's claims) is queued or sent; the check and the insert are
/// one transaction, with `lock_account`'s row locked on PostgreSQL, so two
/// requests at once cannot both pass the check.
pub async fn enqueue_unless_pending(
    db: &Database,
    tx: NewTx<'_>,
    prefix: &str,
    lock_account: &str,
) -> Result<Enqueued, StoreError> {
    if let Some(existing) = by_key(db, tx.idempotency_key).await? {
        return Ok(Enqueued::Queued(existing));
    }
    let mut write = db.begin_write().await?;
    let lock = format!(
        "SELECT id FROM accounts WHERE id = $1{}",
        write.for_update()
    );
    with_tx!(&mut write, conn => sqlx::query(&lock)
        .bind(lock_account)
        .fetch_optional(&mut *conn)
        .await
        .map(drop))?;
    let pending_sql = format!(
        "SELECT {COLUMNS} FROM chain_txs WHERE substr(idempotency_key, 1, length($1)) = $1 \
         AND status IN ('queued', 'sent') ORDER BY created_at, id LIMIT 1"
    );
    let pending: Option<TxRecord> = with_tx!(&mut write, conn => sqlx::query_as(&pending_sql)
        .bind(prefix)
        .fetch_optional(&mut *conn)
        .await)?;
    if let Some(pending) = pending {
        return Ok(Enqueued::Pending(pending));
    }
    enqueue_in(&mut write, &tx).await?;
    write.commit().await?;
    let queued = by_key(db, tx.idempotency_key)
        .await?
        .ok_or(StoreError::Duplicate("idempotency_key"))?;
    Ok(Enqueued::Queued(queued))
}

pub async fn by_key(db: &Database, key: &str) -> Result<Option<TxRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM chain_txs WHERE idempotency_key = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?)
}

/// The oldest transaction whose key starts with `prefix` that is not yet on
/// chain (queued or sent).
pub async fn unsent_with_key_prefix(
    db: &Database,
    prefix: &str,
) -> Result<Option<TxRecord>, StoreError> {
    // substr, not LIKE: keys may hold `_` and `%`.
    let sql = format!(
        "SELECT {COLUMNS} FROM chain_txs WHERE substr(idempotency_key, 1, length($1)) = $1 \
         AND status IN ('queued', 'sent') ORDER BY created_at, id LIMIT 1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(prefix).fetch_optional(pool).await)?)
}

/// Whether a transaction whose key starts with `prefix` was mined and
/// reverted, at or after `since`.
pub async fn reverted_with_key_prefix_since(
    db: &Database,
    prefix: &str,
    since: i64,
) -> Result<bool, StoreError> {
    let row: Option<(i64,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT 1 FROM chain_txs WHERE substr(idempotency_key, 1, length($1)) = $1 \
         AND succeeded = $2 AND updated_at >= $3 LIMIT 1"
    )
    .bind(prefix)
    .bind(false)
    .bind(since)
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some())
}

pub async fn get(db: &Database, id: &str) -> Result<Option<TxRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM chain_txs WHERE id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
}

/// Transactions in `status`, oldest first (nonce order once they have one).
pub async fn with_status(db: &Database, status: &str) -> Result<Vec<TxRecord>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM chain_txs WHERE status = $1 ORDER BY nonce, created_at, id");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(status).fetch_all(pool).await)?)
}

/// The newest `limit` transactions that failed, newest first.
pub async fn recently_failed(db: &Database, limit: u32) -> Result<Vec<TxRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM chain_txs WHERE status = 'failed' \
         ORDER BY updated_at DESC, id LIMIT $1"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(pool).await)?)
}

/// Gives the transaction the next nonce (at least `floor`, the chain's
/// pending count), unless it already has one; returns its nonce. With a
/// `fence`, only while that fence still holds the settlement lease.
pub async fn assign_nonce(
    db: &Database,
    id: &str,
    floor: i64,
    now: i64,
    fence: Option<i64>,
) -> Result<i64, StoreError> {
    let (highest,): (Option<i64>,) = with_pool!(db, pool => sqlx::query_as(
        "SELECT MAX(nonce) FROM chain_txs"
    )
    .fetch_one(pool)
    .await)?;
    let next = highest.map_or(floor, |h| (h + 1).max(floor));
    let sql = format!(
        "UPDATE chain_txs SET nonce = $2, updated_at = $3 WHERE id = $1 AND nonce IS NULL AND {FENCED}"
    );
    let updated = execute!(db, &sql, id, next, now, fence, leases::SETTLEMENT)?;
    let record = get(db, id).await?.ok_or(StoreError::Duplicate("id"))?;
    match record.nonce {
        Some(nonce) => Ok(nonce),
        None if updated == 0 => Err(StoreError::Fenced(leases::SETTLEMENT)),
        None => Ok(next),
    }
}

/// The condition a fenced write adds, with the fence as `$4` and the
/// lease's name as `$5`: no fence, or the lease still carries it.
const FENCED: &str = "($4 IS NULL OR EXISTS (SELECT 1 FROM leases WHERE name = $5 AND fence = $4))";

/// Records one signed send (first or a fee bump) of the transaction.
pub struct Sent<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub max_fee_per_gas: &'a str,
    pub priority_fee: &'a str,
    pub gas_limit: i64,
    pub now: i64,
}

pub async fn record_send(
    db: &Database,
    sent: Sent<'_>,
    fence: Option<i64>,
) -> Result<(), StoreError> {
    let record = get(db, sent.id).await?.ok_or(StoreError::Duplicate("id"))?;
    let mut hashes = record.hashes();
    if !hashes.iter().any(|h| h == sent.hash) {
        hashes.push(sent.hash.to_owned());
    }
    let hashes = serde_json::to_string(&hashes).expect("strings serialise");
    let sql = format!(
        "UPDATE chain_txs SET status = 'sent', tx_hashes = $2, max_fee_per_gas = $3, \
             priority_fee = $6, gas_limit = $7, sends = sends + 1, last_sent_at = $8, updated_at = $8 \
         WHERE id = $1 AND status IN ('queued', 'sent') AND {FENCED}"
    );
    let updated = execute!(
        db,
        &sql,
        sent.id,
        hashes,
        sent.max_fee_per_gas,
        fence,
        leases::SETTLEMENT,
        sent.priority_fee,
        sent.gas_limit,
        sent.now
    )?;
    if updated == 0 && fence.is_some() {
        // Recorded before the broadcast: refusing it here keeps a stalled
        // former holder from sending at all.
        if let Some((_, current, _)) = leases::holder(db, leases::SETTLEMENT).await? {
            if Some(current) != fence {
                return Err(StoreError::Fenced(leases::SETTLEMENT));
            }
        }
    }
    Ok(())
}

pub async fn mark_mined(
    db: &Database,
    id: &str,
    hash: &str,
    block: i64,
    succeeded: bool,
    now: i64,
) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE chain_txs SET status = 'mined', mined_hash = $2, mined_block = $3, succeeded = $4, \
             updated_at = $5 WHERE id = $1 AND status = 'sent'",
        id,
        hash,
        block,
        succeeded,
        now
    )?;
    Ok(())
}

pub async fn mark_confirmed(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE chain_txs SET status = 'confirmed', updated_at = $2 WHERE id = $1 AND status = 'mined'",
        id,
        now
    )?;
    Ok(updated == 1)
}

/// Transactions recorded as mined (or final) with a nonce the chain has not
/// used: the blocks that held them are gone (a reorg, or a local chain
/// restarted from an older state).
pub async fn on_chain_from_nonce(db: &Database, nonce: i64) -> Result<Vec<TxRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM chain_txs WHERE nonce >= $1 AND status IN ('mined', 'confirmed') \
         ORDER BY nonce"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(nonce).fetch_all(pool).await)?)
}

/// A transaction whose block is gone goes back to `sent`, keeping its nonce
/// and hashes: the outbox re-sends it at once with the same nonce, so the
/// lost copy and the new one can never both be mined.
pub async fn back_to_sent(db: &Database, id: &str, now: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE chain_txs SET status = 'sent', mined_hash = NULL, mined_block = NULL, \
             succeeded = NULL, last_sent_at = NULL, updated_at = $2 \
         WHERE id = $1 AND status IN ('mined', 'confirmed')",
        id,
        now
    )?;
    Ok(updated == 1)
}

/// Sends a transaction again from the start: its nonce was used by a
/// transaction not in this outbox, so it needs a new one. Its old hashes
/// stay in its history. Only if the row is as the caller saw it (`sends`
/// sends, none since) and, with a `fence`, the caller still holds the
/// settlement lease: a send the caller did not see may be the one that used
/// the nonce, and must not be followed by a second copy. False otherwise.
pub async fn requeue(
    db: &Database,
    id: &str,
    now: i64,
    sends: i64,
    fence: Option<i64>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE chain_txs SET status = 'queued', nonce = NULL, updated_at = $2 \
         WHERE id = $1 AND status = 'sent' AND sends = $3 AND {FENCED}"
    );
    let updated = execute!(db, &sql, id, now, sends, fence, leases::SETTLEMENT)?;
    Ok(updated == 1)
}

/// Gives up on a transaction that never got a nonce (its simulation
/// reverts), so no nonce is left unused.
pub async fn mark_failed(db: &Database, id: &str, error: &str, now: i64) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE chain_txs SET status = 'failed', error = $2, updated_at = $3 \
         WHERE id = $1 AND status = 'queued' AND nonce IS NULL",
        id,
        error,
        now
    )?;
    Ok(())
}

/// The address of a contract the platform deployed on `chain_id`.
pub async fn contract(
    db: &Database,
    chain_id: i64,
    name: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT address, deployed_block FROM chain_contracts WHERE chain_id = $1 AND name = $2"
    )
    .bind(chain_id)
    .bind(name)
    .fetch_optional(pool)
    .await)?)
}

pub async fn save_contract(
    db: &Database,
    chain_id: i64,
    name: &str,
    address: &str,
    deployed_block: i64,
) -> Result<(), StoreError> {
    execute!(
        db,
        "INSERT INTO chain_contracts (chain_id, name, address, deployed_block) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (chain_id, name) DO UPDATE SET address = excluded.address, \
             deployed_block = excluded.deployed_block",
        chain_id,
        name,
        address,
        deployed_block
    )?;
    Ok(())
}

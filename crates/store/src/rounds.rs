//! Settlement rounds (migration 0007, docs/decisions/0007): the rounds,
//! the points each account moved into its wallet's total, and each round's
//! tree.
//!
//! Locking: settling an account holds the round's row shared and the
//! account's balance row (as [`points`](crate::points) posts do) for one
//! transaction; closing a round holds the round's row exclusively. So on
//! PostgreSQL a round cannot close while a settlement into it is under way,
//! and no settlement lands after it closed; SQLite's `BEGIN IMMEDIATE`
//! serialises both anyway.

use crate::database::{with_tx, Tx};
use crate::points::{self, EntryRecord, NewEntry, Posted};
use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoundRecord {
    pub number: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: String,
    pub root: Option<String>,
    pub leaf_count: Option<i64>,
    pub total_amount: Option<String>,
    pub closed_at: Option<i64>,
    pub publish_tx: Option<String>,
    pub published_at: Option<i64>,
    pub confirmed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SettlementRecord {
    pub round: i64,
    pub account_id: String,
    pub wallet: String,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeafRecord {
    pub round: i64,
    pub wallet: String,
    /// Decimal token base units.
    pub amount: String,
    /// JSON array of `0x`-prefixed hashes, as the caller stored it.
    pub proof: String,
}

const COLUMNS: &str = "number, starts_at, ends_at, status, root, leaf_count, total_amount, \
     closed_at, publish_tx, published_at, confirmed_at";
const SETTLEMENT_COLUMNS: &str = "round, account_id, wallet, points";
const LEAF_COLUMNS: &str = "round, wallet, amount, proof";

/// What [`open`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Created(RoundRecord),
    /// Another round is open (another instance opened it first).
    Existing(RoundRecord),
    /// The number was taken and no round is open: another instance opened
    /// and closed it in between. Read the latest round and try again.
    NumberTaken,
}

/// Opens round `number`, unless a round is open already: the partial
/// unique index `rounds_one_open` lets only one exist, so instances racing
/// to open the next round get the same one.
pub async fn open(
    db: &Database,
    number: i64,
    starts_at: i64,
    ends_at: i64,
) -> Result<Opened, StoreError> {
    // No conflict target: it covers both the number and the one-open index.
    let inserted = execute!(
        db,
        "INSERT INTO rounds (number, starts_at, ends_at, status) VALUES ($1, $2, $3, 'open') \
         ON CONFLICT DO NOTHING",
        number,
        starts_at,
        ends_at,
    )?;
    match current(db).await? {
        Some(round) if inserted == 1 && round.number == number => Ok(Opened::Created(round)),
        Some(round) => Ok(Opened::Existing(round)),
        None => Ok(Opened::NumberTaken),
    }
}

/// The open round, if any.
pub async fn current(db: &Database) -> Result<Option<RoundRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM rounds WHERE status = 'open'");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).fetch_optional(pool).await)?)
}

/// The round with the highest number, whatever its status.
pub async fn latest(db: &Database) -> Result<Option<RoundRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM rounds ORDER BY number DESC LIMIT 1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).fetch_optional(pool).await)?)
}

pub async fn get(db: &Database, number: i64) -> Result<Option<RoundRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM rounds WHERE number = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(number).fetch_optional(pool).await)?)
}

/// Up to `limit` rounds, newest first, numbered below `before` when given.
pub async fn list(
    db: &Database,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<RoundRecord>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM rounds WHERE number < $1 ORDER BY number DESC LIMIT $2");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Up to `limit` rounds in `status`, oldest first (the publisher's queue).
pub async fn with_status(
    db: &Database,
    status: &str,
    limit: u32,
) -> Result<Vec<RoundRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM rounds WHERE status = $1 ORDER BY number LIMIT $2");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

/// Accounts to settle at a close: a bound wallet and a positive balance.
/// `(account_id, wallet)`, by account id.
pub async fn accounts_to_settle(db: &Database) -> Result<Vec<(String, String)>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT a.id, a.wallet_address FROM accounts a \
             JOIN points_balances b ON b.account_id = a.id \
             WHERE a.wallet_address IS NOT NULL AND b.balance > 0 ORDER BY a.id",
        )
        .fetch_all(pool)
        .await)?)
}

/// What [`settle_account`] did. Only [`Settled::Created`] wrote anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The balance moved: the ledger's debit and the settlement row.
    Created {
        entry: EntryRecord,
        settlement: SettlementRecord,
    },
    /// The account was settled in this round before.
    Replayed(SettlementRecord),
    /// The balance is zero.
    NothingToSettle,
    /// The account's wallet is no longer `wallet` (unbound or rebound since
    /// the caller read it); its points wait for the next round.
    WalletChanged {
        bound: Option<String>,
    },
    /// The round is not open (closed by another instance, or never opened).
    RoundNotOpen,
    NoSuchAccount,
    /// The ledger refused the debit: the settlement's idempotency key was
    /// used by another posting. Never happens unless someone posted a
    /// `settlement:round:N` key by hand.
    Refused(Posted),
}

/// The ledger's idempotency key for round `round`'s settlement of an account.
pub fn settlement_key(round: i64) -> String {
    format!("settlement:round:{round}")
}

/// Moves the account's whole positive balance into `wallet`'s total for
/// `round`, at most once: one transaction writes the ledger's `settlement`
/// debit (reference `round:N`, key `settlement:round:N`) and the
/// `round_settlements` row, and a replay finds that row and writes nothing.
pub async fn settle_account(
    db: &Database,
    round: i64,
    account_id: &str,
    wallet: &str,
    now: i64,
) -> Result<Settled, StoreError> {
    let mut tx = db.begin_write().await?;
    let shared = tx.for_share();
    let status = round_status(&mut tx, round, shared).await?;
    let Some(balance) = points::lock_balance(&mut tx, account_id, now).await? else {
        return Ok(Settled::NoSuchAccount);
    };
    // Read under the balance lock, so a concurrent settlement of the same
    // account has committed its row (and is seen) or not started.
    if let Some(settlement) = find_settlement(&mut tx, round, account_id).await? {
        return Ok(Settled::Replayed(settlement));
    }
    if status.as_deref() != Some("open") {
        return Ok(Settled::RoundNotOpen);
    }
    let bound = bound_wallet(&mut tx, account_id).await?;
    if bound.as_deref() != Some(wallet) {
        return Ok(Settled::WalletChanged { bound });
    }
    if balance <= 0 {
        return Ok(Settled::NothingToSettle);
    }
    let reference = format!("round:{round}");
    let key = settlement_key(round);
    let posted = points::post_locked(
        &mut tx,
        &NewEntry {
            account_id,
            amount: -balance,
            reason: "settlement",
            reference: Some(&reference),
            idempotency_key: &key,
            now,
        },
        balance,
    )
    .await?;
    let Posted::Created(entry) = posted else {
        return Ok(Settled::Refused(posted));
    };
    let settlement = SettlementRecord {
        round,
        account_id: account_id.to_owned(),
        wallet: wallet.to_owned(),
        points: balance,
    };
    with_tx!(&mut tx, conn => sqlx::query(
            "INSERT INTO round_settlements (round, account_id, wallet, points) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(round)
        .bind(account_id)
        .bind(wallet)
        .bind(balance)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    tx.commit().await?;
    Ok(Settled::Created { entry, settlement })
}

async fn round_status(tx: &mut Tx, round: i64, lock: &str) -> Result<Option<String>, StoreError> {
    let sql = format!("SELECT status FROM rounds WHERE number = $1{lock}");
    let row: Option<(String,)> = with_tx!(tx, conn => sqlx::query_as(&sql)
        .bind(round)
        .fetch_optional(&mut *conn)
        .await)?;
    Ok(row.map(|(status,)| status))
}

async fn find_settlement(
    tx: &mut Tx,
    round: i64,
    account_id: &str,
) -> Result<Option<SettlementRecord>, StoreError> {
    let sql = format!(
        "SELECT {SETTLEMENT_COLUMNS} FROM round_settlements WHERE round = $1 AND account_id = $2"
    );
    Ok(with_tx!(tx, conn => sqlx::query_as(&sql)
        .bind(round)
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await)?)
}

async fn bound_wallet(tx: &mut Tx, account_id: &str) -> Result<Option<String>, StoreError> {
    // Shared, so the wallet cannot be unbound before the settlement commits.
    let sql = format!(
        "SELECT wallet_address FROM accounts WHERE id = $1{}",
        tx.for_share()
    );
    let row: Option<(Option<String>,)> = with_tx!(tx, conn => sqlx::query_as(&sql)
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await)?;
    Ok(row.and_then(|(wallet,)| wallet))
}

/// How many accounts were settled in `round`.
pub async fn settlement_count(db: &Database, round: i64) -> Result<i64, StoreError> {
    let (n,): (i64,) = with_pool!(db, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM round_settlements WHERE round = $1",
        )
        .bind(round)
        .fetch_one(pool)
        .await)?;
    Ok(n)
}

/// Every wallet's points settled in rounds up to `round`, by wallet. The
/// tree's amounts are these times the token units per point.
pub async fn cumulative_points(
    db: &Database,
    round: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    // PostgreSQL's SUM of BIGINT is NUMERIC; the cast fails loudly rather
    // than wraps if a total ever passes 2^63.
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT wallet, CAST(SUM(points) AS BIGINT) FROM round_settlements \
             WHERE round <= $1 GROUP BY wallet ORDER BY wallet",
        )
        .bind(round)
        .fetch_all(pool)
        .await)?)
}

/// An account's settlements, newest first.
pub async fn settlements_of(
    db: &Database,
    account_id: &str,
    limit: u32,
) -> Result<Vec<SettlementRecord>, StoreError> {
    let sql = format!(
        "SELECT {SETTLEMENT_COLUMNS} FROM round_settlements WHERE account_id = $1 \
         ORDER BY round DESC LIMIT $2"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?)
}

pub struct NewLeaf<'a> {
    pub wallet: &'a str,
    pub amount: &'a str,
    /// JSON array of `0x`-prefixed hashes.
    pub proof: &'a str,
}

pub struct ClosingRound<'a> {
    pub number: i64,
    pub root: &'a str,
    /// Decimal token base units, the sum of the leaves.
    pub total_amount: &'a str,
    pub leaves: &'a [NewLeaf<'a>],
    /// How many settlement rows of this round the tree was built from.
    pub settlements: i64,
    pub now: i64,
}

/// What [`close`] did. Only [`Closed::Closed`] wrote anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    Closed,
    /// The round has already left `open` (another instance closed it, or
    /// this one before a crash): nothing to do.
    NotOpen {
        status: String,
    },
    NoSuchRound,
    /// Settlements into the round were written after the tree was built
    /// from them: build it again.
    SettlementsChanged {
        found: i64,
    },
}

/// Stores the round's tree and moves it from `open` to `closing`, in one
/// transaction, once.
pub async fn close(db: &Database, round: ClosingRound<'_>) -> Result<Closed, StoreError> {
    let mut tx = db.begin_write().await?;
    let lock = tx.for_update();
    match round_status(&mut tx, round.number, lock).await? {
        None => return Ok(Closed::NoSuchRound),
        Some(status) if status != "open" => return Ok(Closed::NotOpen { status }),
        Some(_) => {}
    }
    let leaf_count = i64::try_from(round.leaves.len()).unwrap_or(i64::MAX);
    let closed = with_tx!(&mut tx, conn => {
        // Under the round's lock no settlement into it is in flight, so
        // this count is final; a tree built from fewer rows is stale.
        let (found,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM round_settlements WHERE round = $1",
        )
        .bind(round.number)
        .fetch_one(&mut *conn)
        .await?;
        if found != round.settlements {
            return Ok(Closed::SettlementsChanged { found });
        }
        for leaf in round.leaves {
            sqlx::query("INSERT INTO round_leaves (round, wallet, amount, proof) VALUES ($1, $2, $3, $4)")
                .bind(round.number)
                .bind(leaf.wallet)
                .bind(leaf.amount)
                .bind(leaf.proof)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "UPDATE rounds SET status = 'closing', root = $2, leaf_count = $3, \
                 total_amount = $4, closed_at = $5 \
             WHERE number = $1 AND status = 'open'",
        )
        .bind(round.number)
        .bind(round.root)
        .bind(leaf_count)
        .bind(round.total_amount)
        .bind(round.now)
        .execute(&mut *conn)
        .await?;
        Ok::<_, StoreError>(Closed::Closed)
    })?;
    if closed == Closed::Closed {
        tx.commit().await?;
    }
    Ok(closed)
}

/// A round's leaves, by wallet.
pub async fn leaves(db: &Database, round: i64) -> Result<Vec<LeafRecord>, StoreError> {
    let sql = format!("SELECT {LEAF_COLUMNS} FROM round_leaves WHERE round = $1 ORDER BY wallet");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(round).fetch_all(pool).await)?)
}

/// `wallet`'s leaf in the newest round that has a tree; `None` when that
/// round has none for it (or no round has a tree yet).
pub async fn latest_leaf(db: &Database, wallet: &str) -> Result<Option<LeafRecord>, StoreError> {
    let sql = format!(
        "SELECT {LEAF_COLUMNS} FROM round_leaves WHERE wallet = $1 \
         AND round = (SELECT MAX(number) FROM rounds WHERE status <> 'open')"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql).bind(wallet).fetch_optional(pool).await)?)
}

/// `wallet`'s leaf in the newest round whose root is on chain (published or
/// confirmed) and at most `at_most` (the round the distributor pays from).
pub async fn latest_published_leaf(
    db: &Database,
    wallet: &str,
    at_most: i64,
) -> Result<Option<LeafRecord>, StoreError> {
    let sql = format!(
        "SELECT {LEAF_COLUMNS} FROM round_leaves WHERE wallet = $1 AND round = \
             (SELECT MAX(number) FROM rounds \
              WHERE status IN ('published', 'confirmed') AND number <= $2)"
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(&sql).bind(wallet).bind(at_most).fetch_optional(pool).await)?,
    )
}

/// Records the `setRoot` transaction sent for a `closing` round; a resend
/// replaces it. False when the round is not `closing`.
pub async fn set_publish_tx(db: &Database, round: i64, tx_id: &str) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE rounds SET publish_tx = $2 WHERE number = $1 AND status = 'closing'",
        round,
        tx_id,
    )?;
    Ok(updated == 1)
}

/// `closing` → `published` once `setRoot` is mined (with the transaction
/// when the caller knows it, else the one recorded before). False when the
/// round was not `closing`.
pub async fn mark_published(
    db: &Database,
    round: i64,
    tx_id: Option<&str>,
    at: i64,
) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE rounds SET status = 'published', published_at = $2, \
             publish_tx = COALESCE($3, publish_tx) \
         WHERE number = $1 AND status = 'closing'",
        round,
        at,
        tx_id,
    )?;
    Ok(updated == 1)
}

/// `published` → `confirmed`. False when the round was not `published`.
pub async fn mark_confirmed(db: &Database, round: i64, at: i64) -> Result<bool, StoreError> {
    let updated = execute!(
        db,
        "UPDATE rounds SET status = 'confirmed', confirmed_at = $2 \
         WHERE number = $1 AND status = 'published'",
        round,
        at,
    )?;
    Ok(updated == 1)
}

/// `published`/`confirmed` → `closing` for every round above `on_chain`,
/// the round the distributor holds: their roots are no longer on chain and
/// publication takes them up again (with the transaction recorded before).
/// Returns the rounds reopened.
pub async fn reopen_above(db: &Database, on_chain: i64) -> Result<Vec<i64>, StoreError> {
    let reopened: Vec<(i64,)> = with_pool!(db, pool => sqlx::query_as(
        "UPDATE rounds SET status = 'closing', published_at = NULL, confirmed_at = NULL \
         WHERE number > $1 AND status IN ('published', 'confirmed') RETURNING number"
    )
    .bind(on_chain)
    .fetch_all(pool)
    .await)?;
    let mut numbers: Vec<i64> = reopened.into_iter().map(|(n,)| n).collect();
    numbers.sort_unstable();
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend};

    const ANN_WALLET: &str = "0x00000000000000000000000000000000000000a1";
    const BOB_WALLET: &str = "0x00000000000000000000000000000000000000b2";

    async fn account(db: &Database, id: &str, wallet: Option<&str>) {
        accounts::insert(
            db,
            NewAccount {
                id,
                email: Some(&format!("{id}@example.org")),
                email_skeleton: None,
                password_hash: Some("x"),
                wallet_address: wallet,
                telegram_id: None,
                role: "member",
                now: 1,
            },
        )
        .await
        .unwrap();
    }

    async fn credit(db: &Database, id: &str, amount: i64, key: &str) {
        let posted = points::post(
            db,
            NewEntry {
                account_id: id,
                amount,
                reason: "task_reward",
                reference: None,
                idempotency_key: key,
                now: 10,
            },
        )
        .await
        .unwrap();
        assert!(matches!(posted, Posted::Created(_)), "{posted:?}");
    }

    async fn opened(db: &Database, number: i64, starts_at: i64, ends_at: i64) -> RoundRecord {
        match open(db, number, starts_at, ends_at).await.unwrap() {
            Opened::Created(round) => round,
            other => panic!("expected a new round, got {other:?}"),
        }
    }

    fn closing<'a>(number: i64, leaves: &'a [NewLeaf<'a>], settlements: i64) -> ClosingRound<'a> {
        ClosingRound {
            number,
            root: "0xroot",
            total_amount: "0",
            leaves,
            settlements,
            now: 700,
        }
    }

    test_both_backends! {
        async fn rounds_one_open_at_a_time(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            assert_eq!(current(&db).await.unwrap(), None);
            assert_eq!(latest(&db).await.unwrap(), None);

            let first = opened(&db, 1, 0, 600).await;
            assert_eq!((first.number, first.status.as_str(), first.root.as_deref()), (1, "open", None));
            assert_eq!(open(&db, 2, 600, 1200).await.unwrap(), Opened::Existing(first.clone()));
            assert_eq!(close(&db, closing(1, &[], 0)).await.unwrap(), Closed::Closed);
            // Someone else's round 2 came and went: the number is taken.
            opened(&db, 2, 600, 1200).await;
            assert_eq!(close(&db, closing(2, &[], 0)).await.unwrap(), Closed::Closed);
            assert_eq!(open(&db, 2, 600, 1200).await.unwrap(), Opened::NumberTaken);

            // Instances racing to open round 3: one creates it, all get it.
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move { open(&db, 3, 1200, 1800).await.unwrap() })
                })
                .collect();
            let mut created = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Opened::Created(round) | Opened::Existing(round) => {
                        created += usize::from(round.number == 3 && round.starts_at == 1200);
                    }
                    Opened::NumberTaken => panic!("round 3 was never closed"),
                }
            }
            assert_eq!(created, 6);
            let page = list(&db, 2, None).await.unwrap();
            assert_eq!(page.iter().map(|r| r.number).collect::<Vec<_>>(), [3, 2]);
            let page = list(&db, 2, Some(2)).await.unwrap();
            assert_eq!(page.iter().map(|r| r.number).collect::<Vec<_>>(), [1]);
            assert_eq!(latest(&db).await.unwrap().unwrap().number, 3);
            assert_eq!(get(&db, 9).await.unwrap(), None);
        }

        async fn rounds_settle_moves_a_balance_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann", Some(ANN_WALLET)).await;
            account(&db, "bob", None).await;
            account(&db, "cat", Some(BOB_WALLET)).await;
            credit(&db, "ann", 30, "t1").await;
            credit(&db, "bob", 50, "t1").await;
            opened(&db, 1, 0, 600).await;
            assert_eq!(
                accounts_to_settle(&db).await.unwrap(),
                [("ann".to_owned(), ANN_WALLET.to_owned())]
            );

            let Settled::Created { entry, settlement } =
                settle_account(&db, 1, "ann", ANN_WALLET, 650).await.unwrap()
            else {
                panic!("ann was not settled");
            };
            assert_eq!((entry.amount, entry.balance_after, entry.created_at), (-30, 0, 650));
            assert_eq!(entry.reason, "settlement");
            assert_eq!(entry.reference.as_deref(), Some("round:1"));
            assert_eq!(entry.idempotency_key, "settlement:round:1");
            assert_eq!(settlement.points, 30);
            assert_eq!(points::balance(&db, "ann").await.unwrap(), 0);

            // A replay, even with new points since, moves nothing more.
            credit(&db, "ann", 5, "t2").await;
            assert_eq!(
                settle_account(&db, 1, "ann", ANN_WALLET, 651).await.unwrap(),
                Settled::Replayed(settlement.clone())
            );
            assert_eq!(points::balance(&db, "ann").await.unwrap(), 5);

            assert_eq!(
                settle_account(&db, 1, "bob", BOB_WALLET, 650).await.unwrap(),
                Settled::WalletChanged { bound: None }
            );
            assert_eq!(
                settle_account(&db, 1, "cat", BOB_WALLET, 650).await.unwrap(),
                Settled::NothingToSettle
            );
            assert_eq!(
                settle_account(&db, 1, "nobody", BOB_WALLET, 650).await.unwrap(),
                Settled::NoSuchAccount
            );
            assert_eq!(
                settle_account(&db, 2, "ann", ANN_WALLET, 650).await.unwrap(),
                Settled::RoundNotOpen
            );
            assert_eq!(points::balance(&db, "bob").await.unwrap(), 50);
            assert_eq!(settlement_count(&db, 1).await.unwrap(), 1);
            assert_eq!(settlements_of(&db, "ann", 10).await.unwrap(), [settlement]);
            assert!(points::mismatched_balances(&db).await.unwrap().is_empty());
        }

        async fn rounds_concurrent_settlements_settle_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann", Some(ANN_WALLET)).await;
            credit(&db, "ann", 30, "t1").await;
            opened(&db, 1, 0, 600).await;
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        settle_account(&db, 1, "ann", ANN_WALLET, 650).await.unwrap()
                    })
                })
                .collect();
            let mut created = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Settled::Created { .. } => created += 1,
                    Settled::Replayed(s) => assert_eq!(s.points, 30),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(created, 1);
            assert_eq!(cumulative_points(&db, 1).await.unwrap(), [(ANN_WALLET.to_owned(), 30)]);
            assert!(points::mismatched_balances(&db).await.unwrap().is_empty());
        }

        async fn rounds_close_stores_the_tree_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann", Some(ANN_WALLET)).await;
            account(&db, "bob", Some(BOB_WALLET)).await;
            credit(&db, "ann", 30, "t1").await;
            opened(&db, 1, 0, 600).await;
            assert!(matches!(settle_account(&db, 1, "ann", ANN_WALLET, 650).await.unwrap(), Settled::Created { .. }));
            let tree = [NewLeaf { wallet: ANN_WALLET, amount: "30", proof: "[]" }];
            assert_eq!(
                close(&db, closing(1, &tree, 0)).await.unwrap(),
                Closed::SettlementsChanged { found: 1 }
            );
            assert!(leaves_of_nothing(&db).await);
            assert_eq!(latest_leaf(&db, ANN_WALLET).await.unwrap(), None);
            assert_eq!(close(&db, closing(1, &tree, 1)).await.unwrap(), Closed::Closed);
            assert_eq!(
                close(&db, closing(1, &tree, 1)).await.unwrap(),
                Closed::NotOpen { status: "closing".into() }
            );
            assert_eq!(close(&db, closing(5, &tree, 1)).await.unwrap(), Closed::NoSuchRound);
            let round = get(&db, 1).await.unwrap().unwrap();
            assert_eq!(
                (round.status.as_str(), round.root.as_deref(), round.leaf_count, round.closed_at),
                ("closing", Some("0xroot"), Some(1), Some(700))
            );
            // Closed: no more settlements into it.
            credit(&db, "bob", 7, "t1").await;
            assert_eq!(
                settle_account(&db, 1, "bob", BOB_WALLET, 701).await.unwrap(),
                Settled::RoundNotOpen
            );
            assert_eq!(points::balance(&db, "bob").await.unwrap(), 7);

            // Round 2: the cumulative sums include every earlier round.
            opened(&db, 2, 600, 1200).await;
            credit(&db, "ann", 12, "t2").await;
            for (id, wallet) in accounts_to_settle(&db).await.unwrap() {
                assert!(matches!(settle_account(&db, 2, &id, &wallet, 1250).await.unwrap(), Settled::Created { .. }));
            }
            assert_eq!(
                cumulative_points(&db, 2).await.unwrap(),
                [(ANN_WALLET.to_owned(), 42), (BOB_WALLET.to_owned(), 7)]
            );
            assert_eq!(cumulative_points(&db, 1).await.unwrap(), [(ANN_WALLET.to_owned(), 30)]);
            let leaf = latest_leaf(&db, ANN_WALLET).await.unwrap().unwrap();
            assert_eq!((leaf.round, leaf.amount.as_str()), (1, "30"));
            assert_eq!(latest_leaf(&db, BOB_WALLET).await.unwrap(), None);
            assert_eq!(leaves(&db, 1).await.unwrap().len(), 1);
            assert_eq!(
                settlements_of(&db, "ann", 10).await.unwrap().iter().map(|s| (s.round, s.points)).collect::<Vec<_>>(),
                [(2, 12), (1, 30)]
            );
        }

        async fn rounds_publish_transitions_are_guarded(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            opened(&db, 1, 0, 600).await;
            assert!(!set_publish_tx(&db, 1, "tx-a").await.unwrap());
            assert!(!mark_published(&db, 1, None, 800).await.unwrap());
            assert!(!mark_confirmed(&db, 1, 900).await.unwrap());
            let tree = [NewLeaf { wallet: ANN_WALLET, amount: "0", proof: "[]" }];
            assert_eq!(close(&db, closing(1, &tree, 0)).await.unwrap(), Closed::Closed);
            assert_eq!(with_status(&db, "closing", 10).await.unwrap().len(), 1);
            assert!(set_publish_tx(&db, 1, "tx-a").await.unwrap());
            assert!(set_publish_tx(&db, 1, "tx-b").await.unwrap());
            assert!(!mark_confirmed(&db, 1, 900).await.unwrap());
            assert_eq!(latest_published_leaf(&db, ANN_WALLET, i64::MAX).await.unwrap(), None);
            assert!(mark_published(&db, 1, None, 800).await.unwrap());
            assert!(!mark_published(&db, 1, Some("tx-c"), 801).await.unwrap());
            assert!(!set_publish_tx(&db, 1, "tx-c").await.unwrap());
            assert!(mark_confirmed(&db, 1, 900).await.unwrap());
            assert!(!mark_confirmed(&db, 1, 901).await.unwrap());
            let round = get(&db, 1).await.unwrap().unwrap();
            assert_eq!(
                (round.status.as_str(), round.publish_tx.as_deref(), round.published_at, round.confirmed_at),
                ("confirmed", Some("tx-b"), Some(800), Some(900))
            );
            assert_eq!(latest_published_leaf(&db, ANN_WALLET, i64::MAX).await.unwrap().unwrap().round, 1);
            // The chain does not pay from round 1 yet (a timelock): no leaf.
            assert_eq!(latest_published_leaf(&db, ANN_WALLET, 0).await.unwrap(), None);
            // A newer round that is only closing does not hide the published leaf.
            opened(&db, 2, 600, 1200).await;
            assert_eq!(close(&db, closing(2, &tree, 0)).await.unwrap(), Closed::Closed);
            assert_eq!(latest_published_leaf(&db, ANN_WALLET, i64::MAX).await.unwrap().unwrap().round, 1);
            assert_eq!(latest_leaf(&db, ANN_WALLET).await.unwrap().unwrap().round, 2);
        }
    }

    async fn leaves_of_nothing(db: &Database) -> bool {
        let (n,): (i64,) =
            with_pool!(db, pool => sqlx::query_as("SELECT COUNT(*) FROM round_leaves")
            .fetch_one(pool)
            .await)
            .unwrap();
        n == 0
    }
}

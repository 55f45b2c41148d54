//! Rounds as competitions: a theme set ahead, and the pool shared out once.
//!
//! Sharing a pool is one transaction: it marks the round paid, claims every
//! scored entry not yet paid (the round's own and late ones from earlier
//! rounds), writes each entry's reward, posts it to the ledger and keeps
//! each paid member's notice. A crash leaves all of it or none, and a
//! second run finds the round paid.

use crate::database::with_tx;
use crate::notifications::{insert_many_in, Composed, Kept};
use crate::points::{credit_many_locked, NewEntry};
use crate::{with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CompetitionRecord {
    pub round: i64,
    pub theme: Option<String>,
    pub pool: Option<i64>,
    pub rule: Option<String>,
    pub paid_at: Option<i64>,
}

pub async fn get(db: &Database, round: i64) -> Result<Option<CompetitionRecord>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
        "SELECT round, theme, pool, rule, paid_at FROM competitions WHERE round = $1",
    )
    .bind(round)
    .fetch_optional(pool)
    .await)?)
}

/// Sets a round's theme. False when the round's pool was already paid.
pub async fn set_theme(db: &Database, round: i64, theme: &str) -> Result<bool, StoreError> {
    let changed = crate::execute!(
        db,
        "INSERT INTO competitions (round, theme) VALUES ($1, $2) \
         ON CONFLICT (round) DO UPDATE SET theme = excluded.theme \
         WHERE competitions.paid_at IS NULL",
        round,
        theme,
    )?;
    Ok(changed == 1)
}

/// Closed rounds whose pool is unpaid and may be paid at `now`: every
/// entry of the round has finished evaluating, or `deadline_secs` passed
/// since it ended (entries still unfinished then go to a later pool).
/// Oldest first.
pub async fn payable(db: &Database, now: i64, deadline_secs: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT r.number FROM rounds r LEFT JOIN competitions c ON c.round = r.number \
         WHERE r.ends_at <= $1 AND c.paid_at IS NULL \
         AND (r.ends_at + $2 <= $1 OR NOT EXISTS (SELECT 1 FROM submissions s \
              WHERE s.round = r.number AND s.status IN ('evaluating', 'in_review'))) \
         ORDER BY r.number LIMIT 16",
    )
    .bind(now)
    .bind(deadline_secs)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// An entry a pool is shared among. Read from a `crate::sql::json_agg`
/// row, whose arrays hold the fields in this order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PoolEntry {
    pub id: String,
    pub account_id: String,
    pub score: i64,
    pub payout_percent: i64,
    pub created_at: i64,
}

/// A credit the payout posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub submission_id: String,
    pub account_id: String,
    pub points: i64,
    pub balance_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolPaid {
    Paid {
        entries: usize,
        credits: Vec<Credit>,
        /// The notices kept for the members paid (not those who turned
        /// the kind off).
        notices: Vec<Kept>,
    },
    /// Paid before (by another instance, or before a restart).
    AlreadyPaid,
}

pub struct PoolPayout<'a> {
    pub round: i64,
    pub pool: i64,
    /// The rule as JSON, kept with the round.
    pub rule: &'a str,
    pub now: i64,
}

/// Shares `payout.pool` among the round's entries with `share`, which gets
/// the claimed entries and returns `(submission id, points)` for those that
/// earn something, and tells each credit's member what `tell` composes.
pub async fn pay<F, N>(
    db: &Database,
    payout: PoolPayout<'_>,
    share: F,
    tell: N,
) -> Result<PoolPaid, StoreError>
where
    F: FnOnce(&[PoolEntry]) -> Vec<(String, u64)>,
    N: Fn(&Credit) -> Composed,
{
    let round = payout.round;
    let mut tx = db.begin_write().await?;
    let lock = format!(
        "SELECT paid_at FROM competitions WHERE round = $1{}",
        tx.for_update()
    );
    // Read as one aggregated row, then claimed by id: `UPDATE … RETURNING`
    // hands SQLite's rows over one at a time (see `crate::sql::json_agg`).
    let payable = crate::sql::json_agg(
        tx.backend(),
        "id, account_id, score, payout_percent, created_at",
        &format!(
            "SELECT id, account_id, score, payout_percent, created_at FROM submissions \
             WHERE status = 'scored' AND paid_round IS NULL AND round <= $1 ORDER BY id{}",
            tx.for_update()
        ),
    );
    let claim = format!(
        "UPDATE submissions SET paid_round = $1, reward = 0 WHERE id IN ({})",
        crate::sql::json_list(tx.backend(), 2)
    );
    let entries: String = with_tx!(&mut tx, conn => {
        sqlx::query("INSERT INTO competitions (round) VALUES ($1) ON CONFLICT (round) DO NOTHING")
            .bind(round)
            .execute(&mut *conn)
            .await?;
        let (paid_at,): (Option<i64>,) = sqlx::query_as(&lock).bind(round).fetch_one(&mut *conn).await?;
        if paid_at.is_some() {
            return Ok(PoolPaid::AlreadyPaid);
        }
        let (entries,): (String,) = sqlx::query_as(&payable).bind(round).fetch_one(&mut *conn).await?;
        entries
    });
    let entries: Vec<PoolEntry> = crate::sql::decode(&entries)?;
    let ids = crate::sql::strings(entries.iter().map(|e| e.id.as_str()));
    with_tx!(&mut tx, conn => sqlx::query(&claim)
        .bind(round)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map(drop))?;
    let shares = share(&entries);
    let by_id: std::collections::HashMap<&str, &PoolEntry> =
        entries.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut paid: Vec<(&PoolEntry, i64)> = Vec::with_capacity(shares.len());
    for (id, points) in &shares {
        if let Some(entry) = by_id.get(id.as_str()).copied() {
            paid.push((entry, i64::try_from(*points).map_err(|_| overflow())?));
        }
    }
    // Every claimed entry's reward in one statement, joined to each row by
    // id (a `CASE` over thousands of ids would compare every row with each
    // of them).
    if !paid.is_empty() {
        let rewards = crate::sql::json(
            paid.iter()
                .map(|(entry, points)| serde_json::json!({ "id": entry.id, "n": points })),
        );
        let sql = format!(
            "UPDATE submissions SET reward = CAST(j.value ->> 'n' AS BIGINT) FROM {} \
             WHERE submissions.id = j.value ->> 'id'",
            crate::sql::json_rows(tx.backend(), 1)
        );
        with_tx!(&mut tx, conn => sqlx::query(&sql)
            .bind(&rewards)
            .execute(&mut *conn)
            .await
            .map(drop))?;
    }
    // The ledger credits, each once by its key, in one batch.
    let credited: Vec<&(&PoolEntry, i64)> = paid.iter().filter(|(_, points)| *points > 0).collect();
    let references: Vec<String> = credited
        .iter()
        .map(|(e, _)| format!("submission:{}", e.id))
        .collect();
    let keys: Vec<String> = credited
        .iter()
        .map(|(e, _)| format!("pool:{round}:{}", e.id))
        .collect();
    let new_entries: Vec<NewEntry<'_>> = credited
        .iter()
        .zip(references.iter().zip(&keys))
        .map(|((entry, points), (reference, key))| NewEntry {
            account_id: &entry.account_id,
            amount: *points,
            reason: "content_reward",
            reference: Some(reference),
            idempotency_key: key,
            now: payout.now,
        })
        .collect();
    let balances = credit_many_locked(&mut tx, &new_entries, payout.now).await?;
    let credits: Vec<Credit> = credited
        .iter()
        .zip(balances)
        .map(|((entry, points), balance_after)| Credit {
            submission_id: entry.id.clone(),
            account_id: entry.account_id.clone(),
            points: *points,
            balance_after,
        })
        .collect();
    // In one statement: told one by one after the commit, ten thousand
    // members took longer than paying them, and a crash lost the rest.
    let told: Vec<Composed> = credits.iter().map(&tell).collect();
    let notices = insert_many_in(&mut tx, &told, payout.now).await?;
    with_tx!(&mut tx, conn => sqlx::query(
        "UPDATE competitions SET pool = $2, rule = $3, paid_at = $4 WHERE round = $1",
    )
    .bind(round)
    .bind(payout.pool)
    .bind(payout.rule)
    .bind(payout.now)
    .execute(&mut *conn)
    .await
    .map(drop))?;
    tx.commit().await?;
    Ok(PoolPaid::Paid {
        entries: entries.len(),
        credits,
        notices,
    })
}

fn overflow() -> StoreError {
    StoreError::Query(sqlx::Error::Protocol(
        "a payout does not fit in 64 bits".into(),
    ))
}

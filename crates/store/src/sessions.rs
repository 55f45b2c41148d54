//! Refresh tokens, stored as hashes, grouped in families (one per sign-in).

use crate::database::with_tx;
use crate::{execute, with_pool, Database, StoreError};

pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub account_id: &'a str,
    pub user_agent: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now used, its successor stored, and any
    /// other token still live in its family superseded.
    Rotated {
        account_id: String,
        family_id: String,
    },
    /// The token had been rotated within the grace window: a concurrent
    /// refresh (two tabs, a retried request), not a copy. The successor is
    /// stored as one more live token of the family, which is not revoked.
    Repeated {
        account_id: String,
        family_id: String,
    },
    /// The token had been used before: someone holds a copy. Its family is
    /// now revoked.
    Reused {
        account_id: String,
        family_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

pub async fn insert(db: &Database, token: NewRefreshToken<'_>) -> Result<(), StoreError> {
    execute!(
        db,
        "INSERT INTO refresh_tokens \
             (token_hash, family_id, account_id, user_agent, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        token.token_hash,
        token.family_id,
        token.account_id,
        token.user_agent,
        token.now,
        token.expires_at
    )
    .map(drop)?;
    Ok(())
}

/// Uses the token with `presented_hash` and stores `successor_hash` in its
/// family, in one transaction.
///
/// A family normally has one live token. A token presented again at most
/// `grace_secs` after it was rotated gets a successor too ([`Rotation::Repeated`]),
/// so for a moment the family has two; the next rotation of either marks
/// every other one used ("superseded"). Only rotation opens the grace window,
/// and it is measured from the first rotation, so a superseded token, or a
/// copy presented later, is reuse: a copy can never outlive the window without
/// the family being revoked the next time both holders come back.
pub async fn rotate(
    db: &Database,
    presented_hash: &str,
    successor_hash: &str,
    now: i64,
    expires_at: i64,
    grace_secs: i64,
) -> Result<Rotation, StoreError> {
    // SQLite: the write lock up front (the lookup below reads, then writes).
    // PostgreSQL: the UPDATE locks the presented row, so of two concurrent
    // uses one rotates and the other, once that commits, sees it rotated.
    let mut tx = db.begin_write().await?;
    let outcome = with_tx!(&mut tx, conn => {
        let live: Option<(String, String, Option<String>)> = sqlx::query_as(&format!(
            "UPDATE refresh_tokens SET used_at = $2, rotated_at = $2 \
             WHERE token_hash = $1 AND {} RETURNING account_id, family_id, user_agent",
            live_token("refresh_tokens", "$2")
        ))
        .bind(presented_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;

        let (outcome, user_agent) = if let Some((account_id, family_id, user_agent)) = live {
            // Tokens a repeated presentation issued next to this one: from
            // now on whoever presents them is reuse.
            sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 \
                 WHERE family_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(&family_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            (Rotation::Rotated { account_id, family_id }, user_agent)
        } else {
            let previous: Option<Presented> = sqlx::query_as(
                "SELECT account_id, family_id, user_agent, used_at, rotated_at, revoked_at \
                 FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(presented_hash)
            .fetch_optional(&mut *conn)
            .await?;
            match previous {
                Some(p) if p.revoked_at.is_none()
                    && p.rotated_at.is_some_and(|at| now - at <= grace_secs) =>
                {
                    let repeated = Rotation::Repeated {
                        account_id: p.account_id,
                        family_id: p.family_id,
                    };
                    (repeated, p.user_agent)
                }
                Some(p) if p.used_at.is_some() => {
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 \
                         WHERE family_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(&p.family_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    let reused = Rotation::Reused {
                        account_id: p.account_id,
                        family_id: p.family_id,
                    };
                    (reused, None)
                }
                _ => (Rotation::Invalid, None),
            }
        };

        if let Rotation::Rotated { account_id, family_id }
        | Rotation::Repeated { account_id, family_id } = &outcome
        {
            sqlx::query(
                "INSERT INTO refresh_tokens \
                 (token_hash, family_id, account_id, user_agent, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(successor_hash)
            .bind(family_id)
            .bind(account_id)
            .bind(user_agent)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *conn)
            .await?;
        }
        outcome
    });
    tx.commit().await?;
    Ok(outcome)
}

/// A presented token that could not be rotated, as [`rotate`] reads it.
#[derive(sqlx::FromRow)]
struct Presented {
    account_id: String,
    family_id: String,
    user_agent: Option<String>,
    used_at: Option<i64>,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// Ends one sign-in (all tokens of the family). Returns how many were live.
pub async fn revoke_family(db: &Database, family_id: &str, now: i64) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        now
    )?)
}

/// Ends every sign-in of an account except `keep_family` (if any).
pub async fn revoke_account(
    db: &Database,
    account_id: &str,
    keep_family: Option<&str>,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE account_id = $1 AND revoked_at IS NULL AND family_id <> COALESCE($2, '')",
        account_id,
        keep_family,
        now
    )?)
}

/// Ends one sign-in of the account. Returns how many tokens were live: 0 when
/// the family is not this account's or has already ended.
pub async fn revoke_account_family(
    db: &Database,
    account_id: &str,
    family_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE account_id = $1 AND family_id = $2 AND revoked_at IS NULL",
        account_id,
        family_id,
        now
    )?)
}

/// The condition that the refresh token `alias` can still be presented
/// (neither used, revoked nor expired at `now`): the one definition of a
/// live token, and so of a live sign-in.
pub(crate) fn live_token(alias: &str, now: &str) -> String {
    format!("{alias}.used_at IS NULL AND {alias}.revoked_at IS NULL AND {alias}.expires_at > {now}")
}

/// The condition that `account`'s sign-in `family` can still be refreshed
/// at `now` (a live token of it exists): what every credential issued
/// under a sign-in is checked against once its own expiry is not enough.
pub(crate) fn live_family(family: &str, account: &str, now: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM refresh_tokens lt WHERE lt.family_id = {family} \
         AND lt.account_id = {account} AND {})",
        live_token("lt", now)
    )
}

/// The role of the account whose sign-in `family_id` is, while that sign-in
/// can still be refreshed (a token of it neither used, revoked nor
/// expired); `None` once it has ended. A connection that outlives its
/// access token re-checks its standing with this.
pub async fn live_role(
    db: &Database,
    family_id: &str,
    account_id: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let sql = format!(
        "SELECT a.role FROM accounts a WHERE a.id = $2 AND a.disabled_at IS NULL AND {}",
        live_family("$1", "$2", "$3")
    );
    let found: Option<(String,)> = with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(family_id)
        .bind(account_id)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
    Ok(found.map(|(role,)| role))
}

/// A sign-in that can still be refreshed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveSession {
    pub family_id: String,
    pub started_at: i64,
    /// When the session last refreshed (or started).
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
}

/// The account's live sessions, most recently active first. One row per
/// family, even while a repeated refresh has left two live tokens in it (see
/// [`rotate`]).
pub async fn list_live(
    db: &Database,
    account_id: &str,
    now: i64,
) -> Result<Vec<LiveSession>, StoreError> {
    // Every token of a family carries the sign-in's user agent, so MAX picks
    // that one value.
    let sql = format!(
            "SELECT t.family_id, \
                    (SELECT MIN(f.created_at) FROM refresh_tokens f WHERE f.family_id = t.family_id) \
                        AS started_at, \
                    MAX(t.created_at) AS last_seen_at, MAX(t.user_agent) AS user_agent \
             FROM refresh_tokens t \
             WHERE t.account_id = $1 AND {} \
             GROUP BY t.family_id \
             ORDER BY last_seen_at DESC, t.family_id",
            live_token("t", "$2")
        );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(now)
        .fetch_all(pool)
        .await)?)
}

/// The family a refresh token belongs to, if the token exists.
pub async fn family_of(db: &Database, token_hash: &str) -> Result<Option<String>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as::<_, (String,)>(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?
    .map(|(family,)| family))
}

/// Moves the account's token uses `secs` into the past, so a test can present
/// a token as if it had been rotated that long ago.
#[cfg(feature = "testing")]
pub async fn backdate_uses(db: &Database, account_id: &str, secs: i64) -> Result<u64, StoreError> {
    Ok(execute!(
        db,
        "UPDATE refresh_tokens SET used_at = used_at - $2, rotated_at = rotated_at - $2 \
             WHERE account_id = $1 AND used_at IS NOT NULL",
        account_id,
        secs
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend};

    const GRACE: i64 = 10;
    const TTL: i64 = 3600;

    async fn migrated(test_db: &TestDatabase) -> Database {
        let db = test_db.migrated().await;
        accounts::insert(
            &db,
            NewAccount {
                id: "ann",
                email: Some("ann@example.org"),
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
        insert(
            &db,
            NewRefreshToken {
                token_hash: "t0",
                family_id: "f",
                account_id: "ann",
                user_agent: Some("browser"),
                now: 100,
                expires_at: 100 + TTL,
            },
        )
        .await
        .unwrap();
        db
    }

    async fn present(db: &Database, token: &str, successor: &str, now: i64) -> Rotation {
        rotate(db, token, successor, now, now + TTL, GRACE)
            .await
            .unwrap()
    }

    fn rotated() -> Rotation {
        Rotation::Rotated {
            account_id: "ann".into(),
            family_id: "f".into(),
        }
    }

    fn repeated() -> Rotation {
        Rotation::Repeated {
            account_id: "ann".into(),
            family_id: "f".into(),
        }
    }

    fn reused() -> Rotation {
        Rotation::Reused {
            account_id: "ann".into(),
            family_id: "f".into(),
        }
    }

    test_both_backends! {
        async fn a_token_presented_again_within_the_grace_window_is_not_reuse(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = migrated(&test_db).await;
            assert_eq!(present(&db, "t0", "t1", 200).await, rotated());
            assert_eq!(present(&db, "t0", "t1b", 200 + GRACE).await, repeated());
            // Both successors are live, and the family is one session.
            assert_eq!(present(&db, "t1b", "t2b", 300).await, rotated());
            let live = list_live(&db, "ann", 300).await.unwrap();
            assert_eq!(live.len(), 1, "{live:?}");
            assert_eq!((live[0].started_at, live[0].last_seen_at), (100, 300));
            assert_eq!(live[0].user_agent.as_deref(), Some("browser"));
            db.close().await;
        }

        async fn reuse_after_the_window_revokes_the_family(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = migrated(&test_db).await;
            assert_eq!(present(&db, "t0", "t1", 200).await, rotated());
            assert_eq!(present(&db, "t0", "t1b", 205).await, repeated());
            // The window runs from the rotation, not from the last repeat.
            assert_eq!(present(&db, "t0", "t1c", 200 + GRACE + 1).await, reused());
            assert_eq!(present(&db, "t1", "t2", 212).await, Rotation::Invalid);
            assert_eq!(present(&db, "t1b", "t2b", 212).await, Rotation::Invalid);
            assert!(list_live(&db, "ann", 212).await.unwrap().is_empty());
            db.close().await;
        }

        async fn a_superseded_token_is_reuse_even_within_the_window(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = migrated(&test_db).await;
            assert_eq!(present(&db, "t0", "t1", 200).await, rotated());
            assert_eq!(present(&db, "t0", "copy", 201).await, repeated());
            // The owner rotates on; the token the repeat issued was never
            // rotated itself, so it gets no window of its own.
            assert_eq!(present(&db, "t1", "t2", 202).await, rotated());
            assert_eq!(present(&db, "copy", "t3", 203).await, reused());
            assert_eq!(present(&db, "t2", "t4", 204).await, Rotation::Invalid);
            db.close().await;
        }

        async fn a_revoked_family_gets_no_grace(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = migrated(&test_db).await;
            assert_eq!(present(&db, "t0", "t1", 200).await, rotated());
            assert_eq!(live_role(&db, "f", "ann", 200).await.unwrap().as_deref(), Some("member"),
                "a rotated session lives on in its successor");
            assert_eq!(live_role(&db, "f", "bob", 200).await.unwrap(), None, "not bob's session");
            assert_eq!(live_role(&db, "f", "ann", 200 + TTL).await.unwrap(), None, "expired");
            assert_eq!(revoke_family(&db, "f", 201).await.unwrap(), 2);
            assert_eq!(live_role(&db, "f", "ann", 201).await.unwrap(), None, "ended");
            assert_eq!(present(&db, "t0", "t1b", 202).await, reused());
            assert!(list_live(&db, "ann", 202).await.unwrap().is_empty());
            db.close().await;
        }

        async fn concurrent_presentations_both_get_a_live_token(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = migrated(&test_db).await;
            let now = 200;
            let (a, b) = tokio::join!(
                rotate(&db, "t0", "a", now, now + TTL, GRACE),
                rotate(&db, "t0", "b", now, now + TTL, GRACE),
            );
            let mut outcomes = [a.unwrap(), b.unwrap()];
            outcomes.sort_by_key(|o| matches!(o, Rotation::Repeated { .. }));
            assert_eq!(outcomes, [rotated(), repeated()]);
            assert_eq!(present(&db, "a", "a2", 201).await, rotated());
            assert_eq!(present(&db, "a", "a3", 201).await, repeated());
            db.close().await;
        }
    }
}

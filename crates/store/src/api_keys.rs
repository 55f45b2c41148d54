//! API keys, stored as hashes.

use crate::{execute, with_pool, Database, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Space-separated scope names.
    pub scopes: String,
    pub expires_at: Option<i64>,
}

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a str,
    pub expires_at: Option<i64>,
    pub now: i64,
}

const COLUMNS: &str = "id, account_id, name, prefix, created_at, last_used_at, scopes, expires_at";

pub async fn insert(db: &Database, key: NewApiKey<'_>) -> Result<ApiKeyRecord, StoreError> {
    let sql = format!(
        "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at, scopes, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(key.id)
        .bind(key.account_id)
        .bind(key.name)
        .bind(key.prefix)
        .bind(key.key_hash)
        .bind(key.now)
        .bind(key.scopes)
        .bind(key.expires_at)
        .fetch_one(pool)
        .await)?)
}

/// The account's keys that are neither revoked nor expired, newest first.
pub async fn list(
    db: &Database,
    account_id: &str,
    now: i64,
) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(now)
        .fetch_all(pool)
        .await)?)
}

/// Revokes every live key of the account (after a password change or
/// "sign out everywhere") and returns them, so the owner can be told.
pub async fn revoke_all(
    db: &Database,
    account_id: &str,
    now: i64,
) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) RETURNING {COLUMNS}"
    );
    let mut revoked: Vec<ApiKeyRecord> = with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(now)
        .fetch_all(pool)
        .await)?;
    revoked.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(revoked)
}

/// Revokes one of the account's keys; false if it has no such live key.
pub async fn revoke(
    db: &Database,
    account_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let revoked = execute!(
        db,
        "UPDATE api_keys SET revoked_at = $3 \
             WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
        id,
        account_id,
        now
    )?;
    Ok(revoked == 1)
}

#[derive(sqlx::FromRow)]
struct KeyWithRole {
    #[sqlx(flatten)]
    key: ApiKeyRecord,
    role: String,
}

/// The live (unrevoked, unexpired) key with this hash, with its account's
/// role; records the use.
pub async fn authenticate(
    db: &Database,
    key_hash: &str,
    now: i64,
) -> Result<Option<(ApiKeyRecord, String)>, StoreError> {
    let sql = "SELECT k.id, k.account_id, k.name, k.prefix, k.created_at, k.last_used_at, \
               k.scopes, k.expires_at, a.role \
               FROM api_keys k JOIN accounts a ON a.id = k.account_id \
               WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND a.disabled_at IS NULL \
               AND (k.expires_at IS NULL OR k.expires_at > $2)";
    let found: Option<KeyWithRole> = with_pool!(db, pool => sqlx::query_as(sql)
        .bind(key_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
    let Some(KeyWithRole { mut key, role }) = found else {
        return Ok(None);
    };
    if key
        .last_used_at
        .is_none_or(|t| now - t >= USE_RECORDED_EVERY_SECS)
    {
        mark_used(db, &key.id, now).await?;
        key.last_used_at = Some(now);
    }
    Ok(Some((key, role)))
}

/// A key's use is recorded at most this often: it is for people ("last
/// used"), not billing, and must not cost a write per request.
pub const USE_RECORDED_EVERY_SECS: i64 = 60;

/// Records that key `id` was used at `now`.
pub async fn mark_used(db: &Database, id: &str, now: i64) -> Result<(), StoreError> {
    execute!(
        db,
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
        id,
        now
    )
    .map(drop)
    .map_err(Into::into)
}

/// The role of the account whose key `id` is, while the key is live
/// (unrevoked, unexpired); `None` once it is not. Unlike [`authenticate`]
/// it records no use: it is the re-check of an open connection.
pub async fn live_role(db: &Database, id: &str, now: i64) -> Result<Option<String>, StoreError> {
    let sql = "SELECT a.role FROM api_keys k JOIN accounts a ON a.id = k.account_id \
               WHERE k.id = $1 AND k.revoked_at IS NULL AND a.disabled_at IS NULL \
               AND (k.expires_at IS NULL OR k.expires_at > $2)";
    let found: Option<(String,)> = with_pool!(db, pool => sqlx::query_as(sql)
        .bind(id)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
    Ok(found.map(|(role,)| role))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::testing::TestDatabase;
    use crate::{test_both_backends, Backend, PoolOptions};

    async fn key(db: &Database, id: &str, expires_at: Option<i64>) {
        insert(
            db,
            NewApiKey {
                id,
                account_id: "ann",
                name: id,
                prefix: "mt_test",
                key_hash: &format!("hash-{id}"),
                scopes: "ai read",
                expires_at,
                now: 100,
            },
        )
        .await
        .unwrap();
    }

    test_both_backends! {
        async fn api_keys_expire_and_are_revoked_all_at_once(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = Database::connect(&test_db.target, PoolOptions::default()).await.unwrap();
            db.migrate().await.unwrap();
            accounts::insert(&db, NewAccount {
                id: "ann", email: Some("ann@example.org"), email_skeleton: None, password_hash: None,
                wallet_address: None, role: "admin", now: 1,
                telegram_id: None,
            }).await.unwrap();
            key(&db, "forever", None).await;
            key(&db, "short", Some(200)).await;

            let (live, role) = authenticate(&db, "hash-short", 199).await.unwrap().unwrap();
            assert_eq!((live.id.as_str(), live.scopes.as_str(), role.as_str()), ("short", "ai read", "admin"));
            assert!(authenticate(&db, "hash-short", 200).await.unwrap().is_none(), "expired at 200");
            assert_eq!(live_role(&db, "short", 199).await.unwrap().as_deref(), Some("admin"));
            assert_eq!(live_role(&db, "short", 200).await.unwrap(), None);
            let listed: Vec<String> = list(&db, "ann", 250).await.unwrap().into_iter().map(|k| k.id).collect();
            assert_eq!(listed, ["forever"]);

            let revoked: Vec<String> = revoke_all(&db, "ann", 300).await.unwrap().into_iter().map(|k| k.id).collect();
            assert_eq!(revoked, ["forever"], "an expired key is not reported again");
            assert!(authenticate(&db, "hash-forever", 301).await.unwrap().is_none());
            assert_eq!(live_role(&db, "forever", 301).await.unwrap(), None, "revoked");
            assert!(revoke_all(&db, "ann", 302).await.unwrap().is_empty());
            db.close().await;
        }
    }
}

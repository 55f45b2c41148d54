//! The AI gateway's accounting: one usage row per request, what an account
//! or API key spent since a time, and the budgets that limit it.
//!
//! Usage rows are written once per gateway request id: a retried write
//! (`ON CONFLICT (request_id) DO NOTHING`) changes nothing, so recording
//! may be retried freely. Money is in billionths of a US dollar (`nanos`),
//! integers only.

use crate::{execute, with_pool, Database, StoreError};

/// Whose spending: an account's, whatever key it used, or one API key's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    Account(&'a str),
    ApiKey(&'a str),
}

impl<'a> Scope<'a> {
    /// The `scope_kind` stored for budgets.
    pub const fn kind(self) -> &'static str {
        match self {
            Scope::Account(_) => "account",
            Scope::ApiKey(_) => "api_key",
        }
    }

    pub const fn id(self) -> &'a str {
        match self {
            Scope::Account(id) | Scope::ApiKey(id) => id,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct NewUsage<'a> {
    pub id: &'a str,
    pub request_id: &'a str,
    pub account_id: &'a str,
    pub api_key_id: Option<&'a str>,
    pub provider: &'a str,
    pub model: &'a str,
    pub public_model: &'a str,
    /// Neither may be negative (the table refuses it).
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Not negative; 0 for an answer from the cache.
    pub cost_nanos: i64,
    pub cached: bool,
    pub status: UsageStatus,
    /// The compute node that answered (the `nodes` provider only).
    pub served_by: Option<&'a str>,
    pub now: i64,
}

/// How a request ended; stored as `ok` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageStatus {
    Ok,
    Error,
}

impl UsageStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            UsageStatus::Ok => "ok",
            UsageStatus::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageRecord {
    pub id: String,
    pub request_id: String,
    pub account_id: String,
    pub api_key_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub public_model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
    pub cached: bool,
    pub status: String,
    pub served_by: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, request_id, account_id, api_key_id, provider, model, public_model, \
     input_tokens, output_tokens, cost_nanos, cached, status, served_by, created_at";

const INSERT: &str = "INSERT INTO ai_usage (id, request_id, account_id, api_key_id, provider, \
     model, public_model, input_tokens, output_tokens, cost_nanos, cached, status, served_by, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (request_id) DO NOTHING";

/// `query` (of [`INSERT`]) with `new`'s values bound, on either backend.
macro_rules! bind_usage {
    ($query:expr, $new:expr) => {
        $query
            .bind($new.id)
            .bind($new.request_id)
            .bind($new.account_id)
            .bind($new.api_key_id)
            .bind($new.provider)
            .bind($new.model)
            .bind($new.public_model)
            .bind($new.input_tokens)
            .bind($new.output_tokens)
            .bind($new.cost_nanos)
            .bind($new.cached)
            .bind($new.status.as_str())
            .bind($new.served_by)
            .bind($new.now)
    };
}

/// Writes one request's usage; `Ok(false)` when a row with this request id
/// already exists (nothing is written, whatever the other fields say).
/// An unknown account or key is a foreign-key error.
pub async fn insert(db: &Database, new: NewUsage<'_>) -> Result<bool, StoreError> {
    let written = with_pool!(db, pool => bind_usage!(sqlx::query(INSERT), new)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(written == 1)
}

/// Writes several requests' usage in one statement, one commit for all
/// (what lets SQLite keep up with thousands of requests a second); for
/// each, whether it was written (each write has a row id of its own, by
/// which a retried request's is told apart). Any error writes none.
pub async fn insert_batch(db: &Database, rows: &[NewUsage<'_>]) -> Result<Vec<bool>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // One statement for the batch: on SQLite each statement is a hop to the
    // connection's thread, and every gateway request waits for this write.
    let rows_of = crate::sql::json_rows_once(db.backend(), 1);
    let insert = format!(
        "{rows_of}INSERT INTO ai_usage ({COLUMNS}) SELECT j.value ->> 'id', j.value ->> 'request_id', \
         j.value ->> 'account_id', j.value ->> 'api_key_id', j.value ->> 'provider', \
         j.value ->> 'model', j.value ->> 'public_model', \
         CAST(j.value ->> 'input_tokens' AS BIGINT), CAST(j.value ->> 'output_tokens' AS BIGINT), \
         CAST(j.value ->> 'cost_nanos' AS BIGINT), CAST(j.value ->> 'cached' AS BOOLEAN), \
         j.value ->> 'status', j.value ->> 'served_by', CAST(j.value ->> 'now' AS BIGINT) \
         FROM j WHERE true ON CONFLICT (request_id) DO NOTHING RETURNING id"
    );
    let batch = crate::sql::json(rows.iter().map(|new| {
        serde_json::json!({
            "id": new.id, "request_id": new.request_id, "account_id": new.account_id,
            "api_key_id": new.api_key_id, "provider": new.provider, "model": new.model,
            "public_model": new.public_model, "input_tokens": new.input_tokens,
            "output_tokens": new.output_tokens, "cost_nanos": new.cost_nanos,
            "cached": new.cached, "status": new.status.as_str(), "served_by": new.served_by,
            "now": new.now,
        })
    }));
    // Which rows were written comes back with the write itself: a request
    // recorded before (a retry) is not among them.
    let written: Vec<(String,)> = with_pool!(db, pool => sqlx::query_as(&insert)
        .bind(&batch)
        .fetch_all(pool)
        .await)?;
    let written: std::collections::HashSet<String> = written.into_iter().map(|(id,)| id).collect();
    Ok(rows.iter().map(|new| written.contains(new.id)).collect())
}

pub async fn find_by_request_id(
    db: &Database,
    request_id: &str,
) -> Result<Option<UsageRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM ai_usage WHERE request_id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(request_id)
        .fetch_optional(pool)
        .await)?)
}

/// What `scope` spent from `since` (a unix time, inclusive) on: the sum of
/// its requests' costs, 0 when there were none.
pub async fn spent_since(db: &Database, scope: Scope<'_>, since: i64) -> Result<i64, StoreError> {
    // CAST: PostgreSQL sums BIGINT into NUMERIC.
    let sql = match scope {
        Scope::Account(_) => {
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM ai_usage \
             WHERE account_id = $1 AND created_at >= $2"
        }
        Scope::ApiKey(_) => {
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM ai_usage \
             WHERE api_key_id = $1 AND created_at >= $2"
        }
    };
    let (spent,): (i64,) = with_pool!(db, pool => sqlx::query_as(sql)
        .bind(scope.id())
        .bind(since)
        .fetch_one(pool)
        .await)?;
    Ok(spent)
}

/// An account's requests to one provider's model since a time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ModelTotals {
    pub provider: String,
    pub model: String,
    pub served_by: Option<String>,
    pub requests: i64,
    /// Of `requests`: answered from the cache, and failed.
    pub cached_requests: i64,
    pub failed_requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
}

/// The account's usage from `since` (inclusive) on, per provider, model
/// and (for the compute network) serving node, costliest first.
pub async fn summary(
    db: &Database,
    account_id: &str,
    since: i64,
) -> Result<Vec<ModelTotals>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT provider, model, served_by, COUNT(*) AS requests, \
                 CAST(SUM(CASE WHEN cached THEN 1 ELSE 0 END) AS BIGINT) AS cached_requests, \
                 CAST(SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS BIGINT) AS failed_requests, \
                 CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
                 CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
                 CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos \
             FROM ai_usage WHERE account_id = $1 AND created_at >= $2 \
             GROUP BY provider, model, served_by \
             ORDER BY cost_nanos DESC, requests DESC, provider, model, served_by",
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(pool)
        .await)?)
}

/// Every account's requests to one provider's model on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyModelTotals {
    /// The day's first second (unix).
    pub day: i64,
    pub provider: String,
    pub model: String,
    pub requests: i64,
    pub failed_requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
}

/// The whole platform's usage from `since` (inclusive) on, per UTC day,
/// provider and model; days in order, costliest first within a day.
pub async fn daily_totals(db: &Database, since: i64) -> Result<Vec<DailyModelTotals>, StoreError> {
    Ok(with_pool!(db, pool => sqlx::query_as(
            "SELECT CAST(created_at / 86400 * 86400 AS BIGINT) AS day, provider, model, \
                 COUNT(*) AS requests, \
                 CAST(SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS BIGINT) AS failed_requests, \
                 CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
                 CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
                 CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos \
             FROM ai_usage WHERE created_at >= $1 \
             GROUP BY 1, provider, model \
             ORDER BY day, cost_nanos DESC, provider, model",
        )
        .bind(since)
        .fetch_all(pool)
        .await)?)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BudgetRecord {
    pub scope_kind: String,
    pub scope_id: String,
    /// `day` or `month`.
    pub period: String,
    pub limit_nanos: i64,
    pub updated_at: i64,
}

const BUDGET_COLUMNS: &str = "scope_kind, scope_id, period, limit_nanos, updated_at";

/// Sets the limit of `scope` for `period` (`day` or `month`), replacing any
/// earlier one. `limit_nanos` must not be negative (the table refuses it).
pub async fn set_budget(
    db: &Database,
    scope: Scope<'_>,
    period: &str,
    limit_nanos: i64,
    now: i64,
) -> Result<BudgetRecord, StoreError> {
    let sql = format!(
        "INSERT INTO ai_budgets (scope_kind, scope_id, period, limit_nanos, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (scope_kind, scope_id, period) \
         DO UPDATE SET limit_nanos = excluded.limit_nanos, updated_at = excluded.updated_at \
         RETURNING {BUDGET_COLUMNS}"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(scope.kind())
        .bind(scope.id())
        .bind(period)
        .bind(limit_nanos)
        .bind(now)
        .fetch_one(pool)
        .await)?)
}

/// Removes the limit; whether there was one.
pub async fn delete_budget(
    db: &Database,
    scope: Scope<'_>,
    period: &str,
) -> Result<bool, StoreError> {
    let deleted = execute!(
        db,
        "DELETE FROM ai_budgets WHERE scope_kind = $1 AND scope_id = $2 AND period = $3",
        scope.kind(),
        scope.id(),
        period,
    )?;
    Ok(deleted == 1)
}

/// The limits of `scope`, by period.
pub async fn budgets(db: &Database, scope: Scope<'_>) -> Result<Vec<BudgetRecord>, StoreError> {
    let sql = format!(
        "SELECT {BUDGET_COLUMNS} FROM ai_budgets \
         WHERE scope_kind = $1 AND scope_id = $2 ORDER BY period"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(scope.kind())
        .bind(scope.id())
        .fetch_all(pool)
        .await)?)
}

/// Every limit that applies to a request of `account_id` with `api_key_id`
/// (the account's and the key's), in one query: what is read before each
/// request is sent.
pub async fn applicable_budgets(
    db: &Database,
    account_id: &str,
    api_key_id: Option<&str>,
) -> Result<Vec<BudgetRecord>, StoreError> {
    let sql = format!(
        "SELECT {BUDGET_COLUMNS} FROM ai_budgets \
         WHERE (scope_kind = 'account' AND scope_id = $1) \
            OR (scope_kind = 'api_key' AND scope_id = $2) \
         ORDER BY scope_kind, period"
    );
    Ok(with_pool!(db, pool => sqlx::query_as(&sql)
        .bind(account_id)
        .bind(api_key_id)
        .fetch_all(pool)
        .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount};
    use crate::api_keys::{self, NewApiKey};
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

    async fn api_key(db: &Database, id: &str, account_id: &str) {
        api_keys::insert(
            db,
            NewApiKey {
                id,
                account_id,
                name: id,
                prefix: "mt_test",
                key_hash: &format!("hash-{id}"),
                scopes: "ai read",
                expires_at: None,
                now: 1,
            },
        )
        .await
        .unwrap();
    }

    fn usage<'a>(
        request_id: &'a str,
        account_id: &'a str,
        cost_nanos: i64,
        now: i64,
    ) -> NewUsage<'a> {
        NewUsage {
            id: request_id,
            request_id,
            account_id,
            api_key_id: None,
            provider: "openai",
            model: "gpt-test",
            public_model: "quality",
            input_tokens: 10,
            output_tokens: 5,
            cost_nanos,
            cached: false,
            status: UsageStatus::Ok,
            served_by: None,
            now,
        }
    }

    async fn count_rows(db: &Database) -> i64 {
        let (n,): (i64,) = with_pool!(db, pool => sqlx::query_as("SELECT COUNT(*) FROM ai_usage")
            .fetch_one(pool)
            .await)
        .unwrap();
        n
    }

    test_both_backends! {
        async fn ai_usage_insert_is_idempotent_by_request_id(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            api_key(&db, "key1", "ann").await;
            let first = NewUsage { api_key_id: Some("key1"), ..usage("r1", "ann", 700, 100) };
            assert!(insert(&db, first).await.unwrap());
            // The same request id again, even with other values and a new
            // row id, writes nothing.
            let again = NewUsage { id: "other", cost_nanos: 9_999, ..usage("r1", "ann", 700, 200) };
            assert!(!insert(&db, again).await.unwrap());
            assert_eq!(count_rows(&db).await, 1);
            let row = find_by_request_id(&db, "r1").await.unwrap().unwrap();
            assert_eq!(row, UsageRecord {
                id: "r1".into(),
                request_id: "r1".into(),
                account_id: "ann".into(),
                api_key_id: Some("key1".into()),
                provider: "openai".into(),
                model: "gpt-test".into(),
                public_model: "quality".into(),
                input_tokens: 10,
                output_tokens: 5,
                cost_nanos: 700,
                cached: false,
                status: "ok".into(),
                served_by: None,
                created_at: 100,
            });
            assert!(find_by_request_id(&db, "r2").await.unwrap().is_none());
        }

        async fn ai_usage_daily_totals_group_every_account_by_day_and_model(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            let day = 20_000 * 86_400;
            insert(&db, usage("r0", "ann", 5, day - 1)).await.unwrap();
            insert(&db, usage("r1", "ann", 700, day)).await.unwrap();
            insert(&db, usage("r2", "bob", 300, day + 86_399)).await.unwrap();
            let other = NewUsage { model: "gpt-other", ..usage("r3", "bob", 900, day + 10) };
            insert(&db, other).await.unwrap();
            let failed = NewUsage { status: UsageStatus::Error, ..usage("r4", "ann", 0, day + 86_400) };
            insert(&db, failed).await.unwrap();

            let totals = daily_totals(&db, day).await.unwrap();
            let seen: Vec<(i64, &str, i64, i64, i64)> = totals
                .iter()
                .map(|t| (t.day, t.model.as_str(), t.requests, t.failed_requests, t.cost_nanos))
                .collect();
            assert_eq!(seen, vec![
                (day, "gpt-test", 2, 0, 1_000),
                (day, "gpt-other", 1, 0, 900),
                (day + 86_400, "gpt-test", 1, 1, 0),
            ]);
            assert_eq!((totals[0].input_tokens, totals[0].output_tokens), (20, 10));
        }

        async fn ai_usage_refuses_what_cannot_be_accounted(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            assert!(insert(&db, usage("r1", "nobody", 1, 1)).await.is_err());
            let unknown_key = NewUsage { api_key_id: Some("nokey"), ..usage("r2", "ann", 1, 1) };
            assert!(insert(&db, unknown_key).await.is_err());
            assert!(insert(&db, usage("r3", "ann", -1, 1)).await.is_err());
            let tokens = NewUsage { output_tokens: -1, ..usage("r4", "ann", 1, 1) };
            assert!(insert(&db, tokens).await.is_err());
            assert_eq!(count_rows(&db).await, 0);
            // An account with usage cannot be deleted.
            assert!(insert(&db, usage("r6", "ann", 1, 1)).await.unwrap());
            assert!(execute!(&db, "DELETE FROM accounts WHERE id = 'ann'").is_err());
        }

        async fn ai_usage_batches_commit_together_or_not_at_all(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            insert(&db, usage("r1", "ann", 1, 1)).await.unwrap();
            // Each write has its own row id: "r1" again is a retry of that request.
            let retry = NewUsage { id: "r1-again", ..usage("r1", "ann", 1, 1) };
            let batch = [usage("r2", "ann", 1, 1), retry, usage("r3", "ann", 1, 1)];
            assert_eq!(insert_batch(&db, &batch).await.unwrap(), [true, false, true]);
            assert_eq!(count_rows(&db).await, 3);
            // One row the table refuses: none of the batch is written.
            let batch = [usage("r4", "ann", 1, 1), usage("r5", "nobody", 1, 1)];
            assert!(insert_batch(&db, &batch).await.is_err());
            assert_eq!(count_rows(&db).await, 3);
        }

        async fn ai_usage_spent_since_sums_per_account_and_key(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            api_key(&db, "k1", "ann").await;
            api_key(&db, "k2", "ann").await;
            let rows = [
                ("r1", "ann", None, 100, 1_000),
                ("r2", "ann", Some("k1"), 200, 1_999),
                ("r3", "ann", Some("k1"), 400, 2_000),
                ("r4", "ann", Some("k2"), 800, 2_500),
                ("r5", "bob", None, 1_600, 2_500),
            ];
            for (request_id, account_id, key, cost, now) in rows {
                let new = NewUsage { api_key_id: key, ..usage(request_id, account_id, cost, now) };
                assert!(insert(&db, new).await.unwrap());
            }
            let spent = |scope, since| {
                let db = db.clone();
                async move { spent_since(&db, scope, since).await.unwrap() }
            };
            assert_eq!(spent(Scope::Account("ann"), 0).await, 1_500);
            // `since` is inclusive.
            assert_eq!(spent(Scope::Account("ann"), 2_000).await, 1_200);
            assert_eq!(spent(Scope::Account("ann"), 2_001).await, 800);
            assert_eq!(spent(Scope::Account("ann"), 2_501).await, 0);
            assert_eq!(spent(Scope::ApiKey("k1"), 0).await, 600);
            assert_eq!(spent(Scope::ApiKey("k1"), 2_000).await, 400);
            assert_eq!(spent(Scope::ApiKey("k2"), 0).await, 800);
            assert_eq!(spent(Scope::Account("bob"), 0).await, 1_600);
            assert_eq!(spent(Scope::Account("carol"), 0).await, 0);
            assert_eq!(spent(Scope::ApiKey("nokey"), 0).await, 0);
            // Amounts past 32 bits add up exactly.
            let big = NewUsage { api_key_id: Some("k2"), ..usage("r6", "ann", 5_000_000_000_000, 3_000) };
            assert!(insert(&db, big).await.unwrap());
            assert_eq!(spent(Scope::ApiKey("k2"), 0).await, 5_000_000_000_800);
        }

        async fn ai_usage_summary_groups_by_provider_and_model(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            account(&db, "ann").await;
            account(&db, "bob").await;
            let mut n = 0;
            let mut add = |provider: &'static str, model: &'static str, account: &'static str, cost: i64, cached: bool, status: UsageStatus, now: i64| {
                n += 1;
                let db = db.clone();
                let request_id = format!("r{n}");
                async move {
                    let new = NewUsage {
                        provider,
                        model,
                        cached,
                        status,
                        ..usage(&request_id, account, cost, now)
                    };
                    assert!(insert(&db, new).await.unwrap());
                }
            };
            add("openai", "gpt-test", "ann", 300, false, UsageStatus::Ok, 10).await;
            add("openai", "gpt-test", "ann", 0, true, UsageStatus::Ok, 11).await;
            add("openai", "gpt-test", "ann", 50, false, UsageStatus::Error, 12).await;
            add("anthropic", "claude-test", "ann", 1_000, false, UsageStatus::Ok, 13).await;
            add("anthropic", "claude-test", "ann", 1_000, false, UsageStatus::Ok, 5).await; // before `since`
            add("local", "smollm2", "bob", 0, false, UsageStatus::Ok, 20).await;
            let totals = summary(&db, "ann", 10).await.unwrap();
            assert_eq!(totals, [
                ModelTotals {
                    provider: "anthropic".into(),
                    model: "claude-test".into(),
                    served_by: None,
                    requests: 1,
                    cached_requests: 0,
                    failed_requests: 0,
                    input_tokens: 10,
                    output_tokens: 5,
                    cost_nanos: 1_000,
                },
                ModelTotals {
                    provider: "openai".into(),
                    served_by: None,
                    model: "gpt-test".into(),
                    requests: 3,
                    cached_requests: 1,
                    failed_requests: 1,
                    input_tokens: 30,
                    output_tokens: 15,
                    cost_nanos: 350,
                },
            ]);
            assert!(summary(&db, "ann", 14).await.unwrap().is_empty());
            assert!(summary(&db, "carol", 0).await.unwrap().is_empty());
        }

        async fn ai_budgets_upsert_list_and_delete(backend: Backend) {
            let test_db = TestDatabase::fresh(backend).await;
            let db = test_db.migrated().await;
            let ann = Scope::Account("ann");
            let key = Scope::ApiKey("ann");
            assert!(budgets(&db, ann).await.unwrap().is_empty());
            let set = set_budget(&db, ann, "month", 5_000, 10).await.unwrap();
            assert_eq!(set, BudgetRecord {
                scope_kind: "account".into(),
                scope_id: "ann".into(),
                period: "month".into(),
                limit_nanos: 5_000,
                updated_at: 10,
            });
            set_budget(&db, ann, "day", 300, 11).await.unwrap();
            // Same id, other kind: another scope.
            set_budget(&db, key, "day", 7, 12).await.unwrap();
            let replaced = set_budget(&db, ann, "day", 400, 13).await.unwrap();
            assert_eq!((replaced.limit_nanos, replaced.updated_at), (400, 13));
            let listed = budgets(&db, ann).await.unwrap();
            assert_eq!(
                listed.iter().map(|b| (b.period.as_str(), b.limit_nanos)).collect::<Vec<_>>(),
                [("day", 400), ("month", 5_000)]
            );
            assert_eq!(budgets(&db, key).await.unwrap().len(), 1);
            let applicable = applicable_budgets(&db, "ann", Some("ann")).await.unwrap();
            assert_eq!(
                applicable.iter().map(|b| (b.scope_kind.as_str(), b.period.as_str())).collect::<Vec<_>>(),
                [("account", "day"), ("account", "month"), ("api_key", "day")]
            );
            assert_eq!(applicable_budgets(&db, "ann", None).await.unwrap().len(), 2);
            assert!(applicable_budgets(&db, "bob", Some("other")).await.unwrap().is_empty());

            assert!(set_budget(&db, ann, "week", 1, 14).await.is_err());
            assert!(set_budget(&db, ann, "day", -1, 14).await.is_err());

            assert!(delete_budget(&db, ann, "day").await.unwrap());
            assert!(!delete_budget(&db, ann, "day").await.unwrap());
            assert_eq!(budgets(&db, ann).await.unwrap().len(), 1);
            assert_eq!(budgets(&db, key).await.unwrap().len(), 1);
        }
    }
}

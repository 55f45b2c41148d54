use meritree_store::instance::ensure_instance_id;
use meritree_store::testing::TestDatabase;
use meritree_store::{test_both_backends, Backend, Database, PoolOptions};

async fn migrated(test_db: &TestDatabase) -> Database {
    let db = Database::connect(&test_db.target, PoolOptions::default())
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    db
}

test_both_backends! {
    async fn migrations_can_run_twice(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = migrated(&test_db).await;
        assert_eq!(db.backend(), backend);
        db.migrate().await.expect("second migration run is a no-op");
        db.ping().await.expect("ping");
    }

    async fn instance_id_survives_reconnects(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = migrated(&test_db).await;
        let first = ensure_instance_id(&db).await.unwrap();
        db.close().await;

        let db = migrated(&test_db).await;
        assert_eq!(ensure_instance_id(&db).await.unwrap(), first);
    }

    async fn concurrent_first_starts_agree_on_one_instance_id(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let db = migrated(&test_db).await;
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { ensure_instance_id(&db).await.unwrap() })
            })
            .collect();
        let mut ids = Vec::new();
        for handle in handles {
            ids.push(handle.await.unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }
}

#[tokio::test]
async fn a_sqlite_database_is_created_with_its_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/meritree.db");
    let target = meritree_store::DatabaseTarget::SqliteFile(path.clone());
    let db = Database::connect(&target, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_connect_error() {
    let target =
        meritree_store::DatabaseTarget::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
    let options = PoolOptions {
        acquire_timeout: std::time::Duration::from_millis(500),
        ..PoolOptions::default()
    };
    let err = Database::connect(&target, options).await.unwrap_err();
    assert!(
        matches!(
            err,
            meritree_store::StoreError::Connect {
                backend: "postgres",
                ..
            }
        ),
        "{err}"
    );
}

/// Migration 27 rebuilds SQLite's accounts table (to change its CHECK):
/// every account, and every row referring to one, is still there after.
#[tokio::test]
async fn rebuilding_sqlite_accounts_keeps_what_refers_to_them() {
    use meritree_store::DatabaseTarget;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    let test_db = TestDatabase::fresh(Backend::Sqlite).await;
    let DatabaseTarget::SqliteFile(path) = &test_db.target else {
        unreachable!("a SQLite test database is a file")
    };
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|migration| migration.version < 27)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true)
        .connect()
        .await
        .unwrap();
    before.run(&mut conn).await.unwrap();
    for sql in [
        "INSERT INTO accounts (id, email, role, created_at, updated_at, handle) \
         VALUES ('a', 'ann@example.org', 'member', 1, 1, 'ann')",
        "INSERT INTO refresh_tokens (token_hash, family_id, account_id, created_at, expires_at) \
         VALUES ('t', 'f', 'a', 1, 2)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

    let db = migrated(&test_db).await;
    let account = meritree_store::accounts::find_by_id(&db, "a")
        .await
        .unwrap()
        .expect("the account survives");
    assert_eq!(account.handle.as_deref(), Some("ann"));
    assert_eq!(account.telegram_id, None);
    let Database::Sqlite(pool, _) = &db else {
        unreachable!()
    };
    let tokens: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE account_id = 'a'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(tokens, 1, "the rebuild did not cascade into the sessions");
    // Foreign keys are on again for the platform: deleting cascades.
    sqlx::query("DELETE FROM accounts WHERE id = 'a'")
        .execute(pool)
        .await
        .unwrap();
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
}

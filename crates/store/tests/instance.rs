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

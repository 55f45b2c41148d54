//! Fresh, isolated databases for tests (feature `testing`).
//!
//! SQLite: a new file in a temporary directory. PostgreSQL: a new database on
//! the server named by `MERITREE_TEST_POSTGRES_URL`, which `scripts/test`
//! starts on loopback. A missing URL fails the test rather than skipping it,
//! so a green run always means both backends were exercised.

use sqlx::{Connection, Executor, PgConnection};

use crate::{Backend, DatabaseTarget};

pub const POSTGRES_URL_VAR: &str = "MERITREE_TEST_POSTGRES_URL";

/// A database that exists for one test. Keep it alive for the test's length:
/// dropping it removes a SQLite file (PostgreSQL databases go with the
/// throwaway server).
pub struct TestDatabase {
    pub target: DatabaseTarget,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL only: the server's admin URL and this database's name.
    postgres: Option<(String, String)>,
}

/// Runs `sql` as it is, on either backend: for tests that play someone
/// with direct access to the database (tampering, corruption).
pub async fn execute_raw(db: &crate::Database, sql: &str) {
    crate::with_pool!(db, pool => sqlx::query(sql).execute(pool).await.map(drop))
        .expect("the raw statement runs");
}

impl TestDatabase {
    pub async fn fresh(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let target = DatabaseTarget::SqliteFile(dir.path().join("meritree.db"));
                Self {
                    target,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
                    panic!("{POSTGRES_URL_VAR} is not set: run the tests through scripts/test")
                });
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to the test PostgreSQL server");
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("create a test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .expect("the test URL names a database");
                Self {
                    target: DatabaseTarget::Postgres(format!("{base}/{name}")),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }

    /// A connection to this database with every migration applied.
    pub async fn migrated(&self) -> crate::Database {
        let db = crate::Database::connect(&self.target, crate::PoolOptions::default())
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        db
    }

    /// Drops a PostgreSQL database under whoever is connected to it, as an
    /// outage would. Panics for SQLite, whose open files outlive deletion.
    pub async fn destroy(&self) {
        let (admin_url, name) = self
            .postgres
            .as_ref()
            .expect("only a PostgreSQL test database can be destroyed");
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        admin
            .execute(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#).as_str())
            .await
            .expect("drop the test database");
    }
}

/// Declares an async test once and runs it against both backends:
///
/// ```ignore
/// meritree_store::test_both_backends! {
///     async fn migrations_are_idempotent(backend: Backend) { /* ... */ }
/// }
/// ```
///
/// expands to a module `migrations_are_idempotent` with the tests `sqlite`
/// and `postgres`. The calling crate needs `tokio` as a dev-dependency.
#[macro_export]
macro_rules! test_both_backends {
    ($(async fn $name:ident($backend:ident : $ty:ty) $body:block)+) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $ty) $body

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::Backend::Sqlite).await
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::Backend::Postgres).await
            }
        }
    )+};
}

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Postgres, Sqlite, Transaction};

use crate::checkpoints::{self, Checkpoints};
use crate::StoreError;

/// Runs `$body` with `$pool` bound to whichever concrete pool `$db` holds, so
/// SQL that both backends accept is written once and compiled for each.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Database::Sqlite($pool, _) => $body,
            $crate::Database::Postgres($pool) => $body,
        }
    };
}

/// Runs one statement with its binds on whichever backend `$db` is;
/// evaluates to `Result<u64, sqlx::Error>`, the number of rows affected.
#[macro_export]
macro_rules! execute {
    ($db:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $crate::with_pool!($db, pool => sqlx::query($sql)
            $(.bind($bind))*
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
    };
}

/// Runs `$body` with `$conn` bound to the open transaction's connection,
/// whichever backend the [`Tx`] is on (the transaction counterpart of
/// [`with_pool!`]).
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::database::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::database::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

/// A transaction that reads and then writes, on either backend. Dropping it
/// without [`Tx::commit`] rolls it back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// `FOR UPDATE` on PostgreSQL, where row locks exist; nothing on SQLite,
    /// where [`Database::begin_write`] already holds the database's lock.
    pub(crate) fn for_update(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Postgres(_) => " FOR UPDATE",
        }
    }

    /// `FOR SHARE` on PostgreSQL (see [`Tx::for_update`]).
    pub(crate) fn for_share(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Postgres(_) => " FOR SHARE",
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the database lives, parsed from configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file, created with its parent directories when missing.
    SqliteFile(PathBuf),
    /// A PostgreSQL server (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseTarget {
    /// Parses a database URL: `sqlite:path`, `sqlite://path`, or a PostgreSQL URL.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url).map_err(StoreError::InvalidUrl)?;
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(url.to_owned()))?;
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            // A database that vanishes with each connection would lose every write.
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        Ok(DatabaseTarget::SqliteFile(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseTarget::SqliteFile(_) => Backend::Sqlite,
            DatabaseTarget::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Debug output never shows a PostgreSQL password.
impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::SqliteFile(path) => write!(f, "SqliteFile({})", path.display()),
            DatabaseTarget::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// A connection pool to one of the supported backends. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Database {
    /// Reads and single statements go through the first pool; transactions
    /// that write ([`Database::begin_write`]) through the second, of one
    /// connection (see [`WriterPool`]).
    Sqlite(SqlitePool, WriterPool),
    Postgres(PgPool),
}

impl Database {
    pub async fn connect(
        target: &DatabaseTarget,
        options: PoolOptions,
    ) -> Result<Self, StoreError> {
        match target {
            DatabaseTarget::SqliteFile(path) => connect_sqlite(path, options).await,
            DatabaseTarget::Postgres(url) => {
                // Every statement planned for its own parameters: a batch
                // bound as one JSON array (`sql`) looks the same to a cached
                // generic plan whatever it holds, and the plan chosen while a
                // table was small (a hash join over a scan of it) was kept as
                // the table grew, until an ANALYZE (docs/decisions/0025).
                let connect = PgConnectOptions::from_str(url)
                    .map_err(StoreError::InvalidUrl)?
                    .options([("plan_cache_mode", "force_custom_plan")]);
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(|source| StoreError::Connect {
                        backend: "postgres",
                        source,
                    })?;
                Ok(Database::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(..) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Writes a consistent copy of a SQLite database to `path` (which must
    /// not exist) while it keeps serving: `VACUUM INTO` reads one snapshot.
    /// PostgreSQL is copied with its own tools (`pg_dump`).
    pub async fn snapshot_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(pool, _) => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path.to_string_lossy().into_owned())
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Database::Postgres(_) => Err(StoreError::Unsupported(
                "a PostgreSQL database is backed up with pg_dump (see the README)",
            )),
        }
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(pool, _) => {
                // Schema changes run with foreign keys off, as SQLite's
                // documentation asks: rebuilding a table (to change a
                // CHECK) drops the old one, which with them on would
                // cascade into every table that references it. What the
                // migrations leave is checked (when one ran) before anything
                // uses it.
                let options = (*pool.connect_options()).clone().foreign_keys(false);
                let mut conn = options.connect().await?;
                let before = applied_migrations(&mut conn).await;
                sqlx::migrate!("./migrations/sqlite").run(&mut conn).await?;
                let broken = if applied_migrations(&mut conn).await == before {
                    0
                } else {
                    sqlx::query("PRAGMA foreign_key_check")
                        .fetch_all(&mut conn)
                        .await?
                        .len()
                };
                conn.close().await?;
                if broken > 0 {
                    return Err(StoreError::BrokenReferences(broken));
                }
            }
            Database::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Starts a transaction that will write after it reads.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            // A deferred SQLite transaction that reads and then writes fails
            // with SQLITE_BUSY (which busy_timeout does not retry) when
            // another writer committed in between; IMMEDIATE takes the write
            // lock up front and waits for it instead.
            Database::Sqlite(_, writer) => {
                Tx::Sqlite(writer.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Database::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Round-trips a trivial query; returns how long it took.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        execute!(self, "SELECT 1").map(drop)?;
        Ok(started.elapsed())
    }

    /// Waits for in-flight queries, then closes every connection.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool, writer) => {
                writer.pool.close().await;
                pool.close().await;
                writer.checkpoints.close().await;
            }
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// The one connection SQLite's write transactions take turns on. SQLite
/// runs one writer at a time whatever the pool holds; queueing for this
/// connection instead of for the file's lock means a waiting writer is
/// woken when the lock is free (not polling it in the busy handler), and the
/// connection's page cache stays warm, where a write on another connection
/// of the pool would have emptied it. No commit checkpoints the log: a task
/// of its own does ([`Checkpoints`]).
#[derive(Debug, Clone)]
pub struct WriterPool {
    pool: SqlitePool,
    checkpoints: Checkpoints,
}

pub(crate) async fn sqlite_pool(
    connections: u32,
    acquire_timeout: Duration,
    connect: SqliteConnectOptions,
    on_busy: busy_handler::Handler,
) -> Result<SqlitePool, StoreError> {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(acquire_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                busy_handler::install(handle.as_raw_handle(), on_busy);
                Ok(())
            })
        })
        .connect_with(connect)
        .await
        .map_err(|source| StoreError::Connect {
            backend: "sqlite",
            source,
        })
}

/// How many migrations the SQLite database has had (0 before the first).
async fn applied_migrations(conn: &mut sqlx::SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(conn)
        .await
        .unwrap_or(0)
}

/// How much of a SQLite database file is mapped into memory.
const MMAP_BYTES: u64 = 1 << 30;

/// How every connection to the SQLite file at `path` is opened.
pub(crate) fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // WAL lets readers proceed while one writer commits.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // Replaced after connecting by a handler that waits in microseconds
        // (see `busy_handler`); this one covers the connection's first steps.
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // Sorts and materialised `VALUES` lists (every batched statement)
        // build temporary tables; on a file (the default) each one opened,
        // wrote, read and unlinked a file in the system's temp directory.
        .pragma("temp_store", "memory")
        // Database pages read through a memory map, not a `pread` each:
        // every commit by another connection empties a connection's page
        // cache, so pages are read again often. Address space, not memory.
        .pragma("mmap_size", MMAP_BYTES.to_string())
        // Commits never checkpoint the log; `Checkpoints` does, off the
        // write path.
        .pragma("wal_autocheckpoint", "0")
        // A log file a burst grew is cut back when the log starts over.
        .pragma(
            "journal_size_limit",
            checkpoints::LOG_BYTES_KEPT.to_string(),
        )
}

async fn connect_sqlite(path: &Path, options: PoolOptions) -> Result<Database, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let connect = sqlite_options(path);
    let pool = sqlite_pool(
        options.max_connections,
        options.acquire_timeout,
        connect.clone(),
        busy_handler::PATIENT,
    )
    .await?;
    // A writer waits its turn as long as the busy handler would have let it
    // wait for the file's lock.
    let writer = WriterPool {
        pool: sqlite_pool(
            1,
            busy_handler::GIVE_UP_AFTER,
            connect.clone(),
            busy_handler::PATIENT,
        )
        .await?,
        // Brief: while a checkpoint that starts the log over waits for
        // readers, writers wait for it (see `Checkpoints`).
        checkpoints: Checkpoints::start(
            sqlite_pool(1, options.acquire_timeout, connect, busy_handler::BRIEF).await?,
        ),
    };
    Ok(Database::Sqlite(pool, writer))
}

/// How a SQLite connection waits for another's write lock.
///
/// SQLite's own handler (what `busy_timeout` installs) sleeps 1, 2, 5, 10,
/// 15, 20, 25 ms… between tries, so under steady write contention (the
/// evaluation workers, the ledger's writer and submissions all writing) a
/// waiting writer sleeps on for milliseconds after the lock is free, and
/// throughput collapses into sleeps. This one tries again after 25 µs,
/// doubling to at most 1 ms, and gives up once 5 s have passed, as the
/// `busy_timeout` it replaces did (docs/decisions/0015); the checkpointing
/// connection's gives up after 100 ms (docs/decisions/0044). It runs on the
/// connection's own worker thread, never on the async runtime.
pub(crate) mod busy_handler {
    use std::cell::Cell;
    use std::os::raw::{c_int, c_void};
    use std::ptr::NonNull;
    use std::time::{Duration, Instant};

    use libsqlite3_sys::sqlite3;

    pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(5);

    thread_local! {
        /// When the current wait began. sqlx runs each connection on a
        /// thread of its own, so this is the connection's.
        static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
    }

    /// The wait before try `count + 1`.
    pub(super) fn delay(count: c_int) -> Duration {
        let doublings = (count / 4).clamp(0, 6) as u32;
        Duration::from_micros((25_u64 << doublings).min(1_000))
    }

    /// What SQLite calls while a lock it needs is held elsewhere.
    pub(crate) type Handler = extern "C" fn(*mut c_void, c_int) -> c_int;

    /// For reads and writes: as long as SQLite's `busy_timeout` would wait.
    pub(crate) const PATIENT: Handler = on_busy::<{ GIVE_UP_AFTER.as_millis() as u64 }>;

    /// For the checkpoint that starts the log over: it holds writers back
    /// while it waits, so it gives up soon and tries again later.
    pub(crate) const BRIEF: Handler = on_busy::<100>;

    extern "C" fn on_busy<const GIVE_UP_AFTER_MS: u64>(_: *mut c_void, count: c_int) -> c_int {
        let now = Instant::now();
        let since = WAITING_SINCE.with(|since| {
            if count == 0 {
                since.set(Some(now));
            }
            since.get().unwrap_or(now)
        });
        if now.duration_since(since) >= Duration::from_millis(GIVE_UP_AFTER_MS) {
            return 0;
        }
        std::thread::sleep(delay(count));
        1
    }

    pub(super) fn install(db: NonNull<sqlite3>, on_busy: Handler) {
        // SAFETY: `db` is a live connection handle, held locked by the
        // caller; the callback is a plain function that touches no
        // connection state, and the null argument is never read.
        unsafe {
            libsqlite3_sys::sqlite3_busy_handler(db.as_ptr(), Some(on_busy), std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_connection_retries_within_microseconds_then_every_millisecond() {
        assert_eq!(busy_handler::delay(0), Duration::from_micros(25));
        assert_eq!(busy_handler::delay(4), Duration::from_micros(50));
        assert_eq!(busy_handler::delay(40), Duration::from_millis(1));
        // The first 24 tries wait 6.3 ms in all; SQLite's own handler has
        // slept 15 ms after its first four.
        let first: Duration = (0..24).map(busy_handler::delay).sum();
        assert_eq!(first, Duration::from_micros(6_300));
    }

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DatabaseTarget::parse("sqlite:data/m.db").unwrap(),
            DatabaseTarget::SqliteFile("data/m.db".into())
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:///var/lib/m.db?mode=rwc").unwrap(),
            DatabaseTarget::SqliteFile("/var/lib/m.db".into())
        );
        assert_eq!(
            DatabaseTarget::parse("postgres://u:p@localhost:5432/m")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseTarget::parse("postgresql://localhost/m")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
    }

    #[test]
    fn rejects_unsupported_urls() {
        for url in [
            "mysql://localhost/m",
            "",
            "sqlite:",
            "sqlite::memory:",
            "data/m.db",
        ] {
            assert!(DatabaseTarget::parse(url).is_err(), "{url:?} accepted");
        }
    }

    #[test]
    fn debug_hides_postgres_credentials() {
        let target = DatabaseTarget::parse("postgres://admin:s3cret@db/m").unwrap();
        assert!(!format!("{target:?}").contains("s3cret"));
    }
}

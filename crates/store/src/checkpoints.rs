//! SQLite's write-ahead log, copied back into the database file by a task
//! of its own rather than by the commit that happens to fill it
//! (docs/decisions/0018), and started over before it grows without end
//! (docs/decisions/0044).
//!
//! By default the connection whose commit takes the log past 1,000 pages
//! checkpoints it inside that commit: a sync of the log and one of the
//! database file, on the write path. While readers hold older snapshots the
//! log cannot start over, so it stays past the mark and every later commit
//! checkpoints again. Under the evaluation workers' load that was up to 260
//! syncs a second, most of them on the one writer connection that every
//! write transaction queues for.
//!
//! So connections never checkpoint on commit (`wal_autocheckpoint = 0`),
//! and this task runs a passive checkpoint, which waits for no reader and
//! no writer, on a connection of its own a few times a second. Closing the
//! last connection still checkpoints the whole log, as SQLite always does.
//!
//! A passive checkpoint alone lets the log start over only when no commit
//! lands while it runs. Under writes that hardly pause (a busy gateway's
//! usage rows) that is rare: the log grew by 16 MB a second, started over
//! only every few seconds, and its file, which keeps its largest size,
//! reached 290 MB within a minute. So once the log is past
//! [`RESTART_AT_PAGES`], the task follows the passive checkpoint with a
//! restarting one: it copies the little that is left, waits for readers to
//! leave the log, and the next commit writes the log from its start. While
//! it waits, writers wait; its connection gives up within 100 ms, and after
//! a restart readers held up the next waits [`RESTART_BACKOFF`].

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqlitePool;

/// How often the log is copied back. A few hundred milliseconds of writes
/// is at most a few thousand pages: the log stays small, so reads that
/// search it stay fast.
const EVERY: Duration = Duration::from_millis(250);

/// A log this long (16 MB of 4 KB pages) is started over.
const RESTART_AT_PAGES: i64 = 4_096;

/// After a restart that readers held up, how long until the next is
/// tried: a reader that outlasts one (a backup's `VACUUM INTO` reads one
/// snapshot for as long as it copies) would otherwise hold writers back for
/// 100 ms of every tick.
const RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// What a log file that grew past that (a burst between two checkpoints, a
/// large transaction) is cut back to when it starts over (SQLite's
/// `journal_size_limit`); without it the file keeps its largest size.
pub(crate) const LOG_BYTES_KEPT: u64 = 16 << 20;

/// The checkpointing task's connection; the task ends when every clone of
/// this is gone or [`Checkpoints::close`] closed it.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    pool: SqlitePool,
    _alive: Arc<()>,
}

impl Checkpoints {
    /// Starts checkpointing on `pool` (of one connection).
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let alive = Arc::new(());
        tokio::spawn(run(pool.clone(), Arc::downgrade(&alive)));
        Self {
            pool,
            _alive: alive,
        }
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn run(pool: SqlitePool, alive: Weak<()>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held_up_at: Option<Instant> = None;
    loop {
        every.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            break;
        }
        let may_restart = held_up_at.is_none_or(|at| at.elapsed() >= RESTART_BACKOFF);
        match checkpoint(&pool, may_restart).await {
            Ok(Checkpointed::Copied { .. }) => {}
            Ok(Checkpointed::Restarted) => held_up_at = None,
            Ok(Checkpointed::RestartHeldUp) => held_up_at = Some(Instant::now()),
            // The log only grows meanwhile; the next tick tries again.
            Err(error) => tracing::warn!(%error, "SQLite checkpoint failed"),
        }
    }
    pool.close().await;
}

/// What a checkpoint did.
#[derive(Debug, PartialEq, Eq)]
enum Checkpointed {
    /// Copied what it could, and left the log (this many pages) to go on.
    Copied { log_pages: i64 },
    /// Copied all of it: the next commit starts the log over.
    Restarted,
    /// Readers outlasted the restart's wait: the log goes on.
    RestartHeldUp,
}

/// Copies what it can of the log into the database file without waiting
/// for readers or writers; then, if the log is [`RESTART_AT_PAGES`] long or
/// more and `may_restart`, sees that the next commit starts it over.
async fn checkpoint(pool: &SqlitePool, may_restart: bool) -> Result<Checkpointed, sqlx::Error> {
    // Each: whether it was held up, the log's length, and how much of the
    // log is in the file (pages).
    let (_, log_pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    if log_pages < RESTART_AT_PAGES || !may_restart {
        return Ok(Checkpointed::Copied { log_pages });
    }
    let (held_up, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(pool)
        .await?;
    Ok(if held_up == 0 {
        Checkpointed::Restarted
    } else {
        Checkpointed::RestartHeldUp
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Database, DatabaseTarget, PoolOptions};

    #[tokio::test]
    async fn commits_leave_the_log_to_the_task_that_copies_it_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.db");
        let db = Database::connect(
            &DatabaseTarget::SqliteFile(file.clone()),
            PoolOptions::default(),
        )
        .await
        .unwrap();
        let Database::Sqlite(reads, _) = &db else {
            unreachable!("a SQLite target")
        };
        let (every,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(reads)
            .await
            .unwrap();
        assert_eq!(every, 0, "a commit would checkpoint");

        // 8 MB in one transaction: past SQLite's default mark of 1,000 pages.
        let mut tx = db.begin_write().await.unwrap();
        crate::database::with_tx!(&mut tx, conn => {
            sqlx::query("CREATE TABLE t (b BLOB)").execute(&mut *conn).await.unwrap();
            for _ in 0..2_000 {
                sqlx::query("INSERT INTO t VALUES (zeroblob(4000))")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
            }
        });
        tx.commit().await.unwrap();

        let started = Instant::now();
        while std::fs::metadata(&file).unwrap().len() < 8_000_000 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the log was not copied into the database file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        db.close().await;
    }

    /// A database file in a directory of its own, with a connection for
    /// writes, one for reads and the checkpointing one, as the platform
    /// opens them.
    struct Scratch {
        dir: tempfile::TempDir,
        writes: SqlitePool,
        reads: SqlitePool,
        checkpoints: SqlitePool,
    }

    impl Scratch {
        async fn new() -> Self {
            use crate::database::{busy_handler, sqlite_options, sqlite_pool};

            let dir = tempfile::tempdir().unwrap();
            let connect = sqlite_options(&dir.path().join("m.db"));
            let pool = |on_busy| sqlite_pool(1, Duration::from_secs(5), connect.clone(), on_busy);
            let scratch = Self {
                writes: pool(busy_handler::PATIENT).await.unwrap(),
                reads: pool(busy_handler::PATIENT).await.unwrap(),
                checkpoints: pool(busy_handler::BRIEF).await.unwrap(),
                dir,
            };
            sqlx::query("CREATE TABLE t (b BLOB)")
                .execute(&scratch.writes)
                .await
                .unwrap();
            scratch
        }

        /// Commits `pages` pages of rows.
        async fn write(&self, pages: i64) {
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO t SELECT zeroblob(3000) FROM n",
            )
            .bind(pages)
            .execute(&self.writes)
            .await
            .unwrap();
        }

        async fn rows(&self) -> i64 {
            let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
                .fetch_one(&self.reads)
                .await
                .unwrap();
            rows
        }

        fn log_file_bytes(&self) -> u64 {
            std::fs::metadata(self.dir.path().join("m.db-wal"))
                .unwrap()
                .len()
        }

        async fn close(self) {
            for pool in [self.checkpoints, self.reads, self.writes] {
                pool.close().await;
            }
        }
    }

    #[tokio::test]
    async fn a_log_grown_past_its_mark_is_started_over_and_cut_back() {
        let db = Scratch::new().await;
        // A burst: 20 MB of log in one commit.
        db.write(5_000).await;
        let burst = db.log_file_bytes();
        assert!(burst > LOG_BYTES_KEPT, "{burst} bytes");
        assert_eq!(
            checkpoint(&db.checkpoints, true).await.unwrap(),
            Checkpointed::Restarted
        );

        db.write(10).await;
        let after = checkpoint(&db.checkpoints, true).await.unwrap();
        assert!(
            matches!(after, Checkpointed::Copied { log_pages } if log_pages < 20),
            "the next write went to the log's end: {after:?}"
        );
        let kept = db.log_file_bytes();
        assert!(kept <= LOG_BYTES_KEPT, "the log file kept {kept} bytes");
        assert_eq!(db.rows().await, 5_010, "no write was lost");
        db.close().await;
    }

    #[tokio::test]
    async fn a_restart_gives_up_soon_on_a_reader_that_stays() {
        let db = Scratch::new().await;
        db.write(RESTART_AT_PAGES).await;

        // A reader in the log, as a backup is for as long as it copies.
        let mut backup = db.reads.begin().await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM t")
            .execute(&mut *backup)
            .await
            .unwrap();
        let started = Instant::now();
        assert_eq!(
            checkpoint(&db.checkpoints, true).await.unwrap(),
            Checkpointed::RestartHeldUp
        );
        // Writers waited for the restart: it gave up long before the 5 s
        // a writer would wait.
        assert!(started.elapsed() < Duration::from_secs(2));
        db.write(1).await;

        backup.commit().await.unwrap();
        assert_eq!(
            checkpoint(&db.checkpoints, true).await.unwrap(),
            Checkpointed::Restarted
        );
        assert_eq!(db.rows().await, RESTART_AT_PAGES + 1);
        db.close().await;
    }
}

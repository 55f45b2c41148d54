//! SQLite's write-ahead log, copied back into the database file by a task
//! of its own rather than by the commit that happens to fill it
//! (docs/decisions/0018).
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

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::sqlite::SqlitePool;

/// How often the log is copied back. A few hundred milliseconds of writes
/// is at most a few thousand pages: the log stays small, so reads that
/// search it stay fast.
const EVERY: Duration = Duration::from_millis(250);

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
    loop {
        every.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            break;
        }
        if let Err(error) = checkpoint(&pool).await {
            // The log only grows meanwhile; the next tick tries again.
            tracing::warn!(%error, "SQLite checkpoint failed");
        }
    }
    pool.close().await;
}

/// Copies what it can of the log into the database file without waiting
/// for readers or writers.
async fn checkpoint(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(pool)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

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
}

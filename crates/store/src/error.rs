use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite:…, postgres://… or postgresql://…")]
    UnsupportedUrl(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the migrated database has {0} rows referring to rows that do not exist")]
    BrokenReferences(usize),
    #[error("a row with this {0} already exists")]
    Duplicate(&'static str),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A background writer has stopped (the process is shutting down).
    #[error("the database writer has stopped")]
    WriterStopped,
    /// A write made under a lease this instance no longer holds (another
    /// instance took it over): refused, so two holders never both write.
    #[error("the {0} lease is held by another instance")]
    Fenced(&'static str),
    /// A sealed secret the configured key does not open.
    #[error("{0}")]
    Sealed(String),
    /// Not something this backend does.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Maps a unique-constraint violation to [`StoreError::Duplicate`] naming the
/// first of `columns` that the database's message mentions.
pub(crate) fn duplicate_on(err: sqlx::Error, columns: &[&'static str]) -> StoreError {
    if let sqlx::Error::Database(db_err) = &err {
        if db_err.is_unique_violation() {
            // PostgreSQL names the constraint (accounts_email_key); SQLite the
            // column (UNIQUE constraint failed: accounts.email).
            let text = format!(
                "{} {}",
                db_err.constraint().unwrap_or_default(),
                db_err.message()
            );
            if let Some(column) = columns.iter().find(|c| text.contains(*c)) {
                return StoreError::Duplicate(column);
            }
        }
    }
    StoreError::Query(err)
}

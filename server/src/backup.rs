//! `meritree backup` and `meritree restore`: everything in the data
//! directory that cannot be rebuilt, in one tar file — the SQLite database
//! (a consistent snapshot taken while the platform serves), stored images,
//! the embedded chain's state and the key that seals the database's
//! secrets (without it the restored database's sessions and second factors
//! cannot be opened; keep backups as secret as the data directory). The near-duplicate index is left out:
//! the platform rebuilds it from the database at start.
//!
//! A PostgreSQL database (which also holds the images) is backed up with
//! `pg_dump`; these commands then copy only the embedded chain's state.

use std::fs::File;
use std::path::{Path, PathBuf};

use meritree_store::{Backend, Database};

use crate::configuration::Settings;
use crate::startup;

/// Names inside the archive.
const DATABASE: &str = "meritree.db";
const IMAGES: &str = "images";
const CHAIN_STATE: &str = "anvil-state.json";
const SECRETS_KEY: &str = "secrets.key";
const ALL: [&str; 4] = [DATABASE, IMAGES, CHAIN_STATE, SECRETS_KEY];

type Error = Box<dyn std::error::Error>;

pub async fn backup(settings: &Settings, to: &Path) -> Result<(), Error> {
    if to.exists() {
        return Err(format!("{} exists; name a new file", to.display()).into());
    }
    let data_dir = &settings.storage.data_dir;
    let staging = tempfile::tempdir_in(
        to.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    // It holds the database and the secrets key: readable by its owner only.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(staging.path().join("backup.tar"))?
    };
    let mut archive = tar::Builder::new(file);
    // The chain's state first: a database newer than the chain is what the
    // settlement loop reconciles (it re-sends what the chain lacks); the
    // other way round it could not.
    let mut contents = Vec::new();
    let chain_state = data_dir.join(CHAIN_STATE);
    if chain_state.is_file() {
        let copy = staging.path().join(CHAIN_STATE);
        copy_complete_json(&chain_state, &copy)?;
        archive.append_path_with_name(&copy, CHAIN_STATE)?;
        contents.push(CHAIN_STATE);
    }
    let key_file = settings.storage.secrets_key_path();
    if key_file.is_file() {
        archive.append_path_with_name(&key_file, SECRETS_KEY)?;
        contents.push(SECRETS_KEY);
    } else {
        tracing::warn!("the secrets key comes from the environment: keep it with this backup");
    }
    let target = settings.storage.database_target()?;
    if target.backend() == Backend::Sqlite {
        let db = Database::connect(&target, settings.storage.pool_options()).await?;
        let snapshot = staging.path().join(DATABASE);
        db.snapshot_into(&snapshot).await?;
        db.close().await;
        archive.append_path_with_name(&snapshot, DATABASE)?;
        contents.push(DATABASE);
        let images = data_dir.join(IMAGES);
        if images.is_dir() {
            archive.append_dir_all(IMAGES, &images)?;
            contents.push(IMAGES);
        }
    } else {
        tracing::warn!("the database is PostgreSQL: back it up with pg_dump (see the README); only the chain's state is in this file");
    }
    archive.into_inner()?.sync_all()?;
    // Complete or absent: the file appears under its name only when written.
    std::fs::rename(staging.path().join("backup.tar"), to)?;
    println!("backed up {} to {}", contents.join(", "), to.display());
    Ok(())
}

pub async fn restore(settings: &Settings, from: &Path, force: bool) -> Result<(), Error> {
    let data_dir = &settings.storage.data_dir;
    let target = settings.storage.database_target()?;
    let sqlite = target.backend() == Backend::Sqlite;
    let existing: Vec<PathBuf> = ALL
        .iter()
        .filter_map(|name| destination(settings, name))
        .filter(|path| path.exists())
        .collect();
    if !existing.is_empty() && !force {
        return Err(format!(
            "{} already holds a platform ({}); restore into an empty data directory, or pass --force to replace it",
            data_dir.display(),
            existing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
        .into());
    }
    std::fs::create_dir_all(data_dir)?;
    // Unpacked beside the data directory, checked, then moved in.
    let staging = tempfile::tempdir_in(data_dir)?;
    let mut archive = tar::Archive::new(File::open(from)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let first = path
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .to_owned();
        if !ALL.contains(&first.as_str()) {
            return Err(format!(
                "{} is not a Meritree backup: it holds {}",
                from.display(),
                path.display()
            )
            .into());
        }
        // Files and directories only: a link could point anywhere.
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(format!(
                "{} holds {}, which is neither a file nor a directory",
                from.display(),
                path.display()
            )
            .into());
        }
        // `unpack_in` refuses paths that would leave the directory.
        if !entry.unpack_in(staging.path())? {
            return Err(
                format!("{} holds an unsafe path {}", from.display(), path.display()).into(),
            );
        }
    }
    let restored_db = staging.path().join(DATABASE);
    if sqlite && !restored_db.is_file() {
        return Err(format!(
            "{} holds no SQLite database (a backup of a PostgreSQL platform?)",
            from.display()
        )
        .into());
    }
    for name in ALL {
        let source = staging.path().join(name);
        let Some(destination) = destination(settings, name) else {
            continue;
        };
        if !source.exists() {
            continue;
        }
        if let Some(dir) = destination.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Beside the destination first (it may be on another file system),
        // so what it replaces goes only once the new one is whole.
        let mut beside = destination.clone().into_os_string();
        beside.push(".restoring");
        let beside = PathBuf::from(beside);
        remove_any(&beside)?;
        if std::fs::rename(&source, &beside).is_err() {
            copy_all(&source, &beside)?;
        }
        remove_any(&destination)?;
        if name == DATABASE {
            // A write-ahead log of the replaced database must not be replayed over it.
            for suffix in ["-wal", "-shm"] {
                let mut side = destination.clone().into_os_string();
                side.push(suffix);
                remove_any(Path::new(&side))?;
            }
        }
        std::fs::rename(&beside, &destination)?;
    }
    // Migrations a newer binary brings are applied now, not at the first request.
    if sqlite {
        startup::connect_and_migrate(settings).await?.close().await;
    }
    println!("restored {} into {}", from.display(), data_dir.display());
    Ok(())
}

/// Where an archive member goes back to; `None` for the database when it
/// is PostgreSQL.
fn destination(settings: &Settings, name: &str) -> Option<PathBuf> {
    match name {
        DATABASE => match settings.storage.database_target().ok()? {
            meritree_store::DatabaseTarget::SqliteFile(path) => Some(path),
            meritree_store::DatabaseTarget::Postgres(_) => None,
        },
        SECRETS_KEY => Some(settings.storage.secrets_key_path()),
        other => Some(settings.storage.data_dir.join(other)),
    }
}

/// anvil rewrites its state file every few seconds: copies it until the
/// copy is whole JSON.
fn copy_complete_json(from: &Path, to: &Path) -> Result<(), Error> {
    for _ in 0..20 {
        let bytes = std::fs::read(from)?;
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            std::fs::write(to, bytes)?;
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("{} is not complete JSON; try again", from.display()).into())
}

/// Copies a file, or a directory of files, across file systems.
fn copy_all(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_all(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(drop)
    }
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

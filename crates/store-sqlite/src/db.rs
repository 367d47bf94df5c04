//! Opening the database file: its connections and its migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keyward_store::{Key, StoreError};
use rusqlite::{Connection, OpenFlags};

use crate::migrate;

/// Maps a SQLite error; a UNIQUE violation becomes `Conflict`, so callers can
/// tell "taken" from "broken".
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, message) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            StoreError::Conflict(key_of(message.as_deref().unwrap_or_default()))
        }
        other => StoreError::database(other),
    }
}

/// The key a unique index guards, by the columns SQLite names in its
/// message ("UNIQUE constraint failed: users.home_id, users.code_mac"):
/// SQLite does not name the index. Column names only, never values.
fn key_of(message: &str) -> Key {
    let columns = message.strip_prefix("UNIQUE constraint failed: ").unwrap_or(message);
    match columns {
        "users.home_id, users.code_mac" => Key::UserCode,
        "channels.home_id, channels.name" => Key::ChannelName,
        "locks.device_protocol, locks.device_node"
        | "locks.device_protocol, locks.device_name"
        | "locks.device_protocol, locks.device_ieee"
        | "sensors.device_protocol, sensors.device_address"
        | "sirens.device_protocol, sirens.device_address" => Key::DeviceBinding,
        "owners.email" => Key::OwnerEmail,
        other => Key::Other(other.to_owned()),
    }
}

/// Opens (and, with `create`, makes) the database and brings its schema up
/// to date. Returns the read-write connection for the writer, and whether
/// this call made the database. Writes go through the
/// [`crate::writer::Writer`]; reads through the [`crate::readers::Readers`]
/// (WAL lets them run beside the writer).
pub(crate) fn open(path: &Path, create: bool) -> Result<(Connection, bool), StoreError> {
    // An empty file is an empty database to SQLite: a new one, too.
    let created = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    if created && !create {
        return Err(StoreError::NotSetUp(format!(
            "there is no keyward database at {}: start `keyward serve` with this data directory first",
            path.display()
        )));
    }
    private_files(path)?;
    let mut connection = open_connection(path, false)?;
    migrate::migrate(&mut connection)?;
    Ok((connection, created))
}

/// The database and its WAL and shared-memory files are readable by their
/// owner only, whatever the directory's mode: a new database is made with
/// mode 0600 before SQLite opens it (SQLite gives its WAL and shared-memory
/// files the database's mode), and existing files are narrowed to it.
fn private_files(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| StoreError::DataDir { path: path.to_owned(), source };
    if !path.exists() {
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            tracing::warn!(file = %file.display(), "made a database file readable by its owner only");
        }
    }
    Ok(())
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let configure = || -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        if !read_only {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        // FULL: in WAL mode every commit is fsynced, so an acknowledged access
        // survives a power cut, not only a crash. Group commit pays for it.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Small page caches: keyward runs on Raspberry Pis. The writer
        // mostly appends (the activity log and its one index grow at their
        // right edge), so a few hundred pages hold all it touches; a full
        // 2 MiB cache only kept pages it would not read again. Readers page
        // through the log and keep a little more.
        conn.pragma_update(None, "cache_size", if read_only { -1024 } else { -512 })?;
        Ok(conn)
    };
    configure().map_err(StoreError::database)
}

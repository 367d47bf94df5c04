//! Opening the data directory: the database, its migrations and the key.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::vault::{Vault, VaultError};
use crate::{StoreError, migrate};

pub const DATABASE_FILE: &str = "keyward.db";
pub const KEY_FILE: &str = "keyward.key";
const READERS_KEPT: usize = 4;

/// An open data directory. Writes go through the [`crate::Writer`]; reads
/// borrow one of a few pooled read connections (WAL lets them run beside the
/// writer).
pub struct Db {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

pub struct OpenedDb {
    pub db: Db,
    pub vault: Vault,
    /// A read-write connection, for the writer thread or a one-shot command.
    pub connection: Connection,
    /// True when this call made the database: the data directory was empty.
    pub created: bool,
}

impl Db {
    pub fn open(data_dir: &Path) -> Result<OpenedDb, StoreError> {
        let dir_error = |source| StoreError::DataDir { path: data_dir.to_owned(), source };
        if !data_dir.exists() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(data_dir).map_err(dir_error)?;
        }
        let path = data_dir.join(DATABASE_FILE);
        let created = !path.exists();
        let mut connection = open_connection(&path, false)?;
        migrate::migrate(&mut connection)?;

        let stored_check: Option<Vec<u8>> =
            connection.query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| r.get(0)).optional()?;
        let holds_codes: bool = connection.query_row("SELECT EXISTS(SELECT 1 FROM users)", [], |r| r.get(0))?;
        let key_path = data_dir.join(KEY_FILE);
        let (vault, _) = Vault::load_or_create(&key_path, stored_check.is_none() && !holds_codes)?;
        match stored_check {
            Some(check) if !vault.matches_check(&check) => return Err(VaultError::KeyMismatch(key_path).into()),
            Some(_) => {}
            None => {
                connection.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_check', ?1)",
                    params![vault.key_check().as_slice()],
                )?;
            }
        }
        let db = Db { path, readers: Mutex::new(Vec::new()) };
        Ok(OpenedDb { db, vault, connection, created })
    }

    /// Runs a read on a pooled connection. Blocking: call it from a blocking
    /// context (the web layer uses `spawn_blocking`).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().map_err(|_| StoreError::Corrupt("reader pool poisoned"))?.pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path, true)?,
        };
        let result = f(&conn);
        if let Ok(mut readers) = self.readers.lock()
            && readers.len() < READERS_KEPT
        {
            readers.push(conn);
        }
        result
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    // FULL: in WAL mode every commit is fsynced, so an acknowledged access
    // survives a power cut, not only a crash. Group commit pays for it.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A small page cache: keyward runs on Raspberry Pis.
    conn.pragma_update(None, "cache_size", -2048)?;
    Ok(conn)
}

//! Opening the storage the configuration names: the SQLite database (by
//! default, in the data directory) or a PostgreSQL database, and the key in
//! the data directory either way.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use keyward_store::{KEY_FILE, Store, StoreError, Vault};

use crate::config::{Config, DatabaseUrl};

/// What the storage is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `keyward serve`: may make the data directory, the database and the
    /// key on a first start, and must be the only instance on its database.
    Serve,
    /// Any other command: works on existing data only (and beside a running
    /// hub), never makes anything.
    Command,
}

pub struct Storage {
    pub store: Arc<dyn Store>,
    pub vault: Arc<Vault>,
    /// True when this start made the database: a first start.
    pub created: bool,
    closer: Closer,
}

enum Closer {
    Sqlite(keyward_store_sqlite::SqliteHandle),
    Postgres(keyward_store_postgres::PostgresHandle),
}

impl Storage {
    pub async fn open(config: &Config, purpose: Purpose) -> anyhow::Result<Self> {
        let serving = purpose == Purpose::Serve;
        data_dir(&config.data_dir, serving)?;
        let key_path = config.data_dir.join(KEY_FILE);
        // A new installation is made only by `serve`, and only where no key
        // exists: a missing or empty database beside a key is lost data, not
        // a fresh start.
        let may_create = serving && !key_path.exists();
        let opened = match &config.database {
            DatabaseUrl::Sqlite(path) => keyward_store_sqlite::open(path, may_create)
                .map(|o| (Arc::new(o.store) as Arc<dyn Store>, o.created, Closer::Sqlite(o.handle))),
            DatabaseUrl::Postgres(url) => keyward_store_postgres::open(url.expose(), may_create, serving)
                .await
                .map(|o| (Arc::new(o.store) as Arc<dyn Store>, o.created, Closer::Postgres(o.handle))),
        };
        let (store, created, closer) = match opened {
            Err(StoreError::NotSetUp(_)) if serving => bail!(
                "the database holds no keyward data, but the key file {} exists: the database looks lost or \
                 emptied. Nothing was changed: restore it from your backup (taken with this key), or move the \
                 key file away to start a new installation",
                key_path.display()
            ),
            other => other?,
        };
        let vault = Vault::open(store.as_ref(), &key_path, serving).await;
        let vault = match vault {
            Ok(vault) => vault,
            Err(e) => {
                closer.close().await;
                return Err(e.into());
            }
        };
        Ok(Self { store, vault: Arc::new(vault), created, closer })
    }

    /// PostgreSQL's instance lock as it changes, when serving on PostgreSQL
    /// (SQLite's file lock cannot be lost while the process runs).
    pub fn lease(&self) -> Option<tokio::sync::watch::Receiver<keyward_store_postgres::Lease>> {
        match &self.closer {
            Closer::Postgres(handle) => Some(handle.lease()),
            Closer::Sqlite(_) => None,
        }
    }

    /// After the lease was regained and the hub stopped its old `App`:
    /// writes go through again (see `keyward_store_postgres::Lease`).
    pub fn resume(&self) {
        if let Closer::Postgres(handle) = &self.closer {
            handle.resume();
        }
    }

    /// Commits everything queued and stops the storage's writer.
    pub async fn close(self) {
        drop(self.store);
        self.closer.close().await;
    }
}

impl Closer {
    async fn close(self) {
        match self {
            Self::Sqlite(handle) => {
                if tokio::task::spawn_blocking(move || handle.close()).await.is_err() {
                    tracing::error!("the database writer did not stop cleanly");
                }
            }
            Self::Postgres(handle) => handle.close().await,
        }
    }
}

/// The data directory holds the key. `serve` makes it (readable by its
/// owner only) on a first start; any other command needs it to exist, so a
/// mistyped path never leaves a second, empty data directory behind.
fn data_dir(path: &Path, may_create: bool) -> anyhow::Result<()> {
    if path.is_dir() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        if mode & 0o077 != 0 {
            // Its files are kept private anyway; the directory still tells
            // others what is in it.
            tracing::warn!(
                "the data directory {} is readable by other users (mode {mode:o}): chmod 700 it",
                path.display()
            );
        }
        return Ok(());
    }
    if !may_create {
        bail!(
            "the data directory {} does not exist: give the hub's --data-dir (or KEYWARD_DATA_DIR, or data_dir in \
             the configuration file), or start `keyward serve` first",
            path.display()
        );
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot make the data directory {}", path.display()))
}

use std::path::PathBuf;

/// What storage can fail with. Messages never contain a code, a token or a
/// password: backends map their errors without copying values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error("the database was written by a newer keyward (schema {found}, this build knows {known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("{0}")]
    NotSetUp(String),
    #[error("{0}")]
    InUse(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("stored data is damaged: {0}")]
    Corrupt(&'static str),
    /// A UNIQUE constraint refused the write: the key it names is taken.
    #[error("a row with this key already exists ({0})")]
    Conflict(Key),
    /// An earlier write of this home failed after the hub counted it; the
    /// home's records wait until its counts are read back (see `Quarantine`).
    #[error("an earlier write of this home failed; its counts are being read back")]
    OutOfStep,
    /// This instance lost its hold on the database (PostgreSQL's instance
    /// lock went with its connection): it writes nothing until it holds the
    /// lock again and has reloaded what another instance may have changed.
    #[error("this keyward lost its hold on the database; it serves again once it holds it and has reloaded")]
    Fenced,
}

/// The unique key a write collided with, named by each backend from its
/// own constraint (PostgreSQL's constraint name, SQLite's columns), so a
/// caller never mistakes one taken key for another; a key this build does
/// not know is `Other`, which no caller treats as one of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Two users of a home with one code (`users_by_code`).
    UserCode,
    /// Two channels of a home with one name (`channels_by_name`).
    ChannelName,
    /// Two locks bound to one device (`locks_by_device*`).
    DeviceBinding,
    /// Two owners with one email address.
    OwnerEmail,
    /// Any other unique key: the constraint, or the columns, named.
    Other(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UserCode => f.write_str("a user's code"),
            Self::ChannelName => f.write_str("a channel's name"),
            Self::DeviceBinding => f.write_str("a lock's device"),
            Self::OwnerEmail => f.write_str("an owner's email address"),
            Self::Other(name) => write!(f, "unique key {name}"),
        }
    }
}

impl StoreError {
    pub fn database(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Database(Box::new(e))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

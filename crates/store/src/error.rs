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
    /// A UNIQUE constraint refused the write: the key is taken.
    #[error("a row with this key already exists")]
    Conflict,
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

impl StoreError {
    pub fn database(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Database(Box::new(e))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error("the database was written by a newer keyward (schema {found}, this build knows {known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("stored data is damaged: {0}")]
    Corrupt(&'static str),
    #[error("a row with this key already exists")]
    Conflict,
    /// A write refused by the rules of the use case that ran it.
    #[error("refused: {0}")]
    Rejected(String),
}

impl StoreError {
    /// Maps a UNIQUE violation to `Conflict`, so callers can tell "taken" from "broken".
    pub(crate) fn from_write(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
                Self::Conflict
            }
            other => Self::Sql(other),
        }
    }
}

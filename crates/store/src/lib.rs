//! Keyward's storage: one SQLite database in the data directory, changed only
//! through migrations; the code vault (codes sealed with XChaCha20-Poly1305,
//! found through a keyed HMAC); and a single writer thread that batches
//! concurrent writes into one transaction (group commit), so every access
//! attempt is durable before its device is answered without costing an
//! fsync per request.

mod db;
mod error;
mod ids;
mod migrate;
pub mod owners;
pub mod rows;
mod vault;
mod writer;

pub use db::{Db, OpenedDb};
pub use error::StoreError;
pub use ids::{new_id, now_micros, random_hex, token_hash};
pub use rows::*;
pub use rusqlite::Connection;
pub use vault::{CodeMac, Vault, VaultError};
pub use writer::{Pending, Writer, WriterHandle};

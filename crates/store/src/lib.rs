//! Keyward's storage interface: the traits the use cases talk to, the
//! records they read and write, and the code vault. No SQL here: each
//! backend (`keyward-store-sqlite`, `keyward-store-postgres`) is a crate of
//! its own, with its own migrations, behind these traits.
//!
//! Codes are sealed and keyed by the [`Vault`] before they reach a backend,
//! so every backend stores exactly the same bytes for them.

pub mod columns;
mod error;
mod pending;
mod quarantine;
mod records;
mod store;
mod vault;

pub use error::{Key, StoreError, StoreResult};
pub use pending::{BoxFuture, Pending, Reply};
pub use quarantine::Quarantine;
pub use records::*;
pub use store::{ActivityStore, HomeStore, MetaStore, NotifyStore, OwnerStore, ShareStore, Store, TokenStore};
pub use vault::{Vault, VaultError};

/// The key file's name in the data directory, whatever the database.
pub const KEY_FILE: &str = "keyward.key";

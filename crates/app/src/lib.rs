//! Keyward's use cases, shared by every adapter (the REST API now; MQTT
//! keypads and locks later). The [`Hub`] keeps each home's users, locks and
//! lockout counts in memory, mirrored durably in the store: an access
//! decision needs one keyed digest and two hash lookups, and its activity
//! entry is committed before the device is answered.

mod access;
mod activity;
mod error;
mod homes;
pub mod owners;
mod state;
pub mod tokens;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use keyward_core::ZoneName;
use keyward_store::{Db, OpenedDb, Vault, Writer, WriterHandle};
use tokio::sync::Mutex;

pub use access::{AccessOutcome, PreviewSubject};
pub use activity::{ActivityItem, ActivityPage, ActivityQuery, QueryError};
pub use error::AppError;
pub use homes::{HomePatch, HomeView, LockView};
pub use keyward_store::ActivityFilter;
pub use state::micros_to_timestamp;
pub use tokens::{Scope, TokenInfo};
pub use users::{UserInput, UserPatch, UserView};

use state::HomeState;

pub struct Hub {
    db: Arc<Db>,
    vault: Vault,
    writer: Writer,
    homes: RwLock<HashMap<String, Arc<Mutex<HomeState>>>>,
    tokens: tokens::TokenCache,
    /// Every activity entry, once committed, for live views.
    events: tokio::sync::broadcast::Sender<keyward_store::ActivityRow>,
    /// Set when the process is shutting down, so that endless responses
    /// (live activity) end and the HTTP server can drain.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Hub {
    /// Loads every home into memory and starts the writer. On a database with
    /// no home yet, creates the first one, "Home", in `default_zone`.
    pub fn start(opened: OpenedDb, default_zone: &ZoneName) -> Result<(Self, WriterHandle), AppError> {
        let OpenedDb { db, vault, connection, .. } = opened;
        let snapshot = keyward_store::load_snapshot(&connection)?;
        if snapshot.homes.is_empty() {
            let row = homes::new_home_row("Home", default_zone);
            keyward_store::upsert_home(&connection, &row)?;
            tracing::info!(timezone = default_zone.as_str(), "created the first home");
        }
        let snapshot = keyward_store::load_snapshot(&connection)?;
        let homes = state::build_states(snapshot)?;
        let (writer, handle) = Writer::spawn(connection)?;
        let hub = Self {
            db: Arc::new(db),
            vault,
            writer,
            homes: RwLock::new(homes.into_iter().map(|(id, s)| (id, Arc::new(Mutex::new(s)))).collect()),
            tokens: tokens::TokenCache::default(),
            events: tokio::sync::broadcast::channel(256).0,
            closing: tokio::sync::watch::channel(false).0,
        };
        Ok((hub, handle))
    }

    /// Live activity: every entry after it is committed. A receiver that
    /// falls behind skips entries (the log itself has them all).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<keyward_store::ActivityRow> {
        self.events.subscribe()
    }

    /// Ends every live stream; called when shutdown begins.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves when shutdown begins.
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|c| *c).await;
        }
    }

    fn publish(&self, entries: impl IntoIterator<Item = keyward_store::ActivityRow>) {
        if self.events.receiver_count() > 0 {
            for entry in entries {
                let _ = self.events.send(entry);
            }
        }
    }

    fn home(&self, home_id: &str) -> Result<Arc<Mutex<HomeState>>, AppError> {
        let homes = self.homes.read().map_err(|_| AppError::Poisoned)?;
        homes.get(home_id).cloned().ok_or(AppError::HomeNotFound)
    }

    fn home_ids(&self) -> Result<Vec<Arc<Mutex<HomeState>>>, AppError> {
        let homes = self.homes.read().map_err(|_| AppError::Poisoned)?;
        Ok(homes.values().cloned().collect())
    }

    /// The token a form must carry for a browser whose CSRF cookie is `cookie`.
    pub fn csrf_token(&self, cookie: &str) -> String {
        self.vault.csrf_tag(cookie).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether a form's CSRF token belongs to the browser's cookie (constant time).
    pub fn csrf_valid(&self, cookie: &str, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.csrf_token(cookie);
        !cookie.is_empty() && expected.len() == token.len() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }

    /// Runs a blocking read on the store's read pool, off the async workers.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&keyward_store::Connection) -> Result<T, keyward_store::StoreError> + Send + 'static,
    ) -> Result<T, AppError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || db.read(f)).await.map_err(|_| AppError::Poisoned)?.map_err(Into::into)
    }
}

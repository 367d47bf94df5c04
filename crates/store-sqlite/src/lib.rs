//! Keyward's embedded storage: one SQLite database, changed only through
//! migrations, written by a single thread that batches concurrent writes
//! into one transaction (group commit), so every access attempt is durable
//! before its device is answered without an fsync per request.

mod db;
mod migrate;
mod notify;
mod owners;
mod readers;
mod shares;
mod statements;
mod writer;

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::ActivityEntry;
use keyward_store::columns::micros;
use keyward_store::{
    ActivityFilter, ActivityPage, ActivityStore, BoxFuture, ChannelRecord, DeliveryUpdate, Digest, HomeCounts,
    HomeRecord, HomeStore, InviteRecord, LockRecord, MetaStore, NotifyStore, OutboxRecord, OwnerRecord, OwnerStore,
    Pending, Quarantine, Record, SessionLine, SessionRecord, ShareRecord, ShareStore, SignInFailures, SlotRecord,
    Snapshot, StoreResult, TokenRecord, TokenStore,
};
use rusqlite::Connection;

use readers::Readers;
use writer::{Writer, WriterHandle};

/// The database file's name in the data directory, by default.
pub const DATABASE_FILE: &str = "keyward.db";

pub struct SqliteStore {
    readers: Arc<Readers>,
    writer: Writer,
    quarantine: Arc<Quarantine>,
}

/// Stops the writer once everything queued is committed.
pub struct SqliteHandle {
    writer: Writer,
    threads: WriterHandle,
}

impl SqliteHandle {
    /// Commits what is queued, checkpoints the WAL, and stops. Blocking.
    pub fn close(self) {
        self.writer.stop();
        self.threads.join();
    }
}

pub struct Opened {
    pub store: SqliteStore,
    pub handle: SqliteHandle,
    /// True when this call made the database.
    pub created: bool,
}

/// Opens the database at `path` (made when missing, with `create`; an error
/// otherwise), applies its migrations and starts its writer.
pub fn open(path: &Path, create: bool) -> StoreResult<Opened> {
    let (connection, created) = db::open(path, create)?;
    let (writer, threads) = Writer::spawn(connection)?;
    let store = SqliteStore {
        readers: Arc::new(Readers::new(path.to_owned())),
        writer: writer.clone(),
        quarantine: Arc::default(),
    };
    Ok(Opened { store, handle: SqliteHandle { writer, threads }, created })
}

impl SqliteStore {
    /// Runs a read on the read pool, off the async workers.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'_, StoreResult<T>> {
        Box::pin(self.readers.read(f))
    }

    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'_, StoreResult<T>> {
        Box::pin(self.writer.write(f))
    }
}

impl HomeStore for SqliteStore {
    fn load(&self) -> BoxFuture<'_, StoreResult<Snapshot>> {
        self.read(statements::load_snapshot)
    }

    fn home_exists(&self, home_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        self.read(move |conn| statements::home_exists(conn, &home_id))
    }

    fn put_home(&self, home: HomeRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::put_home(conn, &home))
    }

    fn put_lock(&self, lock: LockRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::put_lock(conn, &lock))
    }

    fn put_slot(&self, slot: SlotRecord) -> Pending<()> {
        self.writer.submit(move |conn| statements::put_slot(conn, &slot))
    }

    fn forget_slots(&self, lock_id: String) -> Pending<()> {
        self.writer.submit(move |conn| statements::forget_slots(conn, &lock_id))
    }

    fn delete_lock(&self, home_id: String, lock_id: String) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::delete_lock(conn, &home_id, &lock_id))
    }

    fn put_sensor(&self, sensor: keyward_store::SensorRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::put_sensor(conn, &sensor))
    }

    fn delete_sensor(&self, home_id: String, sensor_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| statements::delete_sensor(conn, &home_id, &sensor_id))
    }

    fn put_siren(&self, siren: keyward_store::SirenRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::put_siren(conn, &siren))
    }

    fn delete_siren(&self, home_id: String, siren_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| statements::delete_siren(conn, &home_id, &siren_id))
    }

    fn record(&self, record: Record) -> Pending<Vec<ActivityEntry>> {
        // What the failure hook needs, taken only when it can matter.
        let ahead = record.applied_ahead.then(|| Record {
            home_id: record.home_id.clone(),
            applied_ahead: true,
            ..Record::default()
        });
        let (quarantine, on_failure) = (self.quarantine.clone(), self.quarantine.clone());
        self.writer.submit_observed(
            move |conn| {
                quarantine.admit(&record)?;
                if let Err(e) = statements::record(conn, &record) {
                    // Later records of the home in this same batch must see it.
                    quarantine.failed(&record);
                    return Err(e);
                }
                // Handed back after the commit, for live views: no copy on the
                // access path.
                Ok(record.entries)
            },
            move || {
                if let Some(ahead) = ahead {
                    on_failure.failed(&ahead);
                }
            },
        )
    }

    fn resync_home(&self, home_id: String) -> BoxFuture<'_, StoreResult<HomeCounts>> {
        let quarantine = self.quarantine.clone();
        self.write(move |conn| {
            let counts = statements::home_counts(conn, &home_id)?;
            // Nothing of this home can be queued while the hub reads it back
            // (it holds the home's lock), so its records may come again.
            quarantine.release(&home_id);
            Ok(counts)
        })
    }
}

impl ActivityStore for SqliteStore {
    fn activity(&self, filter: ActivityFilter) -> BoxFuture<'_, StoreResult<ActivityPage>> {
        self.read(move |conn| statements::activity(conn, &filter))
    }

    fn prune(&self, before: Timestamp, batch: u32) -> BoxFuture<'_, StoreResult<u64>> {
        self.write(move |conn| statements::prune(conn, micros(before), batch))
    }
}

impl TokenStore for SqliteStore {
    fn insert_token(&self, token: TokenRecord, secret_hash: Digest) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::insert_token(conn, &token, &secret_hash))
    }

    fn find_token(&self, secret_hash: Digest) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        self.read(move |conn| statements::find_token(conn, &secret_hash))
    }

    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        self.read(statements::list_tokens)
    }

    fn revoke_token(&self, id: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| statements::revoke_token(conn, &id, micros(at)))
    }
}

impl OwnerStore for SqliteStore {
    fn owner_count(&self) -> BoxFuture<'_, StoreResult<u64>> {
        self.read(owners::owner_count)
    }

    fn owner_by_email(&self, email: String) -> BoxFuture<'_, StoreResult<Option<OwnerRecord>>> {
        self.read(move |conn| owners::owner_by_email(conn, &email))
    }

    fn list_owners(&self) -> BoxFuture<'_, StoreResult<Vec<OwnerRecord>>> {
        self.read(owners::list_owners)
    }

    fn create_first_owner(&self, owner: OwnerRecord, session: Digest) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| owners::create_first_owner(conn, &owner, &session))
    }

    fn set_password(&self, owner_id: String, password_hash: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| owners::set_password(conn, &owner_id, &password_hash, micros(at)))
    }

    fn start_session(
        &self,
        session: Digest,
        owner_id: String,
        at: Timestamp,
        clear: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| {
            for key in &clear {
                owners::clear_login_failures(conn, key)?;
            }
            owners::insert_session(conn, &session, &owner_id, micros(at))
        })
    }

    fn find_session(&self, session: Digest) -> BoxFuture<'_, StoreResult<Option<SessionRecord>>> {
        self.read(move |conn| owners::find_session(conn, &session))
    }

    fn touch_session(&self, session: Digest, at: Timestamp) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| owners::touch_session(conn, &session, micros(at)))
    }

    fn describe_session(&self, session: Digest, device: String) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| owners::describe_session(conn, &session, &device))
    }

    fn delete_session(&self, session: Digest) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| owners::delete_session(conn, &session))
    }

    fn delete_sessions_of(&self, owner_id: String) -> BoxFuture<'_, StoreResult<u64>> {
        self.write(move |conn| owners::delete_sessions_of(conn, &owner_id))
    }

    fn sessions_of(&self, owner_id: String) -> BoxFuture<'_, StoreResult<Vec<SessionLine>>> {
        self.read(move |conn| owners::sessions_of(conn, &owner_id))
    }

    fn login_failures(&self, keys: Vec<String>) -> BoxFuture<'_, StoreResult<Vec<Option<SignInFailures>>>> {
        self.read(move |conn| keys.iter().map(|key| owners::login_failures(conn, key)).collect())
    }

    fn reserve_sign_in(&self, keys: Vec<String>, now: Timestamp) -> BoxFuture<'_, StoreResult<Option<u32>>> {
        self.write(move |conn| owners::reserve_sign_in(conn, &keys, now))
    }

    fn remember_device(
        &self,
        device: Digest,
        owner_id: String,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| owners::remember_device(conn, &device, &owner_id, now, forget_before))
    }

    fn device_owner(&self, device: Digest, remembered_since: Timestamp) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.read(move |conn| owners::device_owner(conn, &device, remembered_since))
    }

    fn clear_login_failures(&self, keys: Vec<String>) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| keys.iter().try_for_each(|key| owners::clear_login_failures(conn, key)))
    }

    fn set_setup_code(&self, digest: Digest) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::set_meta(conn, "setup_code", &digest))
    }

    fn setup_code(&self) -> BoxFuture<'_, StoreResult<Option<Digest>>> {
        self.read(owners::setup_code)
    }

    fn insert_invite(&self, invite: InviteRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| owners::insert_invite(conn, &invite))
    }

    fn live_invite(&self, digest: Digest, now: Timestamp) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.read(move |conn| owners::live_invite(conn, &digest, micros(now)))
    }

    fn pending_invites(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<InviteRecord>>> {
        self.read(move |conn| owners::pending_invites(conn, micros(now)))
    }

    fn revoke_invite(&self, digest: Digest) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| owners::revoke_invite(conn, &digest))
    }

    fn accept_invite(
        &self,
        invite: Digest,
        owner: OwnerRecord,
        session: Digest,
        now: Timestamp,
    ) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| owners::accept_invite(conn, &invite, &owner, &session, micros(now)))
    }
}

impl ShareStore for SqliteStore {
    fn insert_share(&self, share: ShareRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| shares::insert_share(conn, &share))
    }

    fn share_by_digest(&self, digest: Digest) -> BoxFuture<'_, StoreResult<Option<ShareRecord>>> {
        self.read(move |conn| shares::share_by_digest(conn, &digest))
    }

    fn bind_share(&self, id: String, browser: Digest, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| shares::bind_share(conn, &id, &browser, micros(at)))
    }

    fn revoke_share(&self, user_id: String, id: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| shares::revoke_share(conn, &user_id, &id, micros(at)))
    }

    fn shares_of(&self, user_id: String) -> BoxFuture<'_, StoreResult<Vec<ShareRecord>>> {
        self.read(move |conn| shares::shares_of(conn, &user_id))
    }
}

impl NotifyStore for SqliteStore {
    fn put_channel(&self, channel: ChannelRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| notify::put_channel(conn, &channel))
    }

    fn delete_channel(&self, home_id: String, channel_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        self.write(move |conn| notify::delete_channel(conn, &home_id, &channel_id))
    }

    fn channels(&self) -> BoxFuture<'_, StoreResult<Vec<ChannelRecord>>> {
        self.read(notify::channels)
    }

    fn enqueue(&self, notifications: Vec<OutboxRecord>) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| notifications.iter().try_for_each(|n| notify::insert_notification(conn, n)))
    }

    fn pending_notifications(&self, per_channel: u32) -> BoxFuture<'_, StoreResult<Vec<OutboxRecord>>> {
        self.read(move |conn| notify::pending(conn, per_channel))
    }

    fn update_delivery(&self, update: DeliveryUpdate) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| notify::update_delivery(conn, &update))
    }

    fn deliveries(&self, channel_id: String, limit: u32) -> BoxFuture<'_, StoreResult<Vec<OutboxRecord>>> {
        self.read(move |conn| notify::deliveries(conn, &channel_id, limit))
    }
}

impl MetaStore for SqliteStore {
    fn key_check(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>> {
        self.read(|conn| statements::meta(conn, "key_check"))
    }

    fn set_key_check(&self, check: [u8; 32]) -> BoxFuture<'_, StoreResult<()>> {
        self.write(move |conn| statements::set_meta(conn, "key_check", &check))
    }

    fn holds_codes(&self) -> BoxFuture<'_, StoreResult<bool>> {
        self.read(statements::holds_codes)
    }
}

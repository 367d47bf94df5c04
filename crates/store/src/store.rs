//! The storage interface the use cases talk to, by concern. Each backend
//! (SQLite, PostgreSQL) implements every trait; `Store` is all of them.
//!
//! Writes are ordered: a backend applies them in the order they were
//! queued, and answers only after the transaction holding them committed
//! durably.

use jiff::Timestamp;
use keyward_core::ActivityEntry;

use crate::StoreResult;
use crate::pending::{BoxFuture, Pending};
use crate::records::{
    ActivityFilter, ActivityPage, ChannelRecord, DeliveryUpdate, Digest, HomeCounts, HomeRecord, InviteRecord,
    LockRecord, OutboxRecord, OwnerRecord, Record, SensorRecord, SessionLine, SessionRecord, ShareRecord,
    SignInFailures, SirenRecord, SlotRecord, Snapshot, TokenRecord,
};

/// Homes, their locks and users, and the one recording path.
pub trait HomeStore: Send + Sync {
    /// Every home with its locks, users and lockout counts.
    fn load(&self) -> BoxFuture<'_, StoreResult<Snapshot>>;

    fn home_exists(&self, home_id: String) -> BoxFuture<'_, StoreResult<bool>>;

    /// Inserts or replaces a home.
    fn put_home(&self, home: HomeRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Inserts or replaces a lock.
    fn put_lock(&self, lock: LockRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Inserts or replaces what keyward knows of a lock's slot. Queued when
    /// called (in order with every write queued before), so the lock sync
    /// engine can order it against its own state: a write intent queued
    /// before a lock's removal is committed before it.
    fn put_slot(&self, slot: SlotRecord) -> Pending<()>;

    /// Forgets every slot of a lock (it was unbound or moved to another
    /// device), queued when called.
    fn forget_slots(&self, lock_id: String) -> Pending<()>;

    /// Deletes a lock, its place in every user's list, and its lockout count.
    fn delete_lock(&self, home_id: String, lock_id: String) -> BoxFuture<'_, StoreResult<()>>;

    /// Inserts or replaces a sensor of a home's panel. A device another
    /// sensor reports through fails with `Conflict(DeviceBinding)`.
    fn put_sensor(&self, sensor: SensorRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Deletes a sensor; false when there was none.
    fn delete_sensor(&self, home_id: String, sensor_id: String) -> BoxFuture<'_, StoreResult<bool>>;

    /// Inserts or replaces a siren; a device another siren is fails with
    /// `Conflict(DeviceBinding)`.
    fn put_siren(&self, siren: SirenRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Deletes a siren; false when there was none.
    fn delete_siren(&self, home_id: String, siren_id: String) -> BoxFuture<'_, StoreResult<bool>>;

    /// Writes everything one event changes, in one transaction. The record
    /// is queued before this returns, in order with every write queued
    /// before it; the answer comes once it is durably committed, with the
    /// record's entries handed back (for live views). When the record's
    /// user change is refused (`Conflict`), nothing of the record is written.
    fn record(&self, record: Record) -> Pending<Vec<ActivityEntry>>;

    /// Reads a home's counts back, in order with every write queued before
    /// (they have all been answered when this is), and admits the home's
    /// records again (see [`crate::Quarantine`]). Users who were never used
    /// have no entry in `uses`.
    fn resync_home(&self, home_id: String) -> BoxFuture<'_, StoreResult<HomeCounts>>;
}

pub trait ActivityStore: Send + Sync {
    /// A page of a home's activity, newest first.
    fn activity(&self, filter: ActivityFilter) -> BoxFuture<'_, StoreResult<ActivityPage>>;

    /// Deletes at most `batch` of the oldest activity entries from before
    /// `before`, and as many finished notifications (delivered or failed)
    /// created before it, in one short transaction; answers how many rows
    /// went. Called again until it answers less than `batch` ×2, so no
    /// write waits long behind it.
    fn prune(&self, before: Timestamp, batch: u32) -> BoxFuture<'_, StoreResult<u64>>;
}

pub trait TokenStore: Send + Sync {
    fn insert_token(&self, token: TokenRecord, secret_hash: Digest) -> BoxFuture<'_, StoreResult<()>>;

    /// The live (not revoked) token with this secret's digest.
    fn find_token(&self, secret_hash: Digest) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>>;

    /// Every token, revoked ones too, oldest first.
    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>>;

    /// False when no live token has this id.
    fn revoke_token(&self, id: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>>;
}

/// Owner accounts, their sessions, sign-in throttling, the setup code and
/// invitations.
pub trait OwnerStore: Send + Sync {
    fn owner_count(&self) -> BoxFuture<'_, StoreResult<u64>>;

    fn owner_by_email(&self, email: String) -> BoxFuture<'_, StoreResult<Option<OwnerRecord>>>;

    /// Every owner, oldest first.
    fn list_owners(&self) -> BoxFuture<'_, StoreResult<Vec<OwnerRecord>>>;

    /// Makes the first owner, signed in with a session, and forgets the
    /// setup code, all at once; false (and nothing written) when an owner
    /// exists already, however two setups race.
    fn create_first_owner(&self, owner: OwnerRecord, session: Digest) -> BoxFuture<'_, StoreResult<bool>>;

    /// Sets a new password and ends every session of the owner, at once.
    /// False when there is no such owner.
    fn set_password(&self, owner_id: String, password_hash: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>>;

    /// Starts a session, and forgets the failed sign-ins under `clear`.
    fn start_session(
        &self,
        session: Digest,
        owner_id: String,
        at: Timestamp,
        clear: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>>;

    /// The session and its owner.
    fn find_session(&self, session: Digest) -> BoxFuture<'_, StoreResult<Option<SessionRecord>>>;

    fn touch_session(&self, session: Digest, at: Timestamp) -> BoxFuture<'_, StoreResult<()>>;

    /// Names the browser and device a session was started from, in words.
    fn describe_session(&self, session: Digest, device: String) -> BoxFuture<'_, StoreResult<()>>;

    fn delete_session(&self, session: Digest) -> BoxFuture<'_, StoreResult<()>>;

    /// Ends every session of an owner; returns how many there were.
    fn delete_sessions_of(&self, owner_id: String) -> BoxFuture<'_, StoreResult<u64>>;

    /// An owner's sessions, the most recently used first.
    fn sessions_of(&self, owner_id: String) -> BoxFuture<'_, StoreResult<Vec<SessionLine>>>;

    /// The failed sign-ins under each key, in the order of `keys`.
    fn login_failures(&self, keys: Vec<String>) -> BoxFuture<'_, StoreResult<Vec<Option<SignInFailures>>>>;

    /// Reserves one sign-in attempt under every key, atomically: when a key's
    /// failures say the attempt must wait (`keyward_core::sign_in`), returns
    /// the longest wait and counts nothing; otherwise counts the attempt as a
    /// failure under each key before its password is checked (a success then
    /// clears them with [`OwnerStore::start_session`]), so however many
    /// attempts race, no more are verified than the throttle allows. Failures
    /// forgotten at `now` are deleted.
    fn reserve_sign_in(&self, keys: Vec<String>, now: Timestamp) -> BoxFuture<'_, StoreResult<Option<u32>>>;

    /// Remembers a browser an owner signed in from (the digest of its device
    /// cookie's secret), and forgets the owner's browsers remembered before
    /// `forget_before`.
    fn remember_device(
        &self,
        device: Digest,
        owner_id: String,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> BoxFuture<'_, StoreResult<()>>;

    /// The owner a browser was remembered for, if it was remembered at or
    /// after `remembered_since`.
    fn device_owner(&self, device: Digest, remembered_since: Timestamp) -> BoxFuture<'_, StoreResult<Option<String>>>;

    fn clear_login_failures(&self, keys: Vec<String>) -> BoxFuture<'_, StoreResult<()>>;

    /// Replaces the one-time setup code's digest.
    fn set_setup_code(&self, digest: Digest) -> BoxFuture<'_, StoreResult<()>>;

    fn setup_code(&self) -> BoxFuture<'_, StoreResult<Option<Digest>>>;

    fn insert_invite(&self, invite: InviteRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// The email of an invitation that is unused and not expired at `now`.
    fn live_invite(&self, digest: Digest, now: Timestamp) -> BoxFuture<'_, StoreResult<Option<String>>>;

    /// Every invitation unused and not expired at `now`, the newest first.
    fn pending_invites(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<InviteRecord>>>;

    /// Deletes an unused invitation; false when there was none.
    fn revoke_invite(&self, digest: Digest) -> BoxFuture<'_, StoreResult<bool>>;

    /// Uses a live invitation to make an owner, signed in with a session, at
    /// once; false (and nothing written) when the invitation is not live.
    /// `Conflict` when an owner with that email exists.
    fn accept_invite(
        &self,
        invite: Digest,
        owner: OwnerRecord,
        session: Digest,
        now: Timestamp,
    ) -> BoxFuture<'_, StoreResult<bool>>;
}

/// Alert channels, and the outbox their notifications are delivered from.
/// Notifications caused by an event are written by [`HomeStore::record`],
/// in the event's transaction.
pub trait NotifyStore: Send + Sync {
    /// Inserts or replaces a channel. `Conflict` when another channel of the
    /// home has its name.
    fn put_channel(&self, channel: ChannelRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Deletes a channel and its notifications; false when the home has no
    /// such channel.
    fn delete_channel(&self, home_id: String, channel_id: String) -> BoxFuture<'_, StoreResult<bool>>;

    /// Every channel of every home, oldest first.
    fn channels(&self) -> BoxFuture<'_, StoreResult<Vec<ChannelRecord>>>;

    /// Queues notifications no event caused (a channel's test message).
    fn enqueue(&self, notifications: Vec<OutboxRecord>) -> BoxFuture<'_, StoreResult<()>>;

    /// Each channel's pending notifications in the order they were queued,
    /// at most `per_channel` of each channel.
    fn pending_notifications(&self, per_channel: u32) -> BoxFuture<'_, StoreResult<Vec<OutboxRecord>>>;

    fn update_delivery(&self, update: DeliveryUpdate) -> BoxFuture<'_, StoreResult<()>>;

    /// A channel's latest notifications, newest first.
    fn deliveries(&self, channel_id: String, limit: u32) -> BoxFuture<'_, StoreResult<Vec<OutboxRecord>>>;
}

/// Links that show visitors their own access.
pub trait ShareStore: Send + Sync {
    fn insert_share(&self, share: ShareRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// The link with this token digest, whatever its state.
    fn share_by_digest(&self, digest: Digest) -> BoxFuture<'_, StoreResult<Option<ShareRecord>>>;

    /// Binds a link to the browser that opens it first: true when this call
    /// bound it, false when another browser had (checked in the write, so
    /// two browsers racing cannot both win).
    fn bind_share(&self, id: String, browser: Digest, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>>;

    /// Revokes a user's link; false when it is unknown or already revoked.
    fn revoke_share(&self, user_id: String, id: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>>;

    /// A user's links, newest first.
    fn shares_of(&self, user_id: String) -> BoxFuture<'_, StoreResult<Vec<ShareRecord>>>;
}

/// What the database keeps about itself: which key sealed its codes.
pub trait MetaStore: Send + Sync {
    fn key_check(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>>;

    fn set_key_check(&self, check: [u8; 32]) -> BoxFuture<'_, StoreResult<()>>;

    /// Whether any sealed code is stored.
    fn holds_codes(&self) -> BoxFuture<'_, StoreResult<bool>>;
}

/// Everything keyward stores.
pub trait Store: HomeStore + ActivityStore + TokenStore + OwnerStore + NotifyStore + ShareStore + MetaStore {}

impl<T: HomeStore + ActivityStore + TokenStore + OwnerStore + NotifyStore + ShareStore + MetaStore> Store for T {}

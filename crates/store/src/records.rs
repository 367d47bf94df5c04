//! What is stored, typed. Backends turn these into their columns and back
//! (through `columns`), so both store the same meaning.

use std::fmt;

use jiff::Timestamp;
use keyward_core::lock_sync::SlotMemory;
use keyward_core::{
    ActivityEntry, CodePolicy, CodeStatus, DeviceBinding, FailureReason, LockoutPolicy, LockoutState, Name, Outcome,
    Removal, Scope, UseCount, User, ZoneName,
};

/// HMAC-SHA-256 of (home id, code) under the vault's key.
pub type CodeMac = [u8; 32];
/// A SHA-256 digest of a secret that is stored only in this form (tokens,
/// sessions, invitations, the setup code).
pub type Digest = [u8; 32];

#[derive(Debug, Clone, PartialEq)]
pub struct HomeRecord {
    pub id: String,
    pub name: Name,
    pub zone: ZoneName,
    pub code_policy: CodePolicy,
    pub lockout_policy: LockoutPolicy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    pub id: String,
    pub home_id: String,
    pub name: Name,
    /// The device keyward programs, if any (`None`: keyward only decides
    /// for this lock).
    pub device: Option<DeviceBinding>,
    /// The owner removed the lock, unbound it or moved it to another device,
    /// and keyward is taking its codes off `device` first.
    pub removal: Option<LockRemoval>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl LockRecord {
    /// Whether the owner deleted the lock and keyward is emptying its device.
    pub fn is_being_deleted(&self) -> bool {
        self.removal.as_ref().is_some_and(|r| r.what == Removal::Delete)
    }
}

/// A removal waiting for the device to hold none of keyward's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRemoval {
    pub what: Removal,
    pub since: Timestamp,
}

/// A code as stored: sealed for the audited reveal and the code rules, and
/// keyed for lookup. Never in plain text.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCode {
    pub mac: CodeMac,
    pub sealed: Vec<u8>,
}

impl fmt::Debug for SealedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedCode(<redacted>)")
    }
}

/// A user of a home with their sealed code. `user.uses` is the use count.
#[derive(Clone)]
pub struct UserRecord {
    pub home_id: String,
    pub user: User,
    pub code: SealedCode,
    pub last_used: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord").field("id", &self.user.id).field("home_id", &self.home_id).finish_non_exhaustive()
    }
}

/// A device's wrong-code count (or, under [`LockoutRecord::HOME`], the
/// home's as a whole). A clear state means "no row".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutRecord {
    pub home_id: String,
    pub device: String,
    pub state: LockoutState,
}

impl LockoutRecord {
    /// The device key of a home's own count: never a lock id (those are
    /// hex) nor the panel.
    pub const HOME: &str = "*home";
}

#[derive(Debug, Clone)]
pub enum UserChange {
    /// Inserts or replaces a user, its lock list and its use count. A code
    /// taken in the same home fails the record with `StoreError::Conflict`.
    Put(Box<UserRecord>),
    /// Deletes a user by id.
    Delete(String),
}

/// Everything one event changes, written in one transaction: the activity
/// entries, lockout counts (a device's, the home's), a user's use count, a
/// user.
#[derive(Debug, Default)]
pub struct Record {
    /// The home the record belongs to.
    pub home_id: String,
    /// True when the hub's memory already holds this record's counts (an
    /// access attempt): its failure then puts the home in [`crate::Quarantine`].
    pub applied_ahead: bool,
    pub entries: Vec<ActivityEntry>,
    pub lockouts: Vec<LockoutRecord>,
    pub uses: Option<UseCount>,
    pub user: Option<UserChange>,
    /// The notifications the event causes, delivered from the outbox once
    /// committed: written with the event or not at all.
    pub notifications: Vec<OutboxRecord>,
    /// The home's alarm panel after the event: a transition is committed
    /// with its entries and notifications, before it is announced.
    pub panel: Option<PanelRecord>,
}

/// A sensor of a home's alarm panel, and the device that reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorRecord {
    pub id: String,
    pub home_id: String,
    pub name: Name,
    pub setup: keyward_core::alarm::SensorSetup,
    pub device: Option<keyward_core::DeviceRef>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A siren of a home's alarm panel: the device it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SirenRecord {
    pub id: String,
    pub home_id: String,
    pub name: Name,
    pub device: keyward_core::DeviceRef,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A home's alarm panel: its settings and its state machine, as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelRecord {
    pub home_id: String,
    pub settings: keyward_core::alarm::PanelSettings,
    pub panel: keyward_core::alarm::Panel,
    pub updated_at: Timestamp,
}

/// A channel of a home, with its webhook signing secret sealed by the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    pub channel: keyward_core::channel::Channel,
    pub secret_sealed: Option<Vec<u8>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Still to deliver (tried `attempts` times).
    Pending,
    /// The receiver acknowledged it.
    Delivered,
    /// Given up after the delivery window; shown to the owner.
    Failed,
}

/// One notification on one channel. Never holds a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: String,
    pub home_id: String,
    pub channel_id: String,
    /// The activity entry that caused it (receivers drop repeats by it).
    pub event_id: String,
    pub kind: keyward_core::notify::AlertKind,
    pub created_at: Timestamp,
    pub title: String,
    pub body: String,
    /// The webhook's `data` object, as JSON text.
    pub data: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_at: Timestamp,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// The outcome of a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub id: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_at: Timestamp,
    /// In words, never with a secret (no URL query, no token).
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// A home's counts as stored: each user's uses and last use, and the
/// lockout counts (the home's own under [`LockoutRecord::HOME`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HomeCounts {
    pub uses: Vec<StoredUses>,
    pub lockouts: Vec<LockoutRecord>,
}

/// A user's stored use count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUses {
    pub user_id: String,
    pub uses: u32,
    /// Unknown for uses counted before keyward kept it.
    pub last_used: Option<Timestamp>,
}

/// Everything the hub keeps in memory, read once at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub homes: Vec<HomeRecord>,
    pub locks: Vec<LockRecord>,
    pub users: Vec<UserRecord>,
    pub lockouts: Vec<LockoutRecord>,
    pub slots: Vec<SlotRecord>,
    /// The homes' alarm panels (a home without a row has a new one).
    pub panels: Vec<PanelRecord>,
    pub sensors: Vec<SensorRecord>,
    pub sirens: Vec<SirenRecord>,
}

/// Keyward's knowledge of one slot of a bound lock, kept so a restart resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRecord {
    pub lock_id: String,
    pub slot: u16,
    /// The user whose code keyward put (or is putting) in the slot.
    pub user_id: Option<String>,
    /// What the slot holds and whose codes may be in it.
    pub memory: SlotMemory,
    pub status: CodeStatus,
    pub reason: Option<FailureReason>,
    /// For a duplicate: the slot that already holds the code, when known.
    pub detail: Option<u16>,
    /// Failed attempts since the last success, for the backoff and the
    /// bound on unconfirmed writes.
    pub attempts: u32,
    /// The code (MAC) those attempts were writes of; `None` for clears.
    pub attempt_mac: Option<CodeMac>,
    pub retry_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

/// A page of a home's activity, newest first. `before` is the cursor.
#[derive(Debug, Clone)]
pub struct ActivityFilter {
    pub home_id: String,
    pub user_id: Option<String>,
    pub device: Option<String>,
    pub outcome: Option<Outcome>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct ActivityPage {
    pub entries: Vec<ActivityEntry>,
    /// The cursor of the next page, when there is one.
    pub next: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// A token bound to a home may act on that home only.
    pub home_id: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    pub id: String,
    pub email: String,
    /// An Argon2id PHC string.
    pub password_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl fmt::Debug for OwnerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerRecord").field("id", &self.id).field("email", &self.email).finish_non_exhaustive()
    }
}

/// One of an owner's sessions, as their Settings page lists it: known by
/// the digest of its token (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLine {
    pub digest: Digest,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
    /// The browser and device in words ("Firefox on Android"); empty when
    /// not known (a session older than the words).
    pub device: String,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub owner: OwnerRecord,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
}

/// Failed sign-ins under one throttling key (an account, an address, a browser).
pub use keyward_core::SignInFailures;

/// A link that shows a visitor their own access. Its token is never
/// stored: only its digest, and the digest of the cookie of the browser
/// that opened it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    pub id: String,
    pub home_id: String,
    pub user_id: String,
    pub digest: Digest,
    /// Who made it, as `Actor::to_text`.
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub opened_at: Option<Timestamp>,
    pub browser: Option<Digest>,
}

#[derive(Debug, Clone)]
pub struct InviteRecord {
    pub digest: Digest,
    pub email: String,
    pub invited_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

//! The lock sync engine: desired state against the locks' read-back.
//!
//! Each lock keyward knows has one [`state::LockEntry`]: everything known
//! of it, behind one mutex. Each bound lock has one worker (locks do one
//! thing at a time, battery locks slowly), whose pass (`worker`):
//! 1. reads back every slot it must know before acting (after a start, a
//!    reconnection, a report that the lock changed, a failed command, and
//!    every 6 hours), so codes put there by someone else are seen as foreign
//!    and an emptied lock is seen as empty;
//! 2. gives slots to the users who may use the lock (stable: a user keeps
//!    its slot) and computes what each should hold now
//!    (`keyward_core::lock_sync::belongs_on`);
//! 3. clears, then writes, one slot at a time where the two differ: a write
//!    only after its intent is durable, the lock's read-back the only truth;
//! 4. sleeps until something changes: a user or lock (`SyncSignal`), a lock
//!    event, a retry's time, the next instant a schedule moves a code.
//!
//! Which codes are keyward's is decided by each slot's history
//! (`keyward_core::lock_sync::SlotMemory`): a code keyward wrote stays
//! keyward's until the lock shows it gone, whatever happened to the users
//! meanwhile. A lock being removed, unbound or moved to another device
//! (`keyward_core::Removal`) is emptied of keyward's codes first.
//! Protocols are adapters behind `LockNetwork`; nothing here knows Z-Wave.

mod events;
mod state;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::{SignedDuration, Timestamp};
use keyward_core::lock_sync::{self as plan, DEFAULT_LEAD};
use keyward_core::{CodeStatus, DeviceRef, FailureReason, Protocol};
use keyward_store::{HomeStore, SlotRecord, Vault};
use tokio::sync::broadcast;

use crate::AppError;
use crate::clock::Clock;
use crate::devices::LockNetwork;
use crate::recorder::Recorder;
use crate::registry::Registry;
use state::{Handle, guard};

/// Tells the engine that a home's users or locks changed. Cheap to clone;
/// sending never waits.
#[derive(Clone)]
pub struct SyncSignal {
    changed: broadcast::Sender<String>,
    counts: Arc<Counts>,
}

/// Signals and device events sent to the engine and handled by it (the
/// engine is quiet only when it has handled all it was sent).
#[derive(Default)]
struct Counts {
    signals_sent: AtomicU64,
    signals_handled: AtomicU64,
    events_handled: AtomicU64,
    events_in_hand: AtomicU64,
}

impl SyncSignal {
    pub(crate) fn new() -> Self {
        Self { changed: broadcast::channel(256).0, counts: Arc::default() }
    }

    pub(crate) fn home_changed(&self, home_id: &str) {
        if self.changed.receiver_count() == 0 {
            return;
        }
        self.counts.signals_sent.fetch_add(1, Ordering::AcqRel);
        if self.changed.send(home_id.to_owned()).is_err() {
            self.counts.signals_handled.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The lock networks keyward reaches, and how early a code goes on.
pub struct LockOptions {
    pub networks: Vec<Arc<dyn LockNetwork>>,
    /// How long before a window opens (or a stay begins) a code goes on.
    pub lead: SignedDuration,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self { networks: Vec::new(), lead: DEFAULT_LEAD }
    }
}

/// Where one user's code stands on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockCodeView {
    pub lock_id: String,
    pub slot: Option<u16>,
    pub status: CodeStatus,
    pub reason: Option<FailureReason>,
    /// For a duplicate: the slot that holds the code already, when known.
    pub other_slot: Option<u16>,
    /// For a failure: when keyward tries again by itself; none when it
    /// waits for the owner (or for the code or the lock to change).
    pub retry_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

/// The lock's own wrong-code limit, for the owner's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadLimitView {
    /// The lock reports holding this limit.
    Held(crate::devices::KeypadLimit),
    /// The lock did not take a limit from keyward: it keeps its own.
    Unsupported,
}

/// One slot of a bound lock, for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub slot: u16,
    pub user_id: Option<String>,
    pub status: CodeStatus,
    pub reason: Option<FailureReason>,
    /// Holds a code keyward did not put there (programmed at the lock).
    pub foreign: bool,
    /// Not read back from the lock yet: keyward does not know what it holds.
    pub unread: bool,
    /// When keyward tries this slot again by itself, after a failure.
    pub retry_at: Option<Timestamp>,
}

/// A code keyward put on a device and has not seen gone: what a forced
/// removal leaves there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftCode {
    pub slot: u16,
    /// The user whose code it is (`None`: a user since deleted).
    pub user_id: Option<String>,
}

/// The engine. `start` spawns its workers; the services ask it for status.
pub struct LockSync {
    inner: Arc<Engine>,
}

pub(crate) struct Engine {
    registry: Arc<Registry>,
    recorder: Arc<Recorder>,
    signal: SyncSignal,
    vault: Arc<Vault>,
    store: Arc<dyn HomeStore>,
    clock: Arc<dyn Clock>,
    lead: SignedDuration,
    networks: Vec<Arc<dyn LockNetwork>>,
    /// Every lock keyward knows: its knowledge and its worker's wake-up.
    /// Taken only to find a handle, never while a lock's entry is held.
    handles: std::sync::Mutex<HashMap<String, Arc<Handle>>>,
    /// A lock's removal finished (it went, was unbound or moved).
    removed: broadcast::Sender<String>,
    tasks: crate::tasks::Tasks,
}

impl LockSync {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        registry: Arc<Registry>,
        recorder: Arc<Recorder>,
        signal: SyncSignal,
        vault: Arc<Vault>,
        store: Arc<dyn HomeStore>,
        clock: Arc<dyn Clock>,
        options: LockOptions,
        stored: Vec<SlotRecord>,
        tasks: crate::tasks::Tasks,
    ) -> Self {
        let mut slots: HashMap<String, BTreeMap<u16, SlotRecord>> = HashMap::new();
        for record in stored {
            slots.entry(record.lock_id.clone()).or_default().insert(record.slot, record);
        }
        let handles =
            slots.into_iter().map(|(lock_id, slots)| (lock_id.clone(), Arc::new(Handle::new(&lock_id, slots))));
        Self {
            inner: Arc::new(Engine {
                registry,
                recorder,
                signal,
                vault,
                store,
                clock,
                lead: options.lead,
                networks: options.networks,
                handles: std::sync::Mutex::new(handles.collect()),
                removed: broadcast::channel(64).0,
                tasks,
            }),
        }
    }

    /// Starts a worker for every bound lock, and follows changes and device
    /// events. Needs a tokio runtime.
    pub(crate) fn start(&self) {
        let engine = self.inner.clone();
        let mut changed = self.inner.signal.changed.subscribe();
        self.inner.tasks.spawn(async move {
            engine.ensure_workers().await;
            loop {
                match changed.recv().await {
                    Ok(home_id) => {
                        engine.home_changed(&home_id).await;
                        engine.signal.counts.signals_handled.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        engine.ensure_workers().await;
                        engine.poke_all(false);
                        engine.signal.counts.signals_handled.fetch_add(missed, Ordering::AcqRel);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        for network in &self.inner.networks {
            let engine = self.inner.clone();
            let mut events = network.subscribe();
            self.inner.tasks.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            engine.signal.counts.events_in_hand.fetch_add(1, Ordering::AcqRel);
                            engine.device_event(event).await;
                            engine.signal.counts.events_in_hand.fetch_sub(1, Ordering::AcqRel);
                            engine.signal.counts.events_handled.fetch_add(1, Ordering::AcqRel);
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "lock events were missed: reading the locks back");
                            engine.poke_all(true);
                            engine.signal.counts.events_handled.fetch_add(missed, Ordering::AcqRel);
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
    }

    pub fn networks(&self) -> &[Arc<dyn LockNetwork>] {
        &self.inner.networks
    }

    /// What its network says of a device now (`None`: no such network, or
    /// the network does not offer it).
    pub fn device_info(&self, device: &DeviceRef) -> Option<crate::devices::DeviceInfo> {
        let network = self.inner.network(device.protocol())?;
        network.devices().into_iter().find(|d| d.device == *device)
    }

    /// Nothing in flight and nothing due now: every signal and device event
    /// sent so far handled (`events_handled` counts them), every worker
    /// waiting for a wake-up or a later time. For tests, and diagnostics.
    pub fn quiet(&self) -> bool {
        let counts = &self.inner.signal.counts;
        let now = self.inner.clock.now();
        counts.signals_sent.load(Ordering::Acquire) == counts.signals_handled.load(Ordering::Acquire)
            && counts.events_in_hand.load(Ordering::Acquire) == 0
            && self.inner.all_handles().iter().all(|h| h.quiet(now))
    }

    /// How many device events the engine has handled since it started.
    pub fn events_handled(&self) -> u64 {
        self.inner.signal.counts.events_handled.load(Ordering::Acquire)
    }

    /// Where a user's code stands on each bound lock the user may use or
    /// still occupies.
    pub async fn lock_codes(&self, home_id: &str, user_id: &str) -> Vec<LockCodeView> {
        let Ok(home) = self.inner.registry.home(home_id) else { return Vec::new() };
        let (bound, user, zone) = {
            let state = home.lock().await;
            let mut bound: Vec<_> = state.locks.values().filter(|l| l.device.is_some()).collect();
            bound.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            let bound: Vec<(String, bool)> = bound.into_iter().map(|l| (l.id.clone(), l.removal.is_some())).collect();
            (bound, state.users.get(user_id).map(|r| r.user.clone()), state.home.zone.tz().clone())
        };
        let now = self.inner.clock.now();
        let mut views = Vec::new();
        for (lock_id, removing) in bound {
            let handle = self.inner.handle_of(&lock_id);
            let found = handle.as_ref().map(|h| {
                let entry = h.entry();
                let record = entry.slots.values().find(|r| r.user_id.as_deref() == Some(user_id));
                let view = record.map(|record| LockCodeView {
                    lock_id: lock_id.clone(),
                    slot: Some(record.slot),
                    status: record.status,
                    reason: record.reason,
                    other_slot: record.detail,
                    retry_at: record.retry_at.filter(|_| record.status == CodeStatus::Failed),
                    updated_at: Some(record.updated_at),
                });
                let without = entry.without_slot.iter().any(|u| u == user_id);
                (view, without)
            });
            match found {
                Some((Some(view), _)) => views.push(view),
                Some((None, true)) => views.push(LockCodeView {
                    lock_id,
                    slot: None,
                    status: CodeStatus::Failed,
                    reason: Some(FailureReason::NoFreeSlot),
                    other_slot: None,
                    retry_at: None,
                    updated_at: None,
                }),
                _ => {
                    let Some(user) = user.as_ref().filter(|u| !removing && u.locks.allows(&lock_id)) else { continue };
                    // Not yet in a slot: on its way when it belongs there now.
                    let on = plan::belongs_on(user, &lock_id, &zone, now, self.inner.lead);
                    views.push(LockCodeView {
                        status: if on { CodeStatus::Adding } else { CodeStatus::OffLock },
                        lock_id,
                        slot: None,
                        reason: None,
                        other_slot: None,
                        retry_at: None,
                        updated_at: None,
                    });
                }
            }
        }
        views
    }

    /// Every slot keyward knows of on a lock.
    /// The lock's own wrong-code limit as keyward set it: `None` before it
    /// was tried (or while the lock was away).
    pub fn keypad_limit(&self, lock_id: &str) -> Option<KeypadLimitView> {
        let handle = self.inner.handle_of(lock_id)?;
        let state = handle.entry().keypad_limit;
        match state {
            state::LimitState::Unknown => None,
            state::LimitState::Held { held, .. } => Some(KeypadLimitView::Held(held)),
            state::LimitState::Unsupported(_) => Some(KeypadLimitView::Unsupported),
        }
    }

    pub fn slots(&self, lock_id: &str) -> Vec<SlotView> {
        let Some(handle) = self.inner.handle_of(lock_id) else { return Vec::new() };
        let entry = handle.entry();
        entry
            .slots
            .values()
            .map(|r| SlotView {
                slot: r.slot,
                user_id: r.user_id.clone(),
                status: r.status,
                reason: r.reason,
                foreign: r.memory.is_foreign(),
                unread: r.memory.held == keyward_core::lock_sync::Held::Unknown,
                retry_at: r.retry_at,
            })
            .collect()
    }

    /// The codes keyward put on a lock's device and has not seen gone.
    pub fn codes_left(&self, lock_id: &str) -> Vec<LeftCode> {
        self.inner.codes_left(lock_id)
    }

    /// A code was granted at a lock through keyward: a spent code leaves the
    /// locks, and an unlock opens a bound lock (in the background: the
    /// decision is answered without waiting for the radio).
    pub(crate) fn granted(&self, home_id: &str, lock_id: &str, unlock: bool) {
        self.inner.signal.home_changed(home_id);
        if !unlock {
            return;
        }
        let (sync, home_id, lock_id) = (Self { inner: self.inner.clone() }, home_id.to_owned(), lock_id.to_owned());
        self.inner.tasks.spawn(async move {
            match sync.operate(&home_id, &lock_id, false).await {
                Ok(()) | Err(AppError::DeviceUnavailable) => {}
                Err(error) => {
                    tracing::warn!(lock = lock_id.as_str(), %error, "a granted unlock did not reach the lock")
                }
            }
        });
    }

    /// An owner's or an admin token's lock or unlock command: carried out,
    /// then written to the activity log under who asked.
    pub async fn command(
        &self,
        home_id: &str,
        lock_id: &str,
        lock: bool,
        actor: keyward_core::Actor,
    ) -> Result<(), AppError> {
        use keyward_core::{ActivityKind, Event};
        self.operate(home_id, lock_id, lock).await?;
        let home = self.inner.registry.home(home_id)?;
        let committed = {
            let state = self.inner.recorder.lock(&home).await?;
            let kind = if lock { ActivityKind::Locked } else { ActivityKind::Unlocked };
            let event = Event {
                device: Some(lock_id.to_owned()),
                actor: Some(actor),
                ..Event::bare(kind, self.inner.clock.now())
            };
            self.inner.recorder.record_event(&state, event, self.inner.clock.now())
        };
        committed.await?;
        Ok(())
    }

    /// Locks or unlocks a lock's device now.
    pub async fn operate(&self, home_id: &str, lock_id: &str, lock: bool) -> Result<(), AppError> {
        let home = self.inner.registry.home(home_id)?;
        let binding = home.lock().await.lock(lock_id).ok_or(AppError::LockNotFound)?.device.clone();
        let binding = binding.ok_or(AppError::DeviceUnavailable)?;
        let network = self.inner.network(binding.device.protocol()).ok_or(AppError::DeviceUnavailable)?;
        network.operate(&binding.device, lock).await.map_err(|error| {
            tracing::warn!(lock = lock_id, %error, "the lock did not carry out the command");
            AppError::DeviceFailed
        })
    }

    /// Clears the failures and refusals of a user's codes so they are tried
    /// again now.
    pub async fn retry_user(&self, user_id: &str) {
        for handle in self.inner.all_handles() {
            let pending: Vec<_> = {
                let mut entry = handle.entry();
                let changed = entry.retry_user(user_id);
                changed.into_iter().filter_map(|slot| entry.persist(self.inner.store.as_ref(), slot)).collect()
            };
            if !pending.is_empty() {
                self.inner.committed(pending).await;
                handle.poke();
            }
        }
    }

    /// Lets keyward clear a foreign code from a slot and use it. False when
    /// the slot holds no foreign code.
    pub async fn take_over(&self, lock_id: &str, slot: u16) -> bool {
        let Some(handle) = self.inner.handle_of(lock_id) else { return false };
        let pending: Vec<_> = {
            let mut entry = handle.entry();
            let Some(changed) = entry.take_over(slot) else { return false };
            changed.into_iter().filter_map(|slot| entry.persist(self.inner.store.as_ref(), slot)).collect()
        };
        self.inner.committed(pending).await;
        handle.poke();
        true
    }

    /// Resolves when a lock's removal finished (or at once when it has no
    /// removal waiting). The web layer bounds the wait.
    pub async fn removal_done(&self, home_id: &str, lock_id: &str) {
        let mut removed = self.inner.removed.subscribe();
        loop {
            let waiting = match self.inner.registry.home(home_id) {
                Ok(home) => home.lock().await.locks.get(lock_id).is_some_and(|l| l.removal.is_some()),
                Err(_) => false,
            };
            if !waiting {
                return;
            }
            match removed.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Forgets a lock's device at once (a removal the owner forced): answers
    /// the codes keyward leaves on it. Nothing more is sent to that device
    /// or stored of it; a command in flight has its answer dropped.
    pub(crate) fn abandon_device(&self, lock_id: &str, lock_goes: bool) -> Vec<LeftCode> {
        let left = self.inner.codes_left(lock_id);
        if let Some(handle) = self.inner.handle_of(lock_id) {
            let mut entry = handle.entry();
            if lock_goes {
                entry.retire()
            } else {
                entry.forget_device()
            }
            drop(entry);
            handle.poke();
        }
        left
    }

    /// Undoes [`Self::abandon_device`] of a lock whose removal could not be
    /// stored: it stays, and its worker starts over from a full read-back.
    pub(crate) fn reinstate(&self, lock_id: &str) {
        if let Some(handle) = self.inner.handle_of(lock_id) {
            handle.entry().reinstate();
            handle.poke();
        }
    }

    /// Wakes a lock's worker (its binding or removal changed).
    pub(crate) fn lock_changed(&self, lock_id: &str) {
        if let Some(handle) = self.inner.handle_of(lock_id) {
            handle.poke();
        }
    }

    /// Tells whoever waits that a lock's removal finished.
    pub(crate) fn removal_finished(&self, lock_id: &str) {
        let _ = self.inner.removed.send(lock_id.to_owned());
    }
}

impl Engine {
    fn network(&self, protocol: Protocol) -> Option<Arc<dyn LockNetwork>> {
        self.networks.iter().find(|n| n.protocol() == protocol).cloned()
    }

    fn all_handles(&self) -> Vec<Arc<Handle>> {
        guard(&self.handles).values().cloned().collect()
    }

    fn handle_of(&self, lock_id: &str) -> Option<Arc<Handle>> {
        guard(&self.handles).get(lock_id).cloned()
    }

    /// The lock's handle, made when keyward first hears of the lock.
    fn handle(&self, lock_id: &str) -> Arc<Handle> {
        guard(&self.handles)
            .entry(lock_id.to_owned())
            .or_insert_with(|| Arc::new(Handle::new(lock_id, BTreeMap::new())))
            .clone()
    }

    fn poke_all(&self, rescan: bool) {
        for handle in self.all_handles() {
            if rescan {
                handle.entry().rescan = true;
            }
            handle.poke();
        }
    }

    fn codes_left(&self, lock_id: &str) -> Vec<LeftCode> {
        let Some(handle) = self.handle_of(lock_id) else { return Vec::new() };
        let entry = handle.entry();
        entry
            .slots
            .values()
            .filter(|r| r.memory.is_keywards())
            .map(|r| LeftCode { slot: r.slot, user_id: r.user_id.clone() })
            .collect()
    }

    /// Awaits queued slot writes; a failure is logged (memory holds the
    /// state; the next change or restart writes it again).
    async fn committed(&self, pending: Vec<keyward_store::Pending<()>>) -> bool {
        let mut all = true;
        for write in pending {
            if let Err(error) = write.committed().await {
                tracing::error!(%error, "a lock slot's state could not be stored");
                all = false;
            }
        }
        all
    }

    async fn home_changed(self: &Arc<Self>, home_id: &str) {
        self.ensure_workers().await;
        let Ok(home) = self.registry.home(home_id) else { return };
        let locks: Vec<String> = home.lock().await.locks.keys().cloned().collect();
        for lock_id in locks {
            if let Some(handle) = self.handle_of(&lock_id) {
                handle.poke();
            }
        }
    }

    /// Starts a worker for each bound lock that has none.
    async fn ensure_workers(self: &Arc<Self>) {
        let Ok(homes) = self.registry.all() else { return };
        for home in homes {
            let bound: Vec<String> =
                home.lock().await.locks.values().filter(|l| l.device.is_some()).map(|l| l.id.clone()).collect();
            for lock_id in bound {
                let handle = self.handle(&lock_id);
                if !handle.running.swap(true, Ordering::AcqRel) {
                    self.tasks.spawn(self.clone().work(handle));
                }
            }
        }
    }
}

//! The lock sync engine: desired state against the locks' read-back.
//!
//! Each lock bound to a device has one worker (locks do one thing at a
//! time, battery locks slowly). A worker's pass:
//! 1. reads back every slot in range it does not know (after a start, a
//!    reconnection, "all codes deleted" or a periodic review), so codes put
//!    there by someone else are seen as foreign and an emptied lock is seen
//!    as empty;
//! 2. gives slots to the users who may use the lock (stable: a user keeps
//!    its slot), and computes what each slot should hold now
//!    (`keyward_core::lock_sync::belongs_on`);
//! 3. writes or clears one slot at a time where the two differ, and takes
//!    the lock's read-back as the only truth, recording the outcome durably;
//! 4. sleeps until something changes: a user or lock (`SyncSignal`), a lock
//!    event, a retry's time, or the next instant a schedule moves a code.
//!
//! Failures are diagnosed (`FailureReason`): an offline lock or an
//! unconfirmed write is retried with backoff; a duplicate or a full memory
//! is reported and not retried until the code or the lock changes.
//! Protocols are adapters behind `LockNetwork`; nothing here knows Z-Wave.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use keyward_core::lock_sync::{self as plan, DEFAULT_LEAD};
use keyward_core::{ActivityKind, CodeStatus, DeviceBinding, FailureReason, Protocol, SlotRange, User};
use keyward_store::{CodeMac, HomeStore, SlotContent, SlotRecord, Vault};
use tokio::sync::{Notify, broadcast};

use crate::AppError;
use crate::clock::Clock;
use crate::devices::{DeviceError, DeviceEvent, LockNetwork, Operation, SlotReading};
use crate::recorder::{Recorder, entry};
use crate::registry::Registry;

/// How often a lock's memory is read back in full even when nothing
/// suggests it changed (a Z-Wave JS reinstalled while keyward was away).
const FULL_REVIEW: SignedDuration = SignedDuration::from_hours(6);

/// Tells the engine that a home's users or locks changed. Cheap to clone;
/// sending never waits.
#[derive(Clone)]
pub struct SyncSignal {
    changed: broadcast::Sender<String>,
}

impl SyncSignal {
    pub(crate) fn new() -> Self {
        Self { changed: broadcast::channel(256).0 }
    }

    pub(crate) fn home_changed(&self, home_id: &str) {
        let _ = self.changed.send(home_id.to_owned());
    }
}

/// The lock networks keyward reaches, and how early a code goes on.
pub struct LockOptions {
    pub networks: Vec<Arc<dyn LockNetwork>>,
    /// How long before a window opens (or a stay begins) a code is put on.
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

/// One slot of a bound lock, for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub slot: u16,
    pub user_id: Option<String>,
    pub status: CodeStatus,
    pub reason: Option<FailureReason>,
    pub foreign: bool,
    /// Not read back from the lock yet: keyward does not know what it holds.
    pub unread: bool,
}

/// The engine. `start` spawns its workers; the services ask it for status.
pub struct LockSync {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    recorder: Arc<Recorder>,
    signal: SyncSignal,
    vault: Arc<Vault>,
    store: Arc<dyn HomeStore>,
    clock: Arc<dyn Clock>,
    lead: SignedDuration,
    networks: Vec<Arc<dyn LockNetwork>>,
    /// lock id → what keyward knows of each slot.
    slots: Mutex<HashMap<String, BTreeMap<u16, SlotRecord>>>,
    /// lock id → users who should have a slot there and found none.
    without_slot: Mutex<HashMap<String, Vec<String>>>,
    /// lock id → its worker's wake-up, and whether it must read back in full.
    workers: Mutex<HashMap<String, Arc<Worker>>>,
    /// Codes seen in slots keyward did not fill (lock id, slot) → keyed MAC,
    /// to name the slot behind a duplicate refusal.
    foreign: Mutex<HashMap<(String, u16), CodeMac>>,
    /// Foreign slots the owner let keyward clear and use.
    taken_over: Mutex<BTreeSet<(String, u16)>>,
    /// Slots to read back before anything else is done on their lock: their
    /// record keeps what was last confirmed, so keyward knows its own
    /// earlier code when it reads it.
    to_read: Mutex<BTreeSet<(String, u16)>>,
    /// lock id → whether its device answered when last told (unknown at
    /// start): only a change is logged, so a restart does not alert again.
    online: Mutex<HashMap<String, bool>>,
    /// lock id → whether its battery counts as low (`keyward_core::battery_report`).
    battery_low: Mutex<HashMap<String, bool>>,
}

struct Worker {
    wake: Notify,
    rescan: std::sync::atomic::AtomicBool,
    /// When the lock was last read back in full.
    scanned_at: Mutex<Option<Timestamp>>,
}

/// A slot keyward has not read yet.
fn unread_slot(lock_id: &str, slot: u16, now: Timestamp) -> SlotRecord {
    SlotRecord {
        lock_id: lock_id.to_owned(),
        slot,
        user_id: None,
        content: SlotContent::Unknown,
        status: CodeStatus::OffLock,
        reason: None,
        detail: None,
        attempts: 0,
        retry_at: None,
        updated_at: now,
    }
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A bound lock and its home's users, copied out of the home's lock.
struct View {
    home_id: String,
    binding: DeviceBinding,
    zone: jiff::tz::TimeZone,
    /// Users in the order slots are given (oldest first), with their code's MAC.
    users: Vec<(User, CodeMac)>,
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
    ) -> Self {
        let mut slots: HashMap<String, BTreeMap<u16, SlotRecord>> = HashMap::new();
        for record in stored {
            slots.entry(record.lock_id.clone()).or_default().insert(record.slot, record);
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                recorder,
                signal,
                vault,
                store,
                clock,
                lead: options.lead,
                networks: options.networks,
                slots: Mutex::new(slots),
                without_slot: Mutex::new(HashMap::new()),
                workers: Mutex::new(HashMap::new()),
                foreign: Mutex::new(HashMap::new()),
                taken_over: Mutex::new(BTreeSet::new()),
                to_read: Mutex::new(BTreeSet::new()),
                online: Mutex::new(HashMap::new()),
                battery_low: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts a worker for every bound lock, and follows changes and device
    /// events. Needs a tokio runtime.
    pub(crate) fn start(&self) {
        let inner = self.inner.clone();
        let mut changed = self.inner.signal.changed.subscribe();
        tokio::spawn(async move {
            inner.ensure_workers().await;
            loop {
                match changed.recv().await {
                    Ok(home_id) => inner.home_changed(&home_id).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => inner.ensure_workers().await,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        for network in &self.inner.networks {
            let inner = self.inner.clone();
            let mut events = network.subscribe();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => inner.device_event(event).await,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "lock events were missed: reading the locks back");
                            inner.rescan_all();
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
    pub fn device_info(&self, device: &keyward_core::DeviceRef) -> Option<crate::devices::DeviceInfo> {
        let network = self.inner.network(device.protocol())?;
        network.devices().into_iter().find(|d| d.device == *device)
    }

    /// Where a user's code stands on each bound lock the user may use or
    /// still occupies.
    pub async fn lock_codes(&self, home_id: &str, user_id: &str) -> Vec<LockCodeView> {
        let Ok(home) = self.inner.registry.home(home_id) else { return Vec::new() };
        let (bound, user, zone): (Vec<String>, Option<User>, jiff::tz::TimeZone) = {
            let state = home.lock().await;
            let mut bound: Vec<_> = state.locks.values().filter(|l| l.device.is_some()).collect();
            bound.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            (
                bound.into_iter().map(|l| l.id.clone()).collect(),
                state.users.get(user_id).map(|r| r.user.clone()),
                state.home.zone.tz().clone(),
            )
        };
        let now = self.inner.clock.now();
        let slots = guard(&self.inner.slots);
        let without = guard(&self.inner.without_slot);
        let mut views = Vec::new();
        for lock_id in bound {
            let held = slots.get(&lock_id).and_then(|s| s.values().find(|r| r.user_id.as_deref() == Some(user_id)));
            if let Some(record) = held {
                views.push(LockCodeView {
                    lock_id,
                    slot: Some(record.slot),
                    status: record.status,
                    reason: record.reason,
                    other_slot: record.detail,
                    retry_at: record.retry_at.filter(|_| record.status == CodeStatus::Failed),
                    updated_at: Some(record.updated_at),
                });
            } else if without.get(&lock_id).is_some_and(|users| users.iter().any(|u| u == user_id)) {
                views.push(LockCodeView {
                    lock_id,
                    slot: None,
                    status: CodeStatus::Failed,
                    reason: Some(FailureReason::NoFreeSlot),
                    other_slot: None,
                    retry_at: None,
                    updated_at: None,
                });
            } else if let Some(user) = user.as_ref().filter(|u| u.locks.allows(&lock_id)) {
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
        views
    }

    /// Every slot keyward knows of on a lock.
    pub fn slots(&self, lock_id: &str) -> Vec<SlotView> {
        guard(&self.inner.slots)
            .get(lock_id)
            .map(|slots| {
                slots
                    .values()
                    .map(|r| SlotView {
                        slot: r.slot,
                        user_id: r.user_id.clone(),
                        status: r.status,
                        reason: r.reason,
                        foreign: r.content == SlotContent::Foreign && r.user_id.is_none(),
                        unread: r.content == SlotContent::Unknown,
                    })
                    .collect()
            })
            .unwrap_or_default()
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
        tokio::spawn(async move {
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
        let binding = home.lock().await.locks.get(lock_id).ok_or(AppError::LockNotFound)?.device.clone();
        let binding = binding.ok_or(AppError::DeviceUnavailable)?;
        let network = self.inner.network(binding.device.protocol()).ok_or(AppError::DeviceUnavailable)?;
        network.operate(&binding.device, lock).await.map_err(|error| {
            tracing::warn!(lock = lock_id, %error, "the lock did not carry out the command");
            AppError::DeviceFailed
        })
    }

    /// Clears the failures of a user's codes so they are tried again now.
    pub fn retry_user(&self, user_id: &str) {
        let mut locks = Vec::new();
        for (lock_id, slots) in guard(&self.inner.slots).iter_mut() {
            for record in slots.values_mut().filter(|r| r.user_id.as_deref() == Some(user_id)) {
                record.retry_at = None;
                record.attempts = 0;
                if matches!(record.content, SlotContent::Refused(_)) {
                    record.content = SlotContent::Unknown;
                }
                guard(&self.inner.to_read).insert((lock_id.clone(), record.slot));
                locks.push(lock_id.clone());
            }
        }
        for lock_id in locks {
            self.inner.wake(&lock_id, false);
        }
    }

    /// Lets keyward clear a foreign code from a slot and use it. False when
    /// the slot holds no foreign code.
    pub fn take_over(&self, lock_id: &str, slot: u16) -> bool {
        let foreign = guard(&self.inner.slots)
            .get(lock_id)
            .and_then(|slots| slots.get(&slot))
            .is_some_and(|r| r.content == SlotContent::Foreign);
        if foreign {
            guard(&self.inner.taken_over).insert((lock_id.to_owned(), slot));
            // Whoever was refused for a duplicate may be tried again once it is gone.
            if let Some(slots) = guard(&self.inner.slots).get_mut(lock_id) {
                for record in slots.values_mut().filter(|r| matches!(r.content, SlotContent::Refused(_))) {
                    record.content = SlotContent::Empty;
                    record.status = CodeStatus::Adding;
                }
            }
            self.inner.wake(lock_id, false);
        }
        foreign
    }
}

impl Inner {
    fn network(&self, protocol: Protocol) -> Option<Arc<dyn LockNetwork>> {
        self.networks.iter().find(|n| n.protocol() == protocol).cloned()
    }

    fn wake(&self, lock_id: &str, rescan: bool) {
        if let Some(worker) = guard(&self.workers).get(lock_id) {
            if rescan {
                worker.rescan.store(true, std::sync::atomic::Ordering::Release);
            }
            worker.wake.notify_one();
        }
    }

    fn rescan_all(&self) {
        for worker in guard(&self.workers).values() {
            worker.rescan.store(true, std::sync::atomic::Ordering::Release);
            worker.wake.notify_one();
        }
    }

    async fn home_changed(self: &Arc<Self>, home_id: &str) {
        self.ensure_workers().await;
        let Ok(home) = self.registry.home(home_id) else { return };
        let locks: Vec<String> = home.lock().await.locks.keys().cloned().collect();
        for lock_id in locks {
            self.wake(&lock_id, false);
        }
    }

    /// Starts a worker for each bound lock that has none.
    async fn ensure_workers(self: &Arc<Self>) {
        let Ok(homes) = self.registry.all() else { return };
        for home in homes {
            let bound: Vec<String> =
                home.lock().await.locks.values().filter(|l| l.device.is_some()).map(|l| l.id.clone()).collect();
            for lock_id in bound {
                let worker = {
                    let mut workers = guard(&self.workers);
                    if workers.contains_key(&lock_id) {
                        continue;
                    }
                    let worker = Arc::new(Worker {
                        wake: Notify::new(),
                        rescan: std::sync::atomic::AtomicBool::new(true),
                        scanned_at: Mutex::new(None),
                    });
                    workers.insert(lock_id.clone(), worker.clone());
                    worker
                };
                tokio::spawn(self.clone().work(lock_id, worker));
            }
        }
    }

    async fn device_event(&self, event: DeviceEvent) {
        self.record_lock_event(&event).await;
        match event {
            DeviceEvent::Network { connected: true } => self.rescan_all(),
            DeviceEvent::Network { connected: false } => {}
            DeviceEvent::Online { device, online } => {
                if let Some((home_id, lock_id)) = self.bound_lock(&device).await {
                    let before = guard(&self.online).insert(lock_id.clone(), online);
                    // Offline unless known offline; online only after offline.
                    let changed = if online { before == Some(false) } else { before != Some(false) };
                    if changed {
                        let kind = if online { ActivityKind::Online } else { ActivityKind::Offline };
                        self.record_lock_entry(&home_id, &lock_id, kind, None, None).await;
                    }
                    if online {
                        // Back: try what waited for it now, and look at its memory again.
                        self.reset_offline(&lock_id);
                    }
                    self.wake(&lock_id, online);
                }
            }
            DeviceEvent::StateChanged { device, state } => self.check_battery(&device, state.battery).await,
            DeviceEvent::CodesCleared { device } | DeviceEvent::Reinterviewed { device } => {
                if let Some(lock_id) = self.lock_of(&device).await {
                    self.wake(&lock_id, true);
                }
            }
            DeviceEvent::SlotChanged { device, slot } | DeviceEvent::DuplicateRefused { device, slot } => {
                if let Some(lock_id) = self.lock_of(&device).await {
                    guard(&self.to_read).insert((lock_id.clone(), slot));
                    self.wake(&lock_id, false);
                }
            }
            _ => {}
        }
    }

    /// What a lock reports of its own use becomes the home's activity: a
    /// code typed at the keypad is the user's arrival (or departure) and
    /// counts as a use, committed before anything else follows from it; a
    /// use that spends the user's last one takes the code off every lock.
    async fn record_lock_event(&self, event: &DeviceEvent) {
        use keyward_core::{Action, ActivityKind, Actor, Event, Outcome, UseCount, UserKind, UserRef};
        let (device, kind, how, user_slot) = match event.clone() {
            DeviceEvent::Keypad { device, slot, unlocked } => {
                let kind = if unlocked { ActivityKind::Arrival } else { ActivityKind::Departure };
                (device, kind, "keypad", Some(slot))
            }
            DeviceEvent::Operated { device, operation, unlocked } => {
                let kind = if unlocked { ActivityKind::Unlocked } else { ActivityKind::Locked };
                let how = match operation {
                    Operation::Manual => "manual",
                    Operation::Remote => "remote",
                    Operation::Auto => "auto",
                };
                (device, kind, how, None)
            }
            DeviceEvent::Jammed { device } => (device, ActivityKind::Jammed, "manual", None),
            DeviceEvent::WrongCode { device } => (device, ActivityKind::AccessDenied, "keypad", None),
            _ => return,
        };
        let Some((home_id, lock_id)) = self.bound_lock(&device).await else { return };
        let user_id = user_slot.and_then(|slot| {
            guard(&self.slots).get(&lock_id).and_then(|s| s.get(&slot)).and_then(|r| r.user_id.clone())
        });
        let Ok(home) = self.registry.home(&home_id) else { return };
        let (committed, spent) = {
            let Ok(mut state) = self.recorder.lock(&home).await else { return };
            let at = self.clock.now();
            let user = user_id.as_ref().and_then(|id| state.users.get_mut(id));
            // A keypad code keyward did not give is an unlock by someone unknown.
            let kind = match (kind, &user) {
                (ActivityKind::Arrival, None) => ActivityKind::Unlocked,
                (ActivityKind::Departure, None) => ActivityKind::Locked,
                (kind, _) => kind,
            };
            let mut uses = None;
            let mut spent = false;
            let mut named = None;
            let mut duress = false;
            if let Some(record) = user {
                let count = record.user.uses.saturating_add(1);
                record.user.uses = count;
                record.last_used = Some(at);
                spent = record.user.validity.max_uses().is_some_and(|max| count >= max);
                duress = record.user.kind == UserKind::Duress;
                named = Some(UserRef { id: record.user.id.clone(), name: record.user.name.as_str().to_owned() });
                uses = Some(UseCount { user_id: record.user.id.clone(), uses: count, last_used: at });
            }
            let granted = matches!(kind, ActivityKind::Arrival | ActivityKind::Departure);
            let event = Event {
                at,
                kind,
                device: Some(lock_id.clone()),
                action: (kind == ActivityKind::Arrival).then_some(Action::Unlock),
                outcome: if granted {
                    Some(Outcome::Granted)
                } else if kind == ActivityKind::AccessDenied {
                    Some(Outcome::Denied)
                } else {
                    None
                },
                reason: (kind == ActivityKind::AccessDenied).then_some(keyward_core::DenyReason::UnknownCode),
                user: named,
                duress,
                actor: Some(Actor::Lock(how.to_owned())),
                detail: None,
            };
            let record = keyward_store::Record {
                home_id: home_id.clone(),
                applied_ahead: uses.is_some(),
                entries: vec![entry(&home_id, event)],
                uses,
                ..keyward_store::Record::default()
            };
            (self.recorder.record(&state, record, at), spent)
        };
        if let Err(error) = committed.await {
            home.lock().await.stale = true;
            tracing::error!(lock = lock_id.as_str(), %error, "a lock's event could not be recorded");
            return;
        }
        if spent {
            self.signal.home_changed(&home_id);
        }
    }

    fn reset_offline(&self, lock_id: &str) {
        if let Some(slots) = guard(&self.slots).get_mut(lock_id) {
            for record in slots.values_mut().filter(|r| r.reason == Some(FailureReason::Offline)) {
                record.retry_at = None;
            }
        }
    }

    /// The lock bound to a device, in whichever home.
    async fn lock_of(&self, device: &keyward_core::DeviceRef) -> Option<String> {
        self.bound_lock(device).await.map(|(_, lock_id)| lock_id)
    }

    /// The home and the lock bound to a device, found in one pass.
    async fn bound_lock(&self, device: &keyward_core::DeviceRef) -> Option<(String, String)> {
        for home in self.registry.all().ok()? {
            let state = home.lock().await;
            if let Some(lock) = state.locks.values().find(|l| l.device.as_ref().is_some_and(|b| b.device == *device)) {
                return Some((state.id().to_owned(), lock.id.clone()));
            }
        }
        None
    }

    /// The lock's binding and its home's users, or `None` when the lock is
    /// gone or no longer bound.
    async fn view(&self, lock_id: &str) -> Option<View> {
        for home in self.registry.all().ok()? {
            let state = home.lock().await;
            let Some(lock) = state.locks.get(lock_id) else { continue };
            let binding = lock.device.clone()?;
            let mut users: Vec<_> = state.users.values().collect();
            users.sort_by(|a, b| (a.created_at, &a.user.id).cmp(&(b.created_at, &b.user.id)));
            return Some(View {
                home_id: state.id().to_owned(),
                binding,
                zone: state.home.zone.tz().clone(),
                users: users.into_iter().map(|r| (r.user.clone(), r.code.mac)).collect(),
            });
        }
        None
    }

    async fn work(self: Arc<Self>, lock_id: String, worker: Arc<Worker>) {
        loop {
            let wake = worker.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let Some(view) = self.view(&lock_id).await else {
                guard(&self.workers).remove(&lock_id);
                guard(&self.without_slot).remove(&lock_id);
                return;
            };
            let next = self.pass(&lock_id, &view, &worker).await;
            match next {
                Some(at) => {
                    tokio::select! {
                        () = &mut wake => {}
                        () = self.clock.sleep_until(at) => {}
                    }
                }
                None => wake.await,
            }
        }
    }

    /// One pass over a lock: acts on every difference it may act on now, and
    /// answers when it should look again (`None`: only when woken).
    async fn pass(&self, lock_id: &str, view: &View, worker: &Worker) -> Option<Timestamp> {
        let device = &view.binding.device;
        let network = self.network(device.protocol())?;
        if !network.connected() {
            return None;
        }
        let info = network.devices().into_iter().find(|d| d.device == *device);
        let range = match (view.binding.slots, info.as_ref().and_then(|d| d.slots)) {
            (Some(range), _) => range,
            (None, Some(count)) => SlotRange::of_lock(device.protocol(), count)?,
            (None, None) => return None,
        };
        let now = self.clock.now();
        let due = guard(&worker.scanned_at).is_none_or(|at| at.checked_add(FULL_REVIEW).is_ok_and(|due| due <= now));
        if worker.rescan.swap(false, std::sync::atomic::Ordering::AcqRel) || due {
            self.forget_contents(lock_id, range);
            *guard(&worker.scanned_at) = Some(now);
        }
        let review_at = self.clock.now().checked_add(FULL_REVIEW).ok();
        loop {
            let now = self.clock.now();
            // Slots not read yet are read first: nothing is written blind.
            if let Some(slot) = self.first_unknown(lock_id, range) {
                match network.read_slot(device, slot).await {
                    Ok(reading) => self.learn(lock_id, view, slot, reading, now).await,
                    Err(error) => return self.device_failed(lock_id, None, slot, error, now).await,
                }
                continue;
            }
            let (desired, without, mut next) = self.desired(lock_id, view, range, now);
            guard(&self.without_slot).insert(lock_id.to_owned(), without);
            let Some((slot, want)) = self.next_work(lock_id, &desired, &mut next, now) else {
                self.settle_statuses(lock_id, &desired, now).await;
                // A time already past (the clock moved during the pass) makes
                // the worker come straight back for a fresh pass.
                return [next, review_at, self.earliest_retry(lock_id, now)].into_iter().flatten().min();
            };
            self.act(lock_id, view, &*network, slot, want, now).await;
        }
    }

    fn forget_contents(&self, lock_id: &str, range: SlotRange) {
        let now = self.clock.now();
        let mut slots = guard(&self.slots);
        let slots = slots.entry(lock_id.to_owned()).or_default();
        for slot in range.slots() {
            let record = slots.entry(slot).or_insert_with(|| unread_slot(lock_id, slot, now));
            if !matches!(record.content, SlotContent::Refused(_)) {
                guard(&self.to_read).insert((lock_id.to_owned(), slot));
            }
        }
        // Slots out of a narrowed range are no longer keyward's.
        slots.retain(|slot, record| range.contains(*slot) || record.user_id.is_some());
    }

    /// The first retry still to come on this lock.
    fn earliest_retry(&self, lock_id: &str, now: Timestamp) -> Option<Timestamp> {
        guard(&self.slots).get(lock_id)?.values().filter_map(|r| r.retry_at).filter(|at| *at > now).min()
    }

    fn first_unknown(&self, lock_id: &str, range: SlotRange) -> Option<u16> {
        let now = self.clock.now();
        let to_read = guard(&self.to_read);
        guard(&self.slots).get(lock_id).and_then(|slots| {
            slots
                .values()
                .find(|r| {
                    range.contains(r.slot)
                        && (r.content == SlotContent::Unknown || to_read.contains(&(lock_id.to_owned(), r.slot)))
                        && r.retry_at.is_none_or(|at| at <= now)
                })
                .map(|r| r.slot)
        })
    }

    /// Records what a read found in a slot.
    async fn learn(&self, lock_id: &str, view: &View, slot: u16, reading: SlotReading, now: Timestamp) {
        let known = guard(&self.slots).get(lock_id).and_then(|s| s.get(&slot)).cloned();
        let content = match reading {
            SlotReading::Empty => match known.as_ref().map(|r| r.content) {
                // An empty slot is what the lock's refusal left: it stays
                // refused until the code changes or the owner acts, or a
                // read-back after the refusal would start the retries again.
                Some(refused @ SlotContent::Refused(_)) => refused,
                _ => SlotContent::Empty,
            },
            SlotReading::Code(code) => {
                let mac = self.vault.code_mac(&view.home_id, &code);
                let assigned = known.as_ref().and_then(|r| r.user_id.clone());
                let theirs = assigned.is_some_and(|user| view.users.iter().any(|(u, m)| u.id == user && *m == mac));
                // Keyward's own earlier code (the user's code changed since) is still keyward's.
                let earlier = known
                    .as_ref()
                    .is_some_and(|r| matches!(r.content, SlotContent::Code(m) | SlotContent::Sent(m) if m == mac));
                if theirs || earlier {
                    SlotContent::Code(mac)
                } else {
                    guard(&self.foreign).insert((lock_id.to_owned(), slot), mac);
                    SlotContent::Foreign
                }
            }
            SlotReading::Occupied => {
                // Unreadable: keyward's own if keyward confirmed its code
                // there, or sent it there without an answer (then written
                // again, or cleared, until the lock confirms).
                match known.map(|r| r.content) {
                    Some(SlotContent::Code(mac)) => SlotContent::Code(mac),
                    Some(SlotContent::Sent(mac)) => SlotContent::Sent(mac),
                    _ => SlotContent::Foreign,
                }
            }
            SlotReading::Unknown => {
                // No answer: try again later, without blocking the rest.
                self.update(lock_id, slot, now, |r| {
                    r.attempts = r.attempts.saturating_add(1);
                    r.retry_at = now.checked_add(plan::retry_delay(r.attempts)).ok();
                })
                .await;
                return;
            }
        };
        guard(&self.to_read).remove(&(lock_id.to_owned(), slot));
        self.update(lock_id, slot, now, |r| {
            r.content = content;
            r.retry_at = None;
            if content == SlotContent::Foreign && r.user_id.is_some() {
                // Someone else's code now sits in a user's slot (programmed
                // at the lock): the slot is no longer theirs, never reported
                // as holding their code; the user gets another slot.
                r.user_id = None;
                r.status = CodeStatus::OffLock;
                r.reason = None;
            }
        })
        .await;
    }

    /// What each slot should hold now: slot → (user, MAC) for codes that
    /// belong on the lock, and the users who found no slot. Also the next
    /// instant a schedule or date changes that.
    #[allow(clippy::type_complexity)]
    fn desired(
        &self,
        lock_id: &str,
        view: &View,
        range: SlotRange,
        now: Timestamp,
    ) -> (BTreeMap<u16, (String, Option<CodeMac>)>, Vec<String>, Option<Timestamp>) {
        let slots = guard(&self.slots);
        let known = slots.get(lock_id);
        let held: BTreeMap<String, u16> = known
            .map(|s| s.values().filter_map(|r| r.user_id.clone().map(|u| (u, r.slot))).collect())
            .unwrap_or_default();
        let wanting: Vec<String> = view
            .users
            .iter()
            .filter(|(u, _)| plan::keeps_slot(u, lock_id, &view.zone, now))
            .map(|(u, _)| u.id.clone())
            .collect();
        // A foreign code's slot is not free; nor is one still holding a former user's code.
        let unavailable: BTreeSet<u16> = known
            .map(|s| {
                s.values()
                    .filter(|r| {
                        let former = r.user_id.as_ref().is_some_and(|u| !wanting.contains(u));
                        (r.content == SlotContent::Foreign && r.user_id.is_none())
                            || (former && matches!(r.content, SlotContent::Code(_) | SlotContent::Sent(_)))
                    })
                    .map(|r| r.slot)
                    .collect()
            })
            .unwrap_or_default();
        let allocation = plan::allocate(range, &held, &wanting, &unavailable);
        let mut next: Option<Timestamp> = None;
        let mut desired = BTreeMap::new();
        for (slot, user_id) in allocation.slots {
            let Some((user, mac)) = view.users.iter().find(|(u, _)| u.id == user_id) else { continue };
            let on = plan::belongs_on(user, lock_id, &view.zone, now, self.lead);
            if let Some(at) = plan::next_review(user, &view.zone, now, self.lead) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            desired.insert(slot, (user_id, on.then_some(*mac)));
        }
        (desired, allocation.without_slot, next)
    }

    /// The next slot to act on, and what it should hold (`None`: empty).
    fn next_work(
        &self,
        lock_id: &str,
        desired: &BTreeMap<u16, (String, Option<CodeMac>)>,
        next: &mut Option<Timestamp>,
        now: Timestamp,
    ) -> Option<(u16, Option<(String, CodeMac)>)> {
        let slots = guard(&self.slots);
        let known = slots.get(lock_id)?;
        let taken_over = guard(&self.taken_over);
        let mut writes = Vec::new();
        let mut clears = Vec::new();
        for record in known.values() {
            let want = desired.get(&record.slot);
            let wanted_mac = want.and_then(|(_, m)| *m);
            let wrong = match (&record.content, wanted_mac) {
                (SlotContent::Code(have), Some(mac)) => *have != mac,
                (SlotContent::Code(_), None) => true,
                // Sent without an answer: written again until confirmed, or cleared.
                (SlotContent::Sent(_), _) => true,
                (SlotContent::Empty, Some(_)) => true,
                (SlotContent::Refused(refused), Some(mac)) => *refused != mac,
                (SlotContent::Refused(_), None) => false,
                (SlotContent::Empty, None) => false,
                // Foreign codes are left alone unless the owner took the slot over.
                (SlotContent::Foreign, _) => taken_over.contains(&(lock_id.to_owned(), record.slot)),
                (SlotContent::Unknown, _) => false,
            };
            if !wrong {
                continue;
            }
            if let Some(at) = record.retry_at.filter(|at| *at > now) {
                *next = Some(next.map_or(at, |n| n.min(at)));
                continue;
            }
            match (wanted_mac, want) {
                (Some(mac), Some((user, _))) if record.content != SlotContent::Foreign => {
                    writes.push((record.slot, Some((user.clone(), mac))))
                }
                _ => clears.push((record.slot, None)),
            }
        }
        // Clears first: they free memory and never make a duplicate.
        clears.into_iter().chain(writes).next()
    }

    async fn act(
        &self,
        lock_id: &str,
        view: &View,
        network: &dyn LockNetwork,
        slot: u16,
        want: Option<(String, CodeMac)>,
        now: Timestamp,
    ) {
        let device = &view.binding.device;
        match want {
            Some((user_id, mac)) => {
                // The lock would refuse a code another of its slots holds: say so without trying.
                if let Some(other) = self.slot_holding(lock_id, mac) {
                    self.refuse(lock_id, slot, user_id, mac, FailureReason::DuplicateOnLock, Some(other), now).await;
                    return;
                }
                let Some(code) = self.code_of(view, &user_id).await else {
                    // Damaged: shown on the user (`code_damaged`); nothing to write.
                    self.update(lock_id, slot, now, |r| {
                        r.user_id = Some(user_id.clone());
                        r.status = CodeStatus::Failed;
                        r.reason = Some(FailureReason::Rejected);
                        r.retry_at = None;
                        r.content = SlotContent::Refused(mac);
                    })
                    .await;
                    return;
                };
                // The intent is durable before the write: after a crash
                // mid-write, or an answer lost, the code found in this slot
                // is known as keyward's.
                self.update(lock_id, slot, now, |r| {
                    r.user_id = Some(user_id.clone());
                    r.status = CodeStatus::Adding;
                    r.content = SlotContent::Sent(mac);
                })
                .await;
                let outcome = network.write_code(device, slot, &code).await;
                drop(code);
                let now = self.clock.now();
                match outcome {
                    Ok(SlotReading::Code(read)) if self.vault.code_mac(&view.home_id, &read) == mac => {
                        self.succeed(lock_id, slot, Some(user_id), SlotContent::Code(mac), now).await;
                    }
                    // A masked read right after keyward's write: the slot is occupied by it.
                    Ok(SlotReading::Occupied) => {
                        self.succeed(lock_id, slot, Some(user_id), SlotContent::Code(mac), now).await;
                    }
                    Ok(_) => {
                        // Bounded: a refusal the network does not pass on
                        // must not become an endless retry.
                        let attempts = guard(&self.slots)
                            .get(lock_id)
                            .and_then(|s| s.get(&slot))
                            .map_or(0, |r| r.attempts)
                            .saturating_add(1);
                        if attempts >= keyward_core::lock_sync::MAX_UNCONFIRMED_WRITES {
                            self.refuse(lock_id, slot, user_id, mac, FailureReason::NoConfirmation, None, now).await
                        } else {
                            self.fail(lock_id, slot, Some(user_id), FailureReason::NoConfirmation, None, now).await
                        }
                    }
                    Err(DeviceError::Duplicate) => {
                        let other = self.slot_holding(lock_id, mac);
                        self.refuse(lock_id, slot, user_id, mac, FailureReason::DuplicateOnLock, other, now).await
                    }
                    Err(DeviceError::MemoryFull) => {
                        self.refuse(lock_id, slot, user_id, mac, FailureReason::MemoryFull, None, now).await
                    }
                    Err(error) => {
                        self.device_failed(lock_id, Some(user_id), slot, error, now).await;
                    }
                }
            }
            None => {
                let owner = guard(&self.slots).get(lock_id).and_then(|s| s.get(&slot)).and_then(|r| r.user_id.clone());
                self.mark(lock_id, slot, owner.as_deref(), CodeStatus::Removing);
                let outcome = network.clear_code(device, slot).await;
                let now = self.clock.now();
                match outcome {
                    Ok(SlotReading::Empty) => {
                        guard(&self.taken_over).remove(&(lock_id.to_owned(), slot));
                        guard(&self.foreign).remove(&(lock_id.to_owned(), slot));
                        self.succeed(lock_id, slot, owner, SlotContent::Empty, now).await
                    }
                    Ok(_) => self.fail(lock_id, slot, owner, FailureReason::NoConfirmation, None, now).await,
                    Err(error) => {
                        self.device_failed(lock_id, owner, slot, error, now).await;
                    }
                }
            }
        }
    }

    async fn code_of(&self, view: &View, user_id: &str) -> Option<zeroize::Zeroizing<String>> {
        let home = self.registry.home(&view.home_id).ok()?;
        let state = home.lock().await;
        let record = state.users.get(user_id)?;
        self.vault.unseal(&view.home_id, user_id, &record.code.sealed).ok()
    }

    /// A slot of the lock that holds this code without keyward having put
    /// it there (a duplicate's cause: a code programmed at the lock).
    fn slot_holding(&self, lock_id: &str, mac: CodeMac) -> Option<u16> {
        let slots = guard(&self.slots);
        let known = slots.get(lock_id)?;
        guard(&self.foreign)
            .iter()
            .filter(|((lock, slot), m)| {
                lock == lock_id && **m == mac && known.get(slot).is_some_and(|r| r.content == SlotContent::Foreign)
            })
            .map(|((_, slot), _)| *slot)
            .min()
    }

    fn mark(&self, lock_id: &str, slot: u16, user_id: Option<&str>, status: CodeStatus) {
        if let Some(record) = guard(&self.slots).get_mut(lock_id).and_then(|s| s.get_mut(&slot)) {
            record.status = status;
            record.user_id = user_id.map(str::to_owned);
        }
    }

    async fn succeed(&self, lock_id: &str, slot: u16, user_id: Option<String>, content: SlotContent, now: Timestamp) {
        let on = matches!(content, SlotContent::Code(_));
        // An emptied slot is given back: its user keeps it only while they may use the lock.
        self.update(lock_id, slot, now, |r| {
            r.user_id = user_id.clone();
            r.content = content;
            r.status = if on { CodeStatus::OnLock } else { CodeStatus::OffLock };
            r.reason = None;
            r.detail = None;
            r.attempts = 0;
            r.retry_at = None;
        })
        .await;
    }

    /// Logs something that happened to a lock (not a use of it): it went
    /// offline or came back, a user's code could not be put on it. Its
    /// alert, if any, is planned by the recorder like any other.
    /// Tells a low battery once (see `battery_low`).
    async fn check_battery(&self, device: &keyward_core::DeviceRef, level: Option<u8>) {
        let Some(level) = level else { return };
        let Some((home_id, lock_id)) = self.bound_lock(device).await else { return };
        let tell = {
            let mut low = guard(&self.battery_low);
            let (now_low, tell) = keyward_core::battery_report(low.get(&lock_id).copied().unwrap_or(false), level);
            low.insert(lock_id.clone(), now_low);
            tell
        };
        if tell {
            let detail = Some(format!("{level} %"));
            self.record_lock_entry(&home_id, &lock_id, ActivityKind::BatteryLow, None, detail).await;
        }
    }

    async fn record_lock_entry(
        &self,
        home_id: &str,
        lock_id: &str,
        kind: ActivityKind,
        user_id: Option<&str>,
        detail: Option<String>,
    ) {
        let Ok(home) = self.registry.home(home_id) else { return };
        let committed = {
            let Ok(state) = self.recorder.lock(&home).await else { return };
            let user = user_id
                .and_then(|id| state.users.get(id))
                .map(|r| keyward_core::UserRef { id: r.user.id.clone(), name: r.user.name.as_str().to_owned() });
            let at = self.clock.now();
            let event = keyward_core::Event {
                device: Some(lock_id.to_owned()),
                user,
                actor: Some(keyward_core::Actor::Lock("network".to_owned())),
                detail,
                ..keyward_core::Event::bare(kind, at)
            };
            self.recorder.record_event(&state, event, at)
        };
        if let Err(error) = committed.await {
            tracing::error!(lock = lock_id, %error, "a lock's entry could not be recorded");
        }
    }

    /// The home a lock belongs to.
    async fn home_of_lock(&self, lock_id: &str) -> Option<String> {
        for home in self.registry.all().ok()? {
            let state = home.lock().await;
            if state.locks.contains_key(lock_id) {
                return Some(state.id().to_owned());
            }
        }
        None
    }

    async fn fail(
        &self,
        lock_id: &str,
        slot: u16,
        user_id: Option<String>,
        reason: FailureReason,
        detail: Option<u16>,
        now: Timestamp,
    ) {
        self.update(lock_id, slot, now, |r| {
            r.user_id = user_id.clone();
            r.status = CodeStatus::Failed;
            r.reason = Some(reason);
            r.detail = detail;
            r.attempts = r.attempts.saturating_add(1);
            r.retry_at = now.checked_add(plan::retry_delay(r.attempts)).ok();
        })
        .await;
        // What the slot holds is not known after a failed command: read it first next time.
        guard(&self.to_read).insert((lock_id.to_owned(), slot));
        tracing::warn!(lock = lock_id, slot, reason = reason.as_str(), "a lock code could not be synced");
    }

    #[allow(clippy::too_many_arguments)]
    async fn refuse(
        &self,
        lock_id: &str,
        slot: u16,
        user_id: String,
        mac: CodeMac,
        reason: FailureReason,
        detail: Option<u16>,
        now: Timestamp,
    ) {
        // Told once per refusal: not again while the slot stays refused for
        // the same reason (across restarts too: the slot's state is stored).
        let already = guard(&self.slots).get(lock_id).and_then(|s| s.get(&slot)).is_some_and(|r| {
            r.status == CodeStatus::Failed && r.reason == Some(reason) && r.user_id.as_deref() == Some(user_id.as_str())
        });
        self.update(lock_id, slot, now, |r| {
            r.user_id = Some(user_id.clone());
            r.content = SlotContent::Refused(mac);
            r.status = CodeStatus::Failed;
            r.reason = Some(reason);
            r.detail = detail;
            r.attempts = 0;
            r.retry_at = None;
        })
        .await;
        tracing::warn!(
            lock = lock_id,
            slot,
            reason = reason.as_str(),
            "the lock refused a code; not retried until it changes"
        );
        if !already && let Some(home_id) = self.home_of_lock(lock_id).await {
            self.record_lock_entry(&home_id, lock_id, ActivityKind::CodeFailed, Some(&user_id), None).await;
        }
    }

    async fn device_failed(
        &self,
        lock_id: &str,
        user_id: Option<String>,
        slot: u16,
        error: DeviceError,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let reason = match error {
            DeviceError::Offline | DeviceError::Disconnected | DeviceError::NoSuchDevice => FailureReason::Offline,
            DeviceError::Duplicate => FailureReason::DuplicateOnLock,
            DeviceError::MemoryFull => FailureReason::MemoryFull,
            DeviceError::Rejected(_) => FailureReason::Rejected,
        };
        let user_id = user_id
            .or_else(|| guard(&self.slots).get(lock_id).and_then(|s| s.get(&slot)).and_then(|r| r.user_id.clone()));
        self.fail(lock_id, slot, user_id, reason, None, now).await;
        guard(&self.slots).get(lock_id).and_then(|s| s.get(&slot)).and_then(|r| r.retry_at)
    }

    /// Sets each slot's status from its content against what it should
    /// hold, for slots not failed or in flight.
    async fn settle_statuses(&self, lock_id: &str, desired: &BTreeMap<u16, (String, Option<CodeMac>)>, now: Timestamp) {
        let mut changed = Vec::new();
        if let Some(slots) = guard(&self.slots).get_mut(lock_id) {
            for record in slots.values_mut() {
                if record.status == CodeStatus::Failed {
                    continue;
                }
                let (user, status) = match (desired.get(&record.slot), record.content) {
                    (Some((user, Some(mac))), SlotContent::Code(have)) if have == *mac => {
                        (Some(user.clone()), CodeStatus::OnLock)
                    }
                    (Some((user, None)), SlotContent::Empty) => (Some(user.clone()), CodeStatus::OffLock),
                    (None, SlotContent::Empty) => (None, CodeStatus::OffLock),
                    (None, SlotContent::Foreign) => (None, CodeStatus::OffLock),
                    _ => continue,
                };
                if record.user_id != user || record.status != status {
                    record.user_id = user;
                    record.status = status;
                    record.updated_at = now;
                    changed.push(record.clone());
                }
            }
        }
        for record in changed {
            self.persist(record).await;
        }
    }

    async fn update(&self, lock_id: &str, slot: u16, now: Timestamp, change: impl FnOnce(&mut SlotRecord)) {
        let record = {
            let mut slots = guard(&self.slots);
            let record = slots
                .entry(lock_id.to_owned())
                .or_default()
                .entry(slot)
                .or_insert_with(|| unread_slot(lock_id, slot, now));
            change(record);
            record.updated_at = now;
            record.clone()
        };
        self.persist(record).await;
    }

    async fn persist(&self, record: SlotRecord) {
        let (lock_id, slot) = (record.lock_id.clone(), record.slot);
        if let Err(error) = self.store.put_slot(record).await {
            // Memory holds it; the next outcome or restart writes it again.
            tracing::error!(lock = lock_id.as_str(), slot, %error, "a lock slot's state could not be stored");
        }
    }
}

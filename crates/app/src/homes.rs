//! Homes and their locks.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{
    ActivityKind, Actor, CodePolicy, DeviceBinding, DeviceRef, Event, LockAccess, LockoutPolicy, Name, Removal,
    SlotRange, UserRef, ZoneName,
};
use keyward_store::{HomeRecord, HomeStore, LockRecord, LockRemoval};

use crate::AppError;
use crate::clock::Clock;
use crate::devices::LockNetwork;
use crate::recorder::Recorder;
use crate::registry::{HomeState, Registry};
use crate::secrets::new_id;
use crate::sync::{LockSync, SyncSignal};

/// A home as the adapters see it.
#[derive(Debug, Clone)]
pub struct HomeView {
    pub id: String,
    pub name: String,
    pub zone: ZoneName,
    pub code_policy: CodePolicy,
    pub lockout_policy: LockoutPolicy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&HomeRecord> for HomeView {
    fn from(h: &HomeRecord) -> Self {
        Self {
            id: h.id.clone(),
            name: h.name.as_str().to_owned(),
            zone: h.zone.clone(),
            code_policy: h.code_policy,
            lockout_policy: h.lockout_policy,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockView {
    pub id: String,
    pub name: String,
    pub device: Option<DeviceBinding>,
    /// The name the device's network gives it now (a Zigbee2MQTT friendly
    /// name), when it has one.
    pub device_name: Option<String>,
    /// Being removed, unbound or moved: keyward takes its codes off the
    /// device first.
    pub removal: Option<RemovalView>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl LockView {
    /// Deleted by the owner: only its codes' removal from the device remains.
    pub fn is_being_deleted(&self) -> bool {
        self.removal.as_ref().is_some_and(|r| r.what == Removal::Delete)
    }
}

/// A removal waiting for the device to hold none of keyward's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalView {
    pub what: Removal,
    pub since: Timestamp,
    /// What of keyward's may still be on the device.
    pub left: Vec<crate::sync::LeftCode>,
}

/// What became of a lock's removal, unbinding or move to another device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Done: the device held none of keyward's codes (or there was none).
    Done(Option<LockView>),
    /// Waiting: keyward takes its codes off the device first; the lock is
    /// listed as being removed until then.
    Waiting(LockView),
    /// Done because the owner forced it: these codes stay on that device.
    Forced { lock: Option<LockView>, device: DeviceRef, left: Vec<CodeLeft> },
}

/// A code a forced removal leaves on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLeft {
    pub slot: u16,
    /// Whose it is (`None`: a user since deleted).
    pub user: Option<UserRef>,
}

/// The codes left, in words: "Dog walker's code (slot 1) and a deleted
/// user's code (slot 4) stay on Z-Wave node 2." (`device`: as
/// [`Homes::device_label`] names it).
pub fn left_words(device: &str, left: &[CodeLeft]) -> String {
    let codes: Vec<String> = left
        .iter()
        .map(|c| match &c.user {
            Some(user) => format!("{}'s code (slot {})", user.name, c.slot),
            None => format!("a deleted user's code (slot {})", c.slot),
        })
        .collect();
    let listed = match codes.as_slice() {
        [] => return format!("No code of keyward's stays on {device}."),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let verb = if codes.len() == 1 { "stays" } else { "stay" };
    let mut text = format!("{listed} {verb} on {device}.");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + text.get(1..).unwrap_or_default();
    }
    text
}

/// A device's address alone: the IEEE address of a Zigbee device.
fn device_address(device: &DeviceRef) -> String {
    match device {
        DeviceRef::Zigbee2Mqtt { ieee_address } => ieee_address.as_str().to_owned(),
        other => other.to_string(),
    }
}

/// Forgets a deleted lock in the home's memory: its lockout count and its
/// place in every user's list (the store did the same in one transaction).
pub(crate) fn forget_lock(state: &mut HomeState, lock_id: &str) {
    state.locks.remove(lock_id);
    state.lockouts.remove(lock_id);
    for record in state.users.values_mut() {
        if let LockAccess::Only(ids) = &mut record.user.locks {
            ids.retain(|l| l != lock_id);
        }
    }
}

/// A lock's device as asked for: the device, and the slots keyward may use
/// (`None`: all the lock has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub device: DeviceRef,
    pub slots: Option<(i64, i64)>,
}

/// A partial change to a home; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct HomePatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub code_min_length: Option<i64>,
    pub code_max_length: Option<i64>,
    pub code_reject_weak: Option<bool>,
    pub lockout_max_attempts: Option<i64>,
    pub lockout_window_seconds: Option<i64>,
    pub lockout_seconds: Option<i64>,
}

pub(crate) fn new_home(name: Name, zone: ZoneName, at: Timestamp) -> HomeRecord {
    HomeRecord {
        id: new_id(),
        name,
        zone,
        code_policy: CodePolicy::default(),
        lockout_policy: LockoutPolicy::default(),
        created_at: at,
        updated_at: at,
    }
}

/// Homes and their locks.
pub struct Homes {
    registry: Arc<Registry>,
    store: Arc<dyn HomeStore>,
    clock: Arc<dyn Clock>,
    signal: SyncSignal,
    sync: Arc<LockSync>,
    recorder: Arc<Recorder>,
}

impl Homes {
    pub(crate) fn new(
        registry: Arc<Registry>,
        store: Arc<dyn HomeStore>,
        clock: Arc<dyn Clock>,
        signal: SyncSignal,
        sync: Arc<LockSync>,
        recorder: Arc<Recorder>,
    ) -> Self {
        Self { registry, store, clock, signal, sync, recorder }
    }

    fn networks(&self) -> &[Arc<dyn LockNetwork>] {
        self.sync.networks()
    }

    /// A device as an owner knows it: a Zigbee lock by the name Zigbee2MQTT
    /// gives it now and its address, a Z-Wave lock by its node.
    pub fn device_label(&self, device: &DeviceRef) -> String {
        match self.sync.device_info(device).and_then(|d| d.name) {
            Some(name) => format!("Zigbee device {name} ({})", device_address(device)),
            None => device.to_string(),
        }
    }

    /// A lock as the adapters see it: with its device's current name and
    /// what a waiting removal still has to take off.
    fn view(&self, l: &LockRecord) -> LockView {
        LockView {
            id: l.id.clone(),
            name: l.name.as_str().to_owned(),
            device: l.device.clone(),
            device_name: l.device.as_ref().and_then(|b| self.sync.device_info(&b.device)).and_then(|d| d.name),
            removal: l.removal.as_ref().map(|r| RemovalView {
                what: r.what.clone(),
                since: r.since,
                left: self.sync.codes_left(&l.id),
            }),
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }

    /// Checks a lock's device: a lock a connected network offers, bound to
    /// no other lock, with a slot range inside the lock's slots.
    async fn binding(&self, lock_id: &str, request: Option<DeviceRequest>) -> Result<Option<DeviceBinding>, AppError> {
        let Some(request) = request else { return Ok(None) };
        let slots = request
            .slots
            .map(|(first, last)| {
                let number = |n: i64| u16::try_from(n).map_err(|_| AppError::SlotsInvalid);
                SlotRange::new(number(first)?, number(last)?).map_err(|_| AppError::SlotsInvalid)
            })
            .transpose()?;
        let network = self
            .networks()
            .iter()
            .find(|n| n.protocol() == request.device.protocol())
            .ok_or(AppError::DeviceUnavailable)?;
        // A Zigbee2MQTT device asked for by friendly name is bound by the
        // address of the device carrying that name now.
        let offered = network.devices().into_iter().find(|d| match &request.device {
            DeviceRef::Zigbee2MqttNamed { friendly_name } => {
                d.name.as_deref() == Some(friendly_name.as_str()) && matches!(d.device, DeviceRef::Zigbee2Mqtt { .. })
            }
            device => d.device == *device,
        });
        let Some(offered) = offered else { return Err(AppError::DeviceUnavailable) };
        let request = DeviceRequest { device: offered.device.clone(), ..request };
        // Slots the protocol never numbers (Z-Wave's 0), or past the lock's last.
        let protocol = request.device.protocol();
        if let Some(range) = slots {
            let of_lock = offered.slots.and_then(|count| SlotRange::of_lock(protocol, count));
            let inside = of_lock.map_or(range.first() >= protocol.first_slot(), |all| range.within(&all));
            if !inside {
                return Err(AppError::SlotsInvalid);
            }
        }
        for home in self.registry.all()? {
            let state = home.lock().await;
            // A device a lock is moving to is taken too.
            let taken = state.locks.values().any(|l| {
                let next = l.removal.as_ref().and_then(|r| r.what.next_binding());
                l.id != lock_id && [l.device.as_ref(), next].into_iter().flatten().any(|b| b.device == request.device)
            });
            if taken {
                return Err(AppError::DeviceInUse);
            }
        }
        Ok(Some(DeviceBinding { device: request.device, slots }))
    }

    /// Every home, oldest first.
    pub async fn list(&self) -> Result<Vec<HomeView>, AppError> {
        let mut homes = Vec::new();
        for home in self.registry.all()? {
            homes.push(HomeView::from(&home.lock().await.home));
        }
        homes.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(homes)
    }

    pub async fn get(&self, home_id: &str) -> Result<HomeView, AppError> {
        Ok(HomeView::from(&self.registry.home(home_id)?.lock().await.home))
    }

    pub async fn create(&self, name: &str, timezone: &str) -> Result<HomeView, AppError> {
        let record = new_home(Name::parse(name)?, ZoneName::parse(timezone)?, self.clock.now());
        self.store.put_home(record.clone()).await?;
        let view = HomeView::from(&record);
        self.registry.insert(HomeState::new(record))?;
        Ok(view)
    }

    pub async fn update(&self, home_id: &str, patch: HomePatch) -> Result<HomeView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let mut record = state.home.clone();
        if let Some(name) = patch.name {
            record.name = Name::parse(name)?;
        }
        if let Some(timezone) = patch.timezone {
            record.zone = ZoneName::parse(&timezone)?;
        }
        let code = &record.code_policy;
        record.code_policy = CodePolicy::new(
            patch.code_min_length.unwrap_or(code.min_length().into()),
            patch.code_max_length.unwrap_or(code.max_length().into()),
            patch.code_reject_weak.unwrap_or(code.reject_weak()),
        )?;
        let lockout = &record.lockout_policy;
        record.lockout_policy = LockoutPolicy::new(
            patch.lockout_max_attempts.unwrap_or(lockout.max_attempts().into()),
            patch.lockout_window_seconds.unwrap_or(lockout.window_seconds().into()),
            patch.lockout_seconds.unwrap_or(lockout.lockout_seconds().into()),
        )?;
        // Everything is validated before the write: a refused change changes nothing.
        record.updated_at = self.clock.now();
        self.store.put_home(record.clone()).await?;
        state.home = record;
        let view = HomeView::from(&state.home);
        drop(state);
        // The locks follow: a new zone moves every window, a new lockout
        // policy is a new wrong-code limit for the locks' own keypads.
        self.signal.home_changed(home_id);
        Ok(view)
    }

    /// The home's locks, oldest first.
    pub async fn list_locks(&self, home_id: &str) -> Result<Vec<LockView>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        let mut locks: Vec<LockView> = state.locks.values().map(|l| self.view(l)).collect();
        locks.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(locks)
    }

    pub async fn get_lock(&self, home_id: &str, lock_id: &str) -> Result<LockView, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        state.locks.get(lock_id).map(|l| self.view(l)).ok_or(AppError::LockNotFound)
    }

    pub async fn create_lock(
        &self,
        home_id: &str,
        name: &str,
        device: Option<DeviceRequest>,
    ) -> Result<LockView, AppError> {
        let name = Name::parse(name)?;
        self.registry.home(home_id)?;
        let id = new_id();
        let device = self.binding(&id, device).await?;
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        // Two "Front door"s would make the activity log and every choice ambiguous.
        if state.locks.values().any(|l| l.name.same_as(&name)) {
            return Err(AppError::LockNameTaken);
        }
        let now = self.clock.now();
        let record = LockRecord {
            id,
            home_id: home_id.to_owned(),
            name,
            device,
            removal: None,
            created_at: now,
            updated_at: now,
        };
        self.store.put_lock(record.clone()).await.map_err(device_conflict)?;
        self.registry.rebind(home_id, &record.id, None, record.device.as_ref().map(|b| &b.device));
        let view = self.view(&record);
        state.locks.insert(record.id.clone(), record);
        drop(state);
        self.signal.home_changed(home_id);
        Ok(view)
    }

    pub async fn rename_lock(
        &self,
        home_id: &str,
        lock_id: &str,
        name: &str,
        actor: Actor,
    ) -> Result<LockView, AppError> {
        match self.update_lock(home_id, lock_id, Some(name), None, false, actor).await? {
            Removed::Done(Some(view)) | Removed::Waiting(view) | Removed::Forced { lock: Some(view), .. } => Ok(view),
            Removed::Done(None) | Removed::Forced { lock: None, .. } => Err(AppError::LockNotFound),
        }
    }

    /// Renames a lock and/or binds it to a device (`Some(None)`: unbinds it).
    /// A lock leaving a device that may hold keyward's codes keeps it until
    /// they are off (`Removed::Waiting`), unless `force`.
    pub async fn update_lock(
        &self,
        home_id: &str,
        lock_id: &str,
        name: Option<&str>,
        device: Option<Option<DeviceRequest>>,
        force: bool,
        actor: Actor,
    ) -> Result<Removed, AppError> {
        let name = name.map(Name::parse).transpose()?;
        let device = match device {
            Some(request) => Some(self.binding(lock_id, request).await?),
            None => None,
        };
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let mut record = state.lock(lock_id).cloned().ok_or(AppError::LockNotFound)?;
        if let Some(name) = &name
            && state.locks.values().any(|l| l.id != lock_id && l.name.same_as(name))
        {
            return Err(AppError::LockNameTaken);
        }
        if let Some(name) = name {
            record.name = name;
        }
        let now = self.clock.now();
        record.updated_at = now;
        // A device left at once (nothing of keyward's on it, or forced), and
        // what of keyward's stays on it.
        let mut left_at_once: Option<(Option<DeviceBinding>, Vec<CodeLeft>)> = None;
        if let Some(next) = device {
            let same_device = match (&record.device, &next) {
                (Some(old), Some(new)) => old.device == new.device,
                (None, None) => true,
                _ => false,
            };
            if same_device || record.device.is_none() {
                // A new range on the same device (keyward's codes out of it are
                // taken off), a first device, or the removal called off.
                record.device = next;
                record.removal = None;
            } else {
                let left = self.sync.codes_left(lock_id);
                if left.is_empty() || force {
                    let old = std::mem::replace(&mut record.device, next);
                    record.removal = None;
                    left_at_once = Some((old, self.named(&state, &left)));
                } else {
                    let what = match next {
                        Some(binding) => Removal::Move(binding),
                        None => Removal::Unbind,
                    };
                    record.removal = Some(LockRemoval { what, since: now });
                }
            }
        }
        self.store.put_lock(record.clone()).await.map_err(device_conflict)?;
        if let Some((old, left)) = &left_at_once {
            self.sync.abandon_device(lock_id, false);
            if let Err(error) = self.store.forget_slots(lock_id.to_owned()).committed().await {
                tracing::error!(lock = lock_id, %error, "a lock's old slots could not be forgotten");
            }
            if let (Some(old), false) = (old, left.is_empty()) {
                self.record_left(&state, lock_id, &old.device, left, actor).await;
            }
        }
        let old = state.locks.get(lock_id).and_then(|l| l.device.clone());
        self.registry.rebind(
            home_id,
            lock_id,
            old.as_ref().map(|b| &b.device),
            record.device.as_ref().map(|b| &b.device),
        );
        let view = self.view(&record);
        let waiting = record.removal.is_some();
        state.locks.insert(record.id.clone(), record);
        drop(state);
        self.signal.home_changed(home_id);
        self.sync.lock_changed(lock_id);
        Ok(match left_at_once {
            Some((Some(old), left)) if !left.is_empty() => {
                Removed::Forced { lock: Some(view), device: old.device, left }
            }
            _ if waiting => Removed::Waiting(view),
            _ => Removed::Done(Some(view)),
        })
    }

    /// Removes a lock: at once when its device holds none of keyward's codes
    /// (or it has no device), else once keyward has taken them off
    /// (`Removed::Waiting`; meanwhile no code opens it through keyward and
    /// no user can be given it), unless `force`. Users who were given it
    /// keep their other locks.
    pub async fn delete_lock(
        &self,
        home_id: &str,
        lock_id: &str,
        force: bool,
        actor: Actor,
    ) -> Result<Removed, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let mut record = state.locks.get(lock_id).cloned().ok_or(AppError::LockNotFound)?;
        let left = if record.device.is_some() { self.sync.codes_left(lock_id) } else { Vec::new() };
        if left.is_empty() || force {
            let named = self.named(&state, &left);
            if let (Some(binding), false) = (record.device.as_ref(), named.is_empty()) {
                self.record_left(&state, lock_id, &binding.device, &named, actor).await;
            }
            // Retired before the delete is queued: a slot record the lock's
            // worker queues from now on is dropped, and one it queued before
            // commits ahead of the delete (the writer keeps their order).
            self.sync.abandon_device(lock_id, true);
            if let Err(error) = self.store.delete_lock(home_id.to_owned(), lock_id.to_owned()).await {
                self.sync.reinstate(lock_id);
                drop(state);
                self.signal.home_changed(home_id);
                return Err(error.into());
            }
            self.registry.rebind(home_id, lock_id, record.device.as_ref().map(|b| &b.device), None);
            forget_lock(&mut state, lock_id);
            drop(state);
            self.signal.home_changed(home_id);
            self.sync.removal_finished(lock_id);
            return Ok(match (record.device, named.is_empty()) {
                (Some(binding), false) => Removed::Forced { lock: None, device: binding.device, left: named },
                _ => Removed::Done(None),
            });
        }
        if !record.is_being_deleted() {
            record.removal = Some(LockRemoval { what: Removal::Delete, since: self.clock.now() });
            record.updated_at = self.clock.now();
            self.store.put_lock(record.clone()).await?;
            state.locks.insert(record.id.clone(), record.clone());
        }
        drop(state);
        self.signal.home_changed(home_id);
        self.sync.lock_changed(lock_id);
        Ok(Removed::Waiting(self.view(&record)))
    }

    /// The users of codes left on a device, by name.
    fn named(&self, state: &HomeState, left: &[crate::sync::LeftCode]) -> Vec<CodeLeft> {
        left.iter()
            .map(|code| CodeLeft {
                slot: code.slot,
                user: code
                    .user_id
                    .as_ref()
                    .and_then(|id| state.users.get(id))
                    .map(|r| UserRef { id: r.user.id.clone(), name: r.user.name.as_str().to_owned() }),
            })
            .collect()
    }

    /// Logs (and alerts) the codes a forced removal leaves on a device.
    async fn record_left(&self, state: &HomeState, lock_id: &str, device: &DeviceRef, left: &[CodeLeft], actor: Actor) {
        let at = self.clock.now();
        let event = Event {
            device: Some(lock_id.to_owned()),
            actor: Some(actor),
            detail: Some(left_words(&self.device_label(device), left)),
            ..Event::bare(ActivityKind::CodesLeft, at)
        };
        if let Err(error) = self.recorder.record_event(state, event, at).await {
            tracing::error!(lock = lock_id, %error, "the codes a removal left could not be logged");
        }
    }
}

/// Two locks bound to one device at once lose to the store's unique index.
fn device_conflict(error: keyward_store::StoreError) -> AppError {
    match error {
        keyward_store::StoreError::Conflict(keyward_store::Key::DeviceBinding) => AppError::DeviceInUse,
        other => AppError::Store(other),
    }
}

//! Homes and their locks.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{CodePolicy, DeviceBinding, DeviceRef, LockAccess, LockoutPolicy, Name, SlotRange, ZoneName};
use keyward_store::{HomeRecord, HomeStore, LockRecord};

use crate::AppError;
use crate::clock::Clock;
use crate::devices::LockNetwork;
use crate::registry::{HomeState, Registry};
use crate::secrets::new_id;
use crate::sync::SyncSignal;

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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&LockRecord> for LockView {
    fn from(l: &LockRecord) -> Self {
        Self {
            id: l.id.clone(),
            name: l.name.as_str().to_owned(),
            device: l.device.clone(),
            created_at: l.created_at,
            updated_at: l.updated_at,
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
    networks: Vec<Arc<dyn LockNetwork>>,
}

impl Homes {
    pub(crate) fn new(
        registry: Arc<Registry>,
        store: Arc<dyn HomeStore>,
        clock: Arc<dyn Clock>,
        signal: SyncSignal,
        networks: Vec<Arc<dyn LockNetwork>>,
    ) -> Self {
        Self { registry, store, clock, signal, networks }
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
            .networks
            .iter()
            .find(|n| n.protocol() == request.device.protocol())
            .ok_or(AppError::DeviceUnavailable)?;
        let offered = network.devices().into_iter().find(|d| d.device == request.device);
        let Some(offered) = offered else { return Err(AppError::DeviceUnavailable) };
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
            let taken = state
                .locks
                .values()
                .any(|l| l.id != lock_id && l.device.as_ref().is_some_and(|b| b.device == request.device));
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
        Ok(HomeView::from(&state.home))
    }

    /// The home's locks, oldest first.
    pub async fn list_locks(&self, home_id: &str) -> Result<Vec<LockView>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        let mut locks: Vec<LockView> = state.locks.values().map(LockView::from).collect();
        locks.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(locks)
    }

    pub async fn get_lock(&self, home_id: &str, lock_id: &str) -> Result<LockView, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        state.locks.get(lock_id).map(LockView::from).ok_or(AppError::LockNotFound)
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
        let record = LockRecord { id, home_id: home_id.to_owned(), name, device, created_at: now, updated_at: now };
        self.store.put_lock(record.clone()).await.map_err(device_conflict)?;
        let view = LockView::from(&record);
        state.locks.insert(record.id.clone(), record);
        drop(state);
        self.signal.home_changed(home_id);
        Ok(view)
    }

    pub async fn rename_lock(&self, home_id: &str, lock_id: &str, name: &str) -> Result<LockView, AppError> {
        self.update_lock(home_id, lock_id, Some(name), None).await
    }

    /// Renames a lock and/or binds it to a device (`Some(None)`: unbinds it).
    pub async fn update_lock(
        &self,
        home_id: &str,
        lock_id: &str,
        name: Option<&str>,
        device: Option<Option<DeviceRequest>>,
    ) -> Result<LockView, AppError> {
        let name = name.map(Name::parse).transpose()?;
        let device = match device {
            Some(request) => Some(self.binding(lock_id, request).await?),
            None => None,
        };
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let mut record = state.locks.get(lock_id).cloned().ok_or(AppError::LockNotFound)?;
        if let Some(name) = &name
            && state.locks.values().any(|l| l.id != lock_id && l.name.same_as(name))
        {
            return Err(AppError::LockNameTaken);
        }
        if let Some(name) = name {
            record.name = name;
        }
        if let Some(device) = device {
            record.device = device;
        }
        record.updated_at = self.clock.now();
        self.store.put_lock(record.clone()).await.map_err(device_conflict)?;
        let view = LockView::from(&record);
        state.locks.insert(record.id.clone(), record);
        drop(state);
        self.signal.home_changed(home_id);
        Ok(view)
    }

    /// Removes a lock and its lockout count; users who were given it keep
    /// their other locks.
    pub async fn delete_lock(&self, home_id: &str, lock_id: &str) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        if !state.locks.contains_key(lock_id) {
            return Err(AppError::LockNotFound);
        }
        self.store.delete_lock(home_id.to_owned(), lock_id.to_owned()).await?;
        state.locks.remove(lock_id);
        self.signal.home_changed(home_id);
        state.lockouts.remove(lock_id);
        for record in state.users.values_mut() {
            if let LockAccess::Only(ids) = &mut record.user.locks {
                ids.retain(|l| l != lock_id);
            }
        }
        Ok(())
    }
}

/// Two locks bound to one device at once lose to the store's unique index.
fn device_conflict(error: keyward_store::StoreError) -> AppError {
    match error {
        keyward_store::StoreError::Conflict => AppError::DeviceInUse,
        other => AppError::Store(other),
    }
}

//! The homes the hub holds in memory: settings, locks, users with the keyed
//! digests of their codes, and each device's lockout count, loaded once and
//! mirrored in the store on every change. A decision is a digest and two
//! hash lookups; no read query is on the access path.
//!
//! Every change to a home holds that home's lock from validation to commit,
//! so decisions and edits never interleave.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use keyward_core::{CodeDirectory, DeviceRef, LockoutState, Lockouts, User};
use keyward_store::{
    CodeMac, HomeCounts, HomeRecord, LockRecord, LockoutRecord, Snapshot, StoredUses, UserRecord, Vault,
};
use tokio::sync::Mutex;

use crate::AppError;

/// The device id of the alarm panel (every other device is a lock id).
pub const PANEL: &str = "panel";

pub(crate) struct HomeState {
    pub home: HomeRecord,
    pub locks: HashMap<String, LockRecord>,
    pub users: HashMap<String, UserRecord>,
    pub by_mac: HashMap<CodeMac, String>,
    pub lockouts: HashMap<String, LockoutState>,
    /// Wrong codes across the whole home (`LockoutPolicy::home_wide`).
    pub home_lockout: LockoutState,
    /// A write of this home failed after memory had counted it: its counts
    /// are read back before the home is used again (`Recorder::lock`).
    pub stale: bool,
    /// Users whose sealed code cannot be unsealed (a damaged row, a bad
    /// restore): their code still opens (it is found by its keyed digest),
    /// but it cannot be revealed or checked against new codes, so they need
    /// a new one.
    pub damaged: HashSet<String>,
    /// Where the home's alerts go.
    pub channels: Vec<keyward_core::channel::Channel>,
    /// Whether an alarm panel has asked this home for a decision: `None`
    /// until the log was first searched (once per process), then kept true
    /// by every attempt on the panel.
    pub panel_heard: Option<bool>,
    /// The home's alarm panel: settings and state machine.
    pub panel: crate::panel::PanelHold,
    /// The sensors the panel watches, by id (what the machine reads)…
    pub sensors: std::collections::BTreeMap<String, keyward_core::alarm::SensorSetup>,
    /// …and as the owner set them up (names, devices).
    pub sensor_records: std::collections::BTreeMap<String, keyward_store::SensorRecord>,
    /// The sirens the panel sounds, by id.
    pub sirens: std::collections::BTreeMap<String, keyward_store::SirenRecord>,
}

impl HomeState {
    pub fn new(home: HomeRecord) -> Self {
        let panel = crate::panel::PanelHold::new(home.created_at);
        Self {
            home,
            locks: HashMap::new(),
            users: HashMap::new(),
            by_mac: HashMap::new(),
            lockouts: HashMap::new(),
            home_lockout: LockoutState::CLEAR,
            stale: false,
            damaged: HashSet::new(),
            channels: Vec::new(),
            panel_heard: None,
            panel,
            sensors: std::collections::BTreeMap::new(),
            sensor_records: std::collections::BTreeMap::new(),
            sirens: std::collections::BTreeMap::new(),
        }
    }

    /// Marks a user whose stored code cannot be unsealed, and says so once.
    pub fn mark_damaged(&mut self, user_id: &str) {
        if self.damaged.insert(user_id.to_owned()) {
            tracing::error!(
                home = self.home.id.as_str(),
                user = user_id,
                "a stored code cannot be unsealed: the user needs a new code"
            );
        }
    }

    pub fn id(&self) -> &str {
        &self.home.id
    }

    /// Adds or replaces a sensor, for the panel and for the pages alike.
    pub fn put_sensor(&mut self, record: keyward_store::SensorRecord) {
        self.sensors.insert(record.id.clone(), record.setup.clone());
        self.sensor_records.insert(record.id.clone(), record);
    }

    /// The sensor a device reports for, if one of this home's is bound to it.
    pub fn sensor_of(&self, device: &keyward_core::DeviceRef) -> Option<&str> {
        self.sensor_records.values().find(|s| s.device.as_ref() == Some(device)).map(|s| s.id.as_str())
    }

    pub fn put_user(&mut self, record: UserRecord) {
        if let Some(old) = self.users.remove(&record.user.id) {
            self.by_mac.remove(&old.code.mac);
            if old.code != record.code {
                self.damaged.remove(&record.user.id);
            }
        }
        self.by_mac.insert(record.code.mac, record.user.id.clone());
        self.users.insert(record.user.id.clone(), record);
    }

    pub fn remove_user(&mut self, user_id: &str) -> Option<UserRecord> {
        self.damaged.remove(user_id);
        let record = self.users.remove(user_id)?;
        self.by_mac.remove(&record.code.mac);
        Some(record)
    }

    /// Whether a code may be tried at this device: the panel, or a lock not
    /// being deleted.
    pub fn has_device(&self, device: &str) -> bool {
        device == PANEL || self.lock(device).is_some()
    }

    /// A lock of the home, unless it is being deleted (then only its codes'
    /// removal from the device remains of it).
    pub fn lock(&self, lock_id: &str) -> Option<&LockRecord> {
        self.locks.get(lock_id).filter(|lock| !lock.is_being_deleted())
    }

    /// Sets a device's lockout count; a clear count is forgotten.
    pub fn set_lockout(&mut self, device: &str, state: LockoutState) {
        if state.is_clear() {
            self.lockouts.remove(device);
        } else {
            self.lockouts.insert(device.to_owned(), state);
        }
    }

    /// Replaces the use and lockout counts with those stored.
    pub fn apply_counts(&mut self, counts: HomeCounts) {
        let mut stored: HashMap<String, StoredUses> = counts.uses.into_iter().map(|u| (u.user_id.clone(), u)).collect();
        for record in self.users.values_mut() {
            let uses = stored.remove(&record.user.id);
            record.user.uses = uses.as_ref().map_or(0, |u| u.uses);
            record.last_used = uses.and_then(|u| u.last_used);
        }
        self.lockouts.clear();
        self.home_lockout = LockoutState::CLEAR;
        for lockout in counts.lockouts {
            if lockout.device == LockoutRecord::HOME {
                self.home_lockout = lockout.state;
            } else {
                self.lockouts.insert(lockout.device, lockout.state);
            }
        }
        self.stale = false;
    }

    /// The counts an attempt at `device` is judged by.
    pub fn lockouts_of(&self, device: &str) -> Lockouts<'_> {
        static CLEAR: LockoutState = LockoutState::CLEAR;
        Lockouts { device: self.lockouts.get(device).unwrap_or(&CLEAR), home: &self.home_lockout }
    }

    pub fn directory<'a>(&'a self, vault: &'a Vault) -> Directory<'a> {
        Directory { vault, state: self }
    }
}

/// Finds users by the keyed digest of the typed code.
pub(crate) struct Directory<'a> {
    vault: &'a Vault,
    state: &'a HomeState,
}

impl CodeDirectory for Directory<'_> {
    fn find(&self, code: &str) -> Option<&User> {
        let mac = self.vault.code_mac(self.state.id(), code);
        let id = self.state.by_mac.get(&mac)?;
        self.state.users.get(id).map(|r| &r.user)
    }
}

pub(crate) type SharedHome = Arc<Mutex<HomeState>>;

#[derive(Default)]
pub(crate) struct Registry {
    homes: RwLock<HashMap<String, SharedHome>>,
    /// Each bound device's home and lock, so a device's event finds its lock
    /// without looking through every home. Changed only together with the
    /// lock's binding, under its home's lock.
    devices: RwLock<HashMap<DeviceRef, (String, String)>>,
}

impl Registry {
    /// Loads every home; a user whose code the vault cannot unseal is marked
    /// as needing a new code (and logged), never a reason to stop.
    pub fn from_snapshot(snapshot: Snapshot, vault: &Vault) -> Self {
        let mut homes: HashMap<String, HomeState> =
            snapshot.homes.into_iter().map(|h| (h.id.clone(), HomeState::new(h))).collect();
        for lock in snapshot.locks {
            if let Some(home) = homes.get_mut(&lock.home_id) {
                home.locks.insert(lock.id.clone(), lock);
            }
        }
        for user in snapshot.users {
            if let Some(home) = homes.get_mut(&user.home_id) {
                let intact = vault.unseal(&user.home_id, &user.user.id, &user.code.sealed).is_ok();
                let id = user.user.id.clone();
                home.put_user(user);
                if !intact {
                    home.mark_damaged(&id);
                }
            }
        }
        for lockout in snapshot.lockouts {
            if let Some(home) = homes.get_mut(&lockout.home_id) {
                if lockout.device == LockoutRecord::HOME {
                    home.home_lockout = lockout.state;
                } else {
                    home.lockouts.insert(lockout.device, lockout.state);
                }
            }
        }
        for sensor in snapshot.sensors {
            if let Some(home) = homes.get_mut(&sensor.home_id) {
                home.put_sensor(sensor);
            }
        }
        for siren in snapshot.sirens {
            if let Some(home) = homes.get_mut(&siren.home_id) {
                home.sirens.insert(siren.id.clone(), siren);
            }
        }
        for stored in snapshot.panels {
            if let Some(home) = homes.get_mut(&stored.home_id) {
                home.panel = crate::panel::PanelHold { settings: stored.settings, panel: stored.panel };
            }
        }
        let devices = homes
            .values()
            .flat_map(|home| home.locks.values())
            .filter_map(|lock| {
                let binding = lock.device.as_ref()?;
                Some((binding.device.clone(), (lock.home_id.clone(), lock.id.clone())))
            })
            .collect();
        let homes = homes.into_iter().map(|(id, state)| (id, Arc::new(Mutex::new(state)))).collect();
        Self { homes: RwLock::new(homes), devices: RwLock::new(devices) }
    }

    /// The home and the lock a device is bound to.
    pub fn bound(&self, device: &DeviceRef) -> Option<(String, String)> {
        self.devices.read().ok()?.get(device).cloned()
    }

    /// A lock's device changed from `old` to `new` (call it under the home's lock).
    pub fn rebind(&self, home_id: &str, lock_id: &str, old: Option<&DeviceRef>, new: Option<&DeviceRef>) {
        if old == new {
            return;
        }
        let Ok(mut devices) = self.devices.write() else { return };
        if let Some(old) = old
            && devices.get(old).is_some_and(|(_, lock)| lock == lock_id)
        {
            devices.remove(old);
        }
        if let Some(new) = new {
            devices.insert(new.clone(), (home_id.to_owned(), lock_id.to_owned()));
        }
    }

    pub fn home(&self, home_id: &str) -> Result<SharedHome, AppError> {
        let homes = self.homes.read().map_err(|_| AppError::Poisoned)?;
        homes.get(home_id).cloned().ok_or(AppError::HomeNotFound)
    }

    pub fn all(&self) -> Result<Vec<SharedHome>, AppError> {
        let homes = self.homes.read().map_err(|_| AppError::Poisoned)?;
        Ok(homes.values().cloned().collect())
    }

    pub fn insert(&self, state: HomeState) -> Result<(), AppError> {
        let id = state.id().to_owned();
        self.homes.write().map_err(|_| AppError::Poisoned)?.insert(id, Arc::new(Mutex::new(state)));
        Ok(())
    }
}

//! The homes the hub holds in memory: settings, locks, users with the keyed
//! digests of their codes, and each device's lockout count, loaded once and
//! mirrored in the store on every change. A decision is a digest and two
//! hash lookups; no read query is on the access path.
//!
//! Every change to a home holds that home's lock from validation to commit,
//! so decisions and edits never interleave.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use keyward_core::{CodeDirectory, LockoutState, Lockouts, User};
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
}

impl HomeState {
    pub fn new(home: HomeRecord) -> Self {
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

    pub fn has_device(&self, device: &str) -> bool {
        device == PANEL || self.locks.contains_key(device)
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
        let homes = homes.into_iter().map(|(id, state)| (id, Arc::new(Mutex::new(state)))).collect();
        Self { homes: RwLock::new(homes) }
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

//! A home as the hub holds it in memory: parsed settings, locks, users with
//! the keyed digests of their codes, and each device's lockout count.

use std::collections::HashMap;

use jiff::Timestamp;
use keyward_core::{
    CodeDirectory, CodePolicy, LockAccess, LockoutPolicy, LockoutState, Name, Notify, PanelPermissions, Schedule,
    ScheduleSpec, User, UserKind, Validity, ZoneName,
};
use keyward_store::{CodeMac, HomeRow, LockRow, LockoutRow, Snapshot, UserRow, Vault};

use crate::AppError;

pub(crate) struct HomeState {
    pub row: HomeRow,
    pub zone: ZoneName,
    pub code_policy: CodePolicy,
    pub lockout_policy: LockoutPolicy,
    pub locks: HashMap<String, LockRow>,
    pub users: HashMap<String, UserEntry>,
    pub by_mac: HashMap<CodeMac, String>,
    pub lockouts: HashMap<String, LockoutState>,
}

pub(crate) struct UserEntry {
    pub row: UserRow,
    pub user: User,
}

impl HomeState {
    pub fn new(row: HomeRow) -> Result<Self, AppError> {
        let (zone, code_policy, lockout_policy) = parse_home_settings(&row)?;
        Ok(Self {
            row,
            zone,
            code_policy,
            lockout_policy,
            locks: HashMap::new(),
            users: HashMap::new(),
            by_mac: HashMap::new(),
            lockouts: HashMap::new(),
        })
    }

    pub fn set_row(&mut self, row: HomeRow) -> Result<(), AppError> {
        let (zone, code_policy, lockout_policy) = parse_home_settings(&row)?;
        self.row = row;
        self.zone = zone;
        self.code_policy = code_policy;
        self.lockout_policy = lockout_policy;
        Ok(())
    }

    pub fn put_user(&mut self, row: UserRow) -> Result<(), AppError> {
        let user = user_from_row(&row)?;
        if let Some(old) = self.users.remove(&row.id) {
            self.by_mac.remove(&old.row.code_mac);
        }
        self.by_mac.insert(row.code_mac, row.id.clone());
        self.users.insert(row.id.clone(), UserEntry { row, user });
        Ok(())
    }

    pub fn remove_user(&mut self, user_id: &str) -> Option<UserEntry> {
        let entry = self.users.remove(user_id)?;
        self.by_mac.remove(&entry.row.code_mac);
        Some(entry)
    }

    pub fn has_device(&self, device: &str) -> bool {
        device == crate::access::PANEL || self.locks.contains_key(device)
    }

    pub fn directory<'a>(&'a self, vault: &'a Vault) -> Directory<'a> {
        Directory { vault, state: self }
    }
}

fn parse_home_settings(row: &HomeRow) -> Result<(ZoneName, CodePolicy, LockoutPolicy), AppError> {
    Ok((
        ZoneName::parse(&row.timezone)?,
        CodePolicy::new(row.code_min_length, row.code_max_length, row.code_reject_weak)?,
        LockoutPolicy::new(row.lockout_max_attempts, row.lockout_window_seconds, row.lockout_seconds)?,
    ))
}

/// Finds users by the keyed digest of the typed code.
pub(crate) struct Directory<'a> {
    vault: &'a Vault,
    state: &'a HomeState,
}

impl CodeDirectory for Directory<'_> {
    fn find(&self, code: &str) -> Option<&User> {
        let mac = self.vault.code_mac(&self.state.row.id, code);
        let id = self.state.by_mac.get(&mac)?;
        self.state.users.get(id).map(|e| &e.user)
    }
}

pub fn micros_to_timestamp(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) fn user_from_row(row: &UserRow) -> Result<User, AppError> {
    let spec: ScheduleSpec = serde_json::from_str(&row.schedule)
        .map_err(|_| keyward_store::StoreError::Corrupt("a stored schedule is not valid JSON"))?;
    Ok(User {
        id: row.id.clone(),
        name: Name::parse(row.name.clone())?,
        kind: UserKind::parse(&row.kind).ok_or(keyward_store::StoreError::Corrupt("unknown user kind"))?,
        panel: PanelPermissions { arm: row.panel_arm, disarm: row.panel_disarm },
        locks: if row.all_locks { LockAccess::All } else { LockAccess::Only(row.lock_ids.clone()) },
        schedule: Schedule::parse(&spec)?,
        validity: Validity::new(
            row.valid_from.map(micros_to_timestamp),
            row.valid_until.map(micros_to_timestamp),
            row.max_uses,
        )?,
        uses: u32::try_from(row.uses).unwrap_or(u32::MAX),
        notify: Notify { arrive: row.notify_arrive, leave: row.notify_leave },
        enabled: row.enabled,
    })
}

pub(crate) fn lockout_from_row(row: &LockoutRow) -> LockoutState {
    LockoutState {
        failures: row.failures.iter().copied().map(micros_to_timestamp).collect(),
        locked_until: row.locked_until.map(micros_to_timestamp),
    }
}

pub(crate) fn lockout_to_row(home_id: &str, device: &str, state: &LockoutState) -> LockoutRow {
    LockoutRow {
        home_id: home_id.to_owned(),
        device: device.to_owned(),
        failures: state.failures.iter().map(|t| t.as_microsecond()).collect(),
        locked_until: state.locked_until.map(|t| t.as_microsecond()),
    }
}

pub(crate) fn build_states(snapshot: Snapshot) -> Result<HashMap<String, HomeState>, AppError> {
    let mut homes = HashMap::new();
    for row in snapshot.homes {
        homes.insert(row.id.clone(), HomeState::new(row)?);
    }
    for lock in snapshot.locks {
        if let Some(home) = homes.get_mut(&lock.home_id) {
            home.locks.insert(lock.id.clone(), lock);
        }
    }
    for user in snapshot.users {
        if let Some(home) = homes.get_mut(&user.home_id) {
            home.put_user(user)?;
        }
    }
    for lockout in snapshot.lockouts {
        if let Some(home) = homes.get_mut(&lockout.home_id) {
            home.lockouts.insert(lockout.device.clone(), lockout_from_row(&lockout));
        }
    }
    Ok(homes)
}

//! Homes and their locks.

use std::sync::Arc;

use keyward_core::{CodePolicy, LockoutPolicy, Name, ZoneName};
use keyward_store::{
    HomeRow, LockRow, LockoutRow, delete_lock, new_id, now_micros, save_lockout, upsert_home, upsert_lock,
};
use tokio::sync::Mutex;

use crate::state::HomeState;
use crate::{AppError, Hub};

pub type HomeView = HomeRow;
pub type LockView = LockRow;

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

pub(crate) fn new_home_row(name: &str, zone: &ZoneName) -> HomeRow {
    let (code, lockout, now) = (CodePolicy::default(), LockoutPolicy::default(), now_micros());
    HomeRow {
        id: new_id(),
        name: name.to_owned(),
        timezone: zone.as_str().to_owned(),
        code_min_length: code.min_length().into(),
        code_max_length: code.max_length().into(),
        code_reject_weak: code.reject_weak(),
        lockout_max_attempts: lockout.max_attempts().into(),
        lockout_window_seconds: lockout.window_seconds().into(),
        lockout_seconds: lockout.lockout_seconds().into(),
        created_at: now,
        updated_at: now,
    }
}

impl Hub {
    pub async fn list_homes(&self) -> Result<Vec<HomeView>, AppError> {
        let mut homes = Vec::new();
        for home in self.home_ids()? {
            homes.push(home.lock().await.row.clone());
        }
        homes.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(homes)
    }

    pub async fn get_home(&self, home_id: &str) -> Result<HomeView, AppError> {
        Ok(self.home(home_id)?.lock().await.row.clone())
    }

    pub async fn create_home(&self, name: &str, timezone: &str) -> Result<HomeView, AppError> {
        let name = Name::parse(name)?;
        let zone = ZoneName::parse(timezone)?;
        let row = new_home_row(name.as_str(), &zone);
        let state = HomeState::new(row.clone())?;
        let written = row.clone();
        self.writer.write(move |conn| upsert_home(conn, &written)).await?;
        self.homes.write().map_err(|_| AppError::Poisoned)?.insert(row.id.clone(), Arc::new(Mutex::new(state)));
        Ok(row)
    }

    pub async fn update_home(&self, home_id: &str, patch: HomePatch) -> Result<HomeView, AppError> {
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        let mut row = state.row.clone();
        if let Some(name) = patch.name {
            row.name = Name::parse(name)?.as_str().to_owned();
        }
        if let Some(timezone) = patch.timezone {
            row.timezone = ZoneName::parse(&timezone)?.as_str().to_owned();
        }
        let set = |field: &mut i64, value: Option<i64>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut row.code_min_length, patch.code_min_length);
        set(&mut row.code_max_length, patch.code_max_length);
        set(&mut row.lockout_max_attempts, patch.lockout_max_attempts);
        set(&mut row.lockout_window_seconds, patch.lockout_window_seconds);
        set(&mut row.lockout_seconds, patch.lockout_seconds);
        if let Some(reject_weak) = patch.code_reject_weak {
            row.code_reject_weak = reject_weak;
        }
        // Validate before writing: a refused change changes nothing.
        CodePolicy::new(row.code_min_length, row.code_max_length, row.code_reject_weak)?;
        LockoutPolicy::new(row.lockout_max_attempts, row.lockout_window_seconds, row.lockout_seconds)?;
        row.updated_at = now_micros();
        let written = row.clone();
        self.writer.write(move |conn| upsert_home(conn, &written)).await?;
        state.set_row(row)?;
        Ok(state.row.clone())
    }

    pub async fn list_locks(&self, home_id: &str) -> Result<Vec<LockView>, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        let mut locks: Vec<LockView> = state.locks.values().cloned().collect();
        locks.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(locks)
    }

    pub async fn get_lock(&self, home_id: &str, lock_id: &str) -> Result<LockView, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        state.locks.get(lock_id).cloned().ok_or(AppError::LockNotFound)
    }

    pub async fn create_lock(&self, home_id: &str, name: &str) -> Result<LockView, AppError> {
        let name = Name::parse(name)?;
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        let now = now_micros();
        let row = LockRow {
            id: new_id(),
            home_id: home_id.to_owned(),
            name: name.as_str().to_owned(),
            created_at: now,
            updated_at: now,
        };
        let written = row.clone();
        self.writer.write(move |conn| upsert_lock(conn, &written)).await?;
        state.locks.insert(row.id.clone(), row.clone());
        Ok(row)
    }

    pub async fn rename_lock(&self, home_id: &str, lock_id: &str, name: &str) -> Result<LockView, AppError> {
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        let mut row = state.locks.get(lock_id).cloned().ok_or(AppError::LockNotFound)?;
        row.name = Name::parse(name)?.as_str().to_owned();
        row.updated_at = now_micros();
        let written = row.clone();
        self.writer.write(move |conn| upsert_lock(conn, &written)).await?;
        state.locks.insert(row.id.clone(), row.clone());
        Ok(row)
    }

    /// Removes a lock; users who were given it keep their other locks.
    pub async fn delete_lock(&self, home_id: &str, lock_id: &str) -> Result<(), AppError> {
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        if !state.locks.contains_key(lock_id) {
            return Err(AppError::LockNotFound);
        }
        let (id, lockout) = (
            lock_id.to_owned(),
            LockoutRow {
                home_id: home_id.to_owned(),
                device: lock_id.to_owned(),
                failures: Vec::new(),
                locked_until: None,
            },
        );
        self.writer
            .write(move |conn| {
                delete_lock(conn, &id)?;
                save_lockout(conn, &lockout)
            })
            .await?;
        state.locks.remove(lock_id);
        state.lockouts.remove(lock_id);
        let affected: Vec<_> = state
            .users
            .values()
            .filter(|e| e.row.lock_ids.iter().any(|l| l == lock_id))
            .map(|e| e.row.clone())
            .collect();
        for mut row in affected {
            row.lock_ids.retain(|l| l != lock_id);
            state.put_user(row)?;
        }
        Ok(())
    }
}

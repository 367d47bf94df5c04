//! Homes and their locks.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{CodePolicy, LockAccess, LockoutPolicy, Name, ZoneName};
use keyward_store::{HomeRecord, HomeStore, LockRecord};

use crate::AppError;
use crate::clock::Clock;
use crate::registry::{HomeState, Registry};
use crate::secrets::new_id;

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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&LockRecord> for LockView {
    fn from(l: &LockRecord) -> Self {
        Self { id: l.id.clone(), name: l.name.as_str().to_owned(), created_at: l.created_at, updated_at: l.updated_at }
    }
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
}

impl Homes {
    pub(crate) fn new(registry: Arc<Registry>, store: Arc<dyn HomeStore>, clock: Arc<dyn Clock>) -> Self {
        Self { registry, store, clock }
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

    pub async fn create_lock(&self, home_id: &str, name: &str) -> Result<LockView, AppError> {
        let name = Name::parse(name)?;
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let now = self.clock.now();
        let record = LockRecord { id: new_id(), home_id: home_id.to_owned(), name, created_at: now, updated_at: now };
        self.store.put_lock(record.clone()).await?;
        let view = LockView::from(&record);
        state.locks.insert(record.id.clone(), record);
        Ok(view)
    }

    pub async fn rename_lock(&self, home_id: &str, lock_id: &str, name: &str) -> Result<LockView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let mut record = state.locks.get(lock_id).cloned().ok_or(AppError::LockNotFound)?;
        record.name = Name::parse(name)?;
        record.updated_at = self.clock.now();
        self.store.put_lock(record.clone()).await?;
        let view = LockView::from(&record);
        state.locks.insert(record.id.clone(), record);
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
        state.lockouts.remove(lock_id);
        for record in state.users.values_mut() {
            if let LockAccess::Only(ids) = &mut record.user.locks {
                ids.retain(|l| l != lock_id);
            }
        }
        Ok(())
    }
}

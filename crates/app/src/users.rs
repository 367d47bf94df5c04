//! Users and their codes: create, change, delete, reveal.

use jiff::Timestamp;
use keyward_core::{
    Code, ExistingCode, LockAccess, Name, Notify, PanelPermissions, Schedule, ScheduleSpec, UserKind, Validity,
};
use keyward_store::{ActivityRow, StoreError, UserRow, delete_user, insert_activity, new_id, now_micros, upsert_user};
use zeroize::Zeroizing;

use crate::state::{HomeState, micros_to_timestamp};
use crate::{AppError, Hub};

/// A new user, as the owner described it. `code` is wiped from memory on drop.
pub struct UserInput {
    pub name: String,
    pub kind: UserKind,
    pub panel: PanelPermissions,
    pub locks: LockAccess,
    pub schedule: ScheduleSpec,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub max_uses: Option<i64>,
    pub notify: Notify,
    pub enabled: bool,
    pub code: Zeroizing<String>,
}

/// A partial change; `None` leaves a field as it is. For the nullable fields,
/// `Some(None)` clears them.
#[derive(Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub kind: Option<UserKind>,
    pub panel_arm: Option<bool>,
    pub panel_disarm: Option<bool>,
    pub locks: Option<LockAccess>,
    pub schedule: Option<ScheduleSpec>,
    pub valid_from: Option<Option<Timestamp>>,
    pub valid_until: Option<Option<Timestamp>>,
    pub max_uses: Option<Option<i64>>,
    pub notify_arrive: Option<bool>,
    pub notify_leave: Option<bool>,
    pub enabled: Option<bool>,
    pub code: Option<Zeroizing<String>>,
}

/// A user as shown to the owner. Never holds the code.
#[derive(Debug, Clone, PartialEq)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub kind: UserKind,
    pub panel: PanelPermissions,
    pub locks: LockAccess,
    pub schedule: ScheduleSpec,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    /// The last grant, if any.
    pub last_used: Option<Timestamp>,
    pub notify: Notify,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn view(state: &HomeState, user_id: &str) -> Result<UserView, AppError> {
    let entry = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
    let (row, user) = (&entry.row, &entry.user);
    Ok(UserView {
        id: row.id.clone(),
        name: row.name.clone(),
        kind: user.kind,
        panel: user.panel,
        locks: user.locks.clone(),
        schedule: user.schedule.to_spec(),
        valid_from: user.validity.from(),
        valid_until: user.validity.until(),
        max_uses: user.validity.max_uses(),
        uses: user.uses,
        last_used: row.last_used_at.map(micros_to_timestamp),
        notify: user.notify,
        enabled: user.enabled,
        created_at: micros_to_timestamp(row.created_at),
        updated_at: micros_to_timestamp(row.updated_at),
    })
}

impl Hub {
    pub async fn list_users(&self, home_id: &str) -> Result<Vec<UserView>, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        let mut ids: Vec<(&i64, &String)> = state.users.values().map(|e| (&e.row.created_at, &e.row.id)).collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| view(&state, id)).collect()
    }

    pub async fn get_user(&self, home_id: &str, user_id: &str) -> Result<UserView, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        view(&state, user_id)
    }

    pub async fn create_user(&self, home_id: &str, input: UserInput, actor: &str) -> Result<UserView, AppError> {
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        let now = now_micros();
        let mut row = UserRow {
            id: new_id(),
            home_id: home_id.to_owned(),
            name: String::new(),
            kind: input.kind.as_str().to_owned(),
            panel_arm: input.panel.arm,
            panel_disarm: input.panel.disarm,
            all_locks: true,
            lock_ids: Vec::new(),
            schedule: String::new(),
            valid_from: None,
            valid_until: None,
            max_uses: None,
            uses: 0,
            last_used_at: None,
            notify_arrive: input.notify.arrive,
            notify_leave: input.notify.leave,
            enabled: input.enabled,
            code_mac: [0; 32],
            code_sealed: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let fields = Fields {
            name: input.name,
            locks: input.locks,
            schedule: input.schedule,
            valid_from: input.valid_from,
            valid_until: input.valid_until,
            max_uses: input.max_uses,
        };
        self.apply_fields(&state, &mut row, fields)?;
        self.apply_code(&state, &mut row, input.kind, Some(input.code))?;
        self.save(&mut state, row, "user_created", actor).await
    }

    pub async fn update_user(
        &self,
        home_id: &str,
        user_id: &str,
        patch: UserPatch,
        actor: &str,
    ) -> Result<UserView, AppError> {
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        let entry = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        let mut row = entry.row.clone();
        let current = &entry.user;
        let kind = patch.kind.unwrap_or(current.kind);
        let fields = Fields {
            name: patch.name.unwrap_or_else(|| row.name.clone()),
            locks: patch.locks.unwrap_or_else(|| current.locks.clone()),
            schedule: patch.schedule.unwrap_or_else(|| current.schedule.to_spec()),
            valid_from: patch.valid_from.unwrap_or(current.validity.from()),
            valid_until: patch.valid_until.unwrap_or(current.validity.until()),
            max_uses: patch.max_uses.unwrap_or(current.validity.max_uses().map(i64::from)),
        };
        row.kind = kind.as_str().to_owned();
        row.panel_arm = patch.panel_arm.unwrap_or(row.panel_arm);
        row.panel_disarm = patch.panel_disarm.unwrap_or(row.panel_disarm);
        row.notify_arrive = patch.notify_arrive.unwrap_or(row.notify_arrive);
        row.notify_leave = patch.notify_leave.unwrap_or(row.notify_leave);
        row.enabled = patch.enabled.unwrap_or(row.enabled);
        self.apply_fields(&state, &mut row, fields)?;
        // A kind change re-checks the current code: a standard code may be too
        // close to a duress code, and vice versa.
        let code = match (patch.code, kind != current.kind) {
            (Some(code), _) => Some(code),
            (None, true) => Some(self.vault.unseal(home_id, user_id, &row.code_sealed).map_err(StoreError::from)?),
            (None, false) => None,
        };
        self.apply_code(&state, &mut row, kind, code)?;
        row.updated_at = now_micros();
        self.save(&mut state, row, "user_updated", actor).await
    }

    /// Deletes a user. The code stops working at once and is free to be given again.
    pub async fn delete_user(&self, home_id: &str, user_id: &str, actor: &str) -> Result<(), AppError> {
        let home = self.home(home_id)?;
        let mut state = home.lock().await;
        let entry = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        let audit = audit_entry(&entry.row, "user_deleted", actor);
        let id = user_id.to_owned();
        let committed = self
            .writer
            .write(move |conn| {
                delete_user(conn, &id)?;
                insert_activity(conn, &audit).map(|()| audit)
            })
            .await?;
        self.publish([committed]);
        state.remove_user(user_id);
        Ok(())
    }

    /// The one call that returns a code in plain text; the reveal is in the
    /// activity log before the code is returned.
    pub async fn reveal_code(&self, home_id: &str, user_id: &str, actor: &str) -> Result<Zeroizing<String>, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        let entry = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        let code = self.vault.unseal(home_id, user_id, &entry.row.code_sealed).map_err(StoreError::from)?;
        let audit = audit_entry(&entry.row, "code_revealed", actor);
        let committed = self.writer.write(move |conn| insert_activity(conn, &audit).map(|()| audit)).await?;
        self.publish([committed]);
        tracing::info!(home = home_id, user = user_id, actor, "code revealed");
        Ok(code)
    }

    fn apply_fields(&self, state: &HomeState, row: &mut UserRow, f: Fields) -> Result<(), AppError> {
        row.name = Name::parse(f.name)?.as_str().to_owned();
        let schedule = Schedule::parse(&f.schedule)?;
        row.schedule = serde_json::to_string(&schedule.to_spec())
            .map_err(|_| StoreError::Corrupt("a schedule could not be serialised"))?;
        let validity = Validity::new(f.valid_from, f.valid_until, f.max_uses)?;
        row.valid_from = validity.from().map(|t| t.as_microsecond());
        row.valid_until = validity.until().map(|t| t.as_microsecond());
        row.max_uses = validity.max_uses().map(i64::from);
        match f.locks {
            LockAccess::All => {
                row.all_locks = true;
                row.lock_ids.clear();
            }
            LockAccess::Only(mut ids) => {
                ids.sort();
                ids.dedup();
                if ids.iter().any(|id| !state.locks.contains_key(id)) {
                    return Err(AppError::LocksInvalid);
                }
                row.all_locks = false;
                row.lock_ids = ids;
            }
        }
        Ok(())
    }

    /// Checks a new code (or the current one, under a new kind) against every
    /// code rule and the other codes of the home, then seals it into the row.
    fn apply_code(
        &self,
        state: &HomeState,
        row: &mut UserRow,
        kind: UserKind,
        code: Option<Zeroizing<String>>,
    ) -> Result<(), AppError> {
        let Some(candidate) = code else { return Ok(()) };
        let mut others: Vec<(Zeroizing<String>, UserKind)> = Vec::with_capacity(state.users.len());
        for entry in state.users.values().filter(|e| e.row.id != row.id) {
            let digits =
                self.vault.unseal(&row.home_id, &entry.row.id, &entry.row.code_sealed).map_err(StoreError::from)?;
            others.push((digits, entry.user.kind));
        }
        let code = Code::check_new(
            &candidate,
            kind,
            &state.code_policy,
            others.iter().map(|(digits, kind)| ExistingCode { digits, kind: *kind }),
        )?;
        row.code_mac = self.vault.code_mac(&row.home_id, code.as_str());
        row.code_sealed = self.vault.seal(&row.home_id, &row.id, code.as_str());
        Ok(())
    }

    /// The other users' codes of a home, unsealed for the code rules and
    /// wiped when dropped.
    fn other_codes(&self, state: &HomeState, except: &str) -> Result<Vec<(Zeroizing<String>, UserKind)>, AppError> {
        let mut others = Vec::with_capacity(state.users.len());
        for entry in state.users.values().filter(|e| e.row.id != except) {
            let digits =
                self.vault.unseal(&state.row.id, &entry.row.id, &entry.row.code_sealed).map_err(StoreError::from)?;
            others.push((digits, entry.user.kind));
        }
        Ok(others)
    }

    /// A random code that passes every rule in this home, for the owner's
    /// "Generate" button. `user_id` is the user being edited, if any.
    pub async fn generate_code(
        &self,
        home_id: &str,
        kind: UserKind,
        user_id: Option<&str>,
    ) -> Result<Zeroizing<String>, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        let others = self.other_codes(&state, user_id.unwrap_or(""))?;
        let existing: Vec<ExistingCode<'_>> =
            others.iter().map(|(digits, kind)| ExistingCode { digits, kind: *kind }).collect();
        let random = || {
            let hex = keyward_store::random_hex(4);
            u32::from_str_radix(&hex, 16).unwrap_or(0)
        };
        Code::generate(kind, &state.code_policy, &existing, random)
            .map(|c| Zeroizing::new(c.as_str().to_owned()))
            .ok_or(AppError::Code(keyward_core::CodeError::InUse))
    }

    async fn save(&self, state: &mut HomeState, row: UserRow, kind: &str, actor: &str) -> Result<UserView, AppError> {
        let audit = audit_entry(&row, kind, actor);
        let written = row.clone();
        let result = self
            .writer
            .write(move |conn| {
                upsert_user(conn, &written)?;
                insert_activity(conn, &audit).map(|()| audit)
            })
            .await;
        let committed = match result {
            // The UNIQUE index settles a race the in-memory check could not see.
            Err(StoreError::Conflict) => return Err(keyward_core::CodeError::InUse.into()),
            other => other?,
        };
        self.publish([committed]);
        let id = row.id.clone();
        state.put_user(row)?;
        view(state, &id)
    }
}

struct Fields {
    name: String,
    locks: LockAccess,
    schedule: ScheduleSpec,
    valid_from: Option<Timestamp>,
    valid_until: Option<Timestamp>,
    max_uses: Option<i64>,
}

fn audit_entry(row: &UserRow, kind: &str, actor: &str) -> ActivityRow {
    ActivityRow {
        id: new_id(),
        home_id: row.home_id.clone(),
        at: now_micros(),
        kind: kind.to_owned(),
        device: None,
        action: None,
        outcome: None,
        reason: None,
        user_id: Some(row.id.clone()),
        user_name: Some(row.name.clone()),
        duress: false,
        actor: Some(actor.to_owned()),
    }
}

//! Users and their codes: create, change, delete, reveal, generate.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{
    ActivityKind, Actor, Bound, Code, CodeError, Event, ExistingCode, LockAccess, Name, Notify, PanelPermissions,
    Schedule, ScheduleSpec, User, UserKind, UserRef, Validity,
};
use keyward_store::{Record, SealedCode, StoreError, UserChange, UserRecord, Vault};
use zeroize::Zeroizing;

use crate::AppError;
use crate::clock::Clock;
use keyward_core::ScheduleError;
use keyward_core::notify::{AlertRules, AlertRulesError, AlertRulesSpec, ChannelChoice, ChannelsSpec, NoShowSpec};

use crate::recorder::{Recorder, entry};
use crate::registry::{HomeState, Registry};
use crate::secrets::{new_id, random_hex};
use crate::sync::SyncSignal;

/// A new user, as the owner described it. `code` is wiped from memory on drop.
pub struct UserInput {
    pub name: String,
    pub kind: UserKind,
    pub panel: PanelPermissions,
    pub locks: LockAccess,
    pub schedule: ScheduleSpec,
    pub valid_from: Option<Bound>,
    pub valid_until: Option<Bound>,
    pub max_uses: Option<i64>,
    pub notify: Notify,
    /// Channels, hours and a no-show rule (default: every channel, always, none).
    pub alerts: AlertRulesSpec,
    pub enabled: bool,
    pub contact: keyward_core::Contact,
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
    pub valid_from: Option<Option<Bound>>,
    pub valid_until: Option<Option<Bound>>,
    pub max_uses: Option<Option<i64>>,
    pub notify_arrive: Option<bool>,
    pub notify_leave: Option<bool>,
    pub alert_channels: Option<ChannelsSpec>,
    /// `Some(None)`: arrivals and departures told at any hour.
    pub alert_hours: Option<Option<ScheduleSpec>>,
    /// `Some(None)`: no no-show rule.
    pub no_show: Option<Option<NoShowSpec>>,
    pub enabled: Option<bool>,
    /// The whole contact, replaced.
    pub contact: Option<keyward_core::Contact>,
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
    /// The stay's bounds as given: instants, or days in the home's zone.
    pub valid_from: Option<Bound>,
    pub valid_until: Option<Bound>,
    /// The same bounds as instants, in the home's zone of now (`until`
    /// exclusive: a last day ends at the next midnight).
    pub starts: Option<Timestamp>,
    pub ends: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    /// The last grant, if any.
    pub last_used: Option<Timestamp>,
    pub notify: Notify,
    pub alerts: AlertRules,
    pub enabled: bool,
    pub contact: keyward_core::Contact,
    /// Where they stand at the moment the view was made: can they get in?
    pub standing: keyward_core::Standing,
    /// The stored code cannot be read (damaged): the user needs a new code.
    pub needs_new_code: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl UserView {
    fn of(state: &HomeState, r: &UserRecord, now: Timestamp) -> Self {
        let u = &r.user;
        Self {
            id: u.id.clone(),
            name: u.name.as_str().to_owned(),
            kind: u.kind,
            panel: u.panel,
            locks: u.locks.clone(),
            schedule: u.schedule.to_spec(),
            valid_from: u.validity.from(),
            valid_until: u.validity.until(),
            starts: u.validity.starts(state.home.zone.tz()),
            ends: u.validity.ends(state.home.zone.tz()),
            max_uses: u.validity.max_uses(),
            uses: u.uses,
            last_used: r.last_used,
            notify: u.notify,
            alerts: {
                // A removed channel no longer counts among the user's.
                let mut alerts = u.alerts.clone();
                if let ChannelChoice::Only(ids) = &mut alerts.channels {
                    ids.retain(|id| state.channels.iter().any(|c| &c.id == id));
                }
                alerts
            },
            enabled: u.enabled,
            contact: u.contact.clone(),
            standing: keyward_core::standing(u, state.home.zone.tz(), now),
            needs_new_code: state.damaged.contains(&u.id),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A user as the owner described them, before parsing.
struct Fields {
    name: String,
    kind: UserKind,
    panel: PanelPermissions,
    notify: Notify,
    alerts: AlertRulesSpec,
    enabled: bool,
    contact: keyward_core::Contact,
    locks: LockAccess,
    schedule: ScheduleSpec,
    valid_from: Option<Bound>,
    valid_until: Option<Bound>,
    max_uses: Option<i64>,
}

/// Users and their codes.
pub struct Users {
    registry: Arc<Registry>,
    vault: Arc<Vault>,
    recorder: Arc<Recorder>,
    clock: Arc<dyn Clock>,
    /// Every change reaches the locks' sync engine.
    signal: SyncSignal,
}

impl Users {
    pub(crate) fn new(
        registry: Arc<Registry>,
        vault: Arc<Vault>,
        recorder: Arc<Recorder>,
        clock: Arc<dyn Clock>,
        signal: SyncSignal,
    ) -> Self {
        Self { registry, vault, recorder, clock, signal }
    }

    /// The home's users, oldest first.
    pub async fn list(&self, home_id: &str) -> Result<Vec<UserView>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let mut users: Vec<&UserRecord> = state.users.values().collect();
        users.sort_by(|a, b| (a.created_at, &a.user.id).cmp(&(b.created_at, &b.user.id)));
        Ok(users.into_iter().map(|u| UserView::of(&state, u, self.clock.now())).collect())
    }

    pub async fn get(&self, home_id: &str, user_id: &str) -> Result<UserView, AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        state.users.get(user_id).map(|u| UserView::of(&state, u, self.clock.now())).ok_or(AppError::UserNotFound)
    }

    pub async fn create(&self, home_id: &str, input: UserInput, actor: Actor) -> Result<UserView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let now = self.clock.now();
        let id = new_id();
        let fields = Fields {
            name: input.name,
            kind: input.kind,
            panel: input.panel,
            notify: input.notify,
            alerts: input.alerts,
            enabled: input.enabled,
            contact: input.contact,
            locks: input.locks,
            schedule: input.schedule,
            valid_from: input.valid_from,
            valid_until: input.valid_until,
            max_uses: input.max_uses,
        };
        let user = parse_user(&state, id, 0, fields)?;
        let code = self.seal_new_code(&mut state, &user, &input.code)?;
        let record =
            UserRecord { home_id: home_id.to_owned(), user, code, last_used: None, created_at: now, updated_at: now };
        let view = self.save(&mut state, record, ActivityKind::UserCreated, actor, None).await?;
        self.signal.home_changed(home_id);
        Ok(view)
    }

    pub async fn update(
        &self,
        home_id: &str,
        user_id: &str,
        patch: UserPatch,
        actor: Actor,
    ) -> Result<UserView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let current = state.users.get(user_id).cloned().ok_or(AppError::UserNotFound)?;
        let was = &current.user;
        let fields = Fields {
            name: patch.name.unwrap_or_else(|| was.name.as_str().to_owned()),
            kind: patch.kind.unwrap_or(was.kind),
            panel: PanelPermissions {
                arm: patch.panel_arm.unwrap_or(was.panel.arm),
                disarm: patch.panel_disarm.unwrap_or(was.panel.disarm),
            },
            notify: Notify {
                arrive: patch.notify_arrive.unwrap_or(was.notify.arrive),
                leave: patch.notify_leave.unwrap_or(was.notify.leave),
            },
            alerts: {
                let mut spec = was.alerts.to_spec();
                match patch.alert_channels {
                    Some(channels) => spec.channels = Some(channels),
                    // Channels removed since are dropped, not held against the change.
                    None => {
                        if let Some(ChannelsSpec::Ids(ids)) = &mut spec.channels {
                            ids.retain(|id| state.channels.iter().any(|c| &c.id == id));
                        }
                    }
                }
                if let Some(hours) = patch.alert_hours {
                    spec.hours = hours;
                }
                if let Some(no_show) = patch.no_show {
                    spec.no_show = no_show;
                }
                spec
            },
            enabled: patch.enabled.unwrap_or(was.enabled),
            contact: patch.contact.unwrap_or_else(|| was.contact.clone()),
            locks: patch.locks.unwrap_or_else(|| was.locks.clone()),
            schedule: patch.schedule.unwrap_or_else(|| was.schedule.to_spec()),
            valid_from: patch.valid_from.unwrap_or(was.validity.from()),
            valid_until: patch.valid_until.unwrap_or(was.validity.until()),
            max_uses: patch.max_uses.unwrap_or(was.validity.max_uses().map(i64::from)),
        };
        let user = parse_user(&state, user_id.to_owned(), was.uses, fields)?;
        // A kind change re-checks the current code: a standard code may be too
        // close to a duress code, and vice versa.
        let changed = user.changed_fields(was, patch.code.is_some()).join(", ");
        let code = match (patch.code, user.kind != was.kind) {
            (Some(code), _) => self.seal_new_code(&mut state, &user, &code)?,
            (None, true) => {
                let digits =
                    self.vault.unseal(home_id, user_id, &current.code.sealed).map_err(|_| AppError::CodeDamaged)?;
                self.seal_new_code(&mut state, &user, &digits)?
            }
            (None, false) => current.code.clone(),
        };
        let record = UserRecord {
            home_id: home_id.to_owned(),
            user,
            code,
            last_used: current.last_used,
            created_at: current.created_at,
            updated_at: self.clock.now(),
        };
        let view = self.save(&mut state, record, ActivityKind::UserUpdated, actor, Some(changed)).await?;
        self.signal.home_changed(home_id);
        Ok(view)
    }

    /// Deletes a user. The code stops working at once and is free to be given again.
    pub async fn delete(&self, home_id: &str, user_id: &str, actor: Actor) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let record = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        let audit = self.audit(&state, record, ActivityKind::UserDeleted, actor);
        let record = Record {
            home_id: home_id.to_owned(),
            entries: vec![audit],
            user: Some(UserChange::Delete(user_id.to_owned())),
            ..Record::default()
        };
        let committed = self.recorder.record(&state, record, self.clock.now());
        recorded(&mut state, committed.await)?;
        state.remove_user(user_id);
        self.signal.home_changed(home_id);
        Ok(())
    }

    /// The one call that returns a code in plain text; the reveal is in the
    /// activity log before the code is returned.
    pub async fn reveal_code(&self, home_id: &str, user_id: &str, actor: Actor) -> Result<Zeroizing<String>, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let record = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        let code = self.vault.unseal(home_id, user_id, &record.code.sealed).map_err(|_| AppError::CodeDamaged)?;
        let audit = self.audit(&state, record, ActivityKind::CodeRevealed, actor);
        let record = Record { home_id: home_id.to_owned(), entries: vec![audit], ..Record::default() };
        let committed = self.recorder.record(&state, record, self.clock.now());
        recorded(&mut state, committed.await)?;
        tracing::info!(home = home_id, user = user_id, "code revealed");
        Ok(code)
    }

    /// A random code that passes every rule in this home, for the owner's
    /// "Generate" button. `user_id` is the user being edited, if any.
    pub async fn generate_code(
        &self,
        home_id: &str,
        kind: UserKind,
        user_id: Option<&str>,
    ) -> Result<Zeroizing<String>, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let others = self.other_codes(&mut state, user_id.unwrap_or(""));
        let existing: Vec<ExistingCode<'_>> =
            others.iter().map(|(digits, kind)| ExistingCode { digits, kind: *kind }).collect();
        let random = || u32::from_str_radix(&random_hex(4), 16).unwrap_or(0);
        Code::generate(kind, &state.home.code_policy, &existing, random)
            .map(|c| Zeroizing::new(c.as_str().to_owned()))
            .ok_or(AppError::Code(CodeError::InUse))
    }

    /// Checks a code against every code rule and the other codes of the home
    /// (those of `user_id` left out), saving nothing: a form with other
    /// mistakes says what is wrong with its code at the same time.
    pub async fn check_code(
        &self,
        home_id: &str,
        candidate: &str,
        kind: UserKind,
        user_id: Option<&str>,
    ) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        self.checked_code(&mut state, candidate, kind, user_id.unwrap_or(""))?;
        Ok(())
    }

    /// A code against every code rule and the home's other codes (those of
    /// the user `except` left out).
    fn checked_code(
        &self,
        state: &mut HomeState,
        candidate: &str,
        kind: UserKind,
        except: &str,
    ) -> Result<Code, AppError> {
        let others = self.other_codes(state, except);
        Ok(Code::check_new(
            candidate,
            kind,
            &state.home.code_policy,
            others.iter().map(|(digits, kind)| ExistingCode { digits, kind: *kind }),
        )?)
    }

    /// Checks a code given to `user` against every code rule and the other
    /// codes of the home, then seals and keys it.
    fn seal_new_code(&self, state: &mut HomeState, user: &User, candidate: &str) -> Result<SealedCode, AppError> {
        let code = self.checked_code(state, candidate, user.kind, &user.id)?;
        Ok(SealedCode {
            mac: self.vault.code_mac(state.id(), code.as_str()),
            sealed: self.vault.seal(state.id(), &user.id, code.as_str()),
        })
    }

    /// The other users' codes of a home, unsealed for the code rules and
    /// wiped when dropped. A code that cannot be unsealed is left out (the
    /// UNIQUE digest still refuses it as a duplicate) and its user marked as
    /// needing a new code: one damaged row never stops the home's changes.
    fn other_codes(&self, state: &mut HomeState, except: &str) -> Vec<(Zeroizing<String>, UserKind)> {
        let mut others = Vec::with_capacity(state.users.len());
        let mut damaged = Vec::new();
        for record in state.users.values().filter(|r| r.user.id != except) {
            match self.vault.unseal(state.id(), &record.user.id, &record.code.sealed) {
                Ok(digits) => others.push((digits, record.user.kind)),
                Err(_) => damaged.push(record.user.id.clone()),
            }
        }
        for user_id in damaged {
            state.mark_damaged(&user_id);
        }
        others
    }

    fn audit(
        &self,
        state: &HomeState,
        record: &UserRecord,
        kind: ActivityKind,
        actor: Actor,
    ) -> keyward_core::ActivityEntry {
        let user = UserRef { id: record.user.id.clone(), name: record.user.name.as_str().to_owned() };
        entry(state.id(), Event::audit(kind, user, actor, self.clock.now()))
    }

    async fn save(
        &self,
        state: &mut HomeState,
        record: UserRecord,
        kind: ActivityKind,
        actor: Actor,
        detail: Option<String>,
    ) -> Result<UserView, AppError> {
        let mut audit = self.audit(state, &record, kind, actor);
        audit.event.detail = detail;
        let written = Record {
            home_id: record.home_id.clone(),
            entries: vec![audit],
            user: Some(UserChange::Put(Box::new(record.clone()))),
            ..Record::default()
        };
        match self.recorder.record(state, written, self.clock.now()).await {
            // The UNIQUE index settles a race the in-memory check could not see.
            Err(StoreError::Conflict(keyward_store::Key::UserCode)) => return Err(CodeError::InUse.into()),
            other => recorded(state, other)?,
        }
        let id = record.user.id.clone();
        state.put_user(record);
        state.users.get(&id).map(|r| UserView::of(state, r, self.clock.now())).ok_or(AppError::UserNotFound)
    }
}

/// A failed write of a home may follow one that memory had counted ahead
/// (the store then refuses the home's writes, `OutOfStep`): the home's
/// counts are read back before its next use.
fn recorded(state: &mut HomeState, written: Result<(), StoreError>) -> Result<(), AppError> {
    written.inspect_err(|_| state.stale = true).map_err(AppError::from)
}

/// Parses the owner's description of a user, in the order the form shows the
/// fields; the locks must be locks of this home.
fn parse_user(state: &HomeState, id: String, uses: u32, f: Fields) -> Result<User, AppError> {
    let name = Name::parse(f.name)?;
    let schedule = Schedule::parse(&f.schedule)?;
    let validity = Validity::with_bounds(f.valid_from, f.valid_until, f.max_uses, state.home.zone.tz())?;
    let locks = match f.locks {
        LockAccess::All => LockAccess::All,
        LockAccess::Only(mut ids) => {
            ids.sort();
            ids.dedup();
            // A lock being deleted is gone for users: dropped from a user who
            // had it, refused to one who did not.
            let had = |lock: &str| {
                state
                    .users
                    .get(&id)
                    .is_some_and(|r| matches!(&r.user.locks, LockAccess::Only(l) if l.iter().any(|x| x == lock)))
            };
            ids.retain(|lock| state.lock(lock).is_some() || !(state.locks.contains_key(lock) && had(lock)));
            if ids.iter().any(|lock| state.lock(lock).is_none()) {
                return Err(AppError::LocksInvalid);
            }
            LockAccess::Only(ids)
        }
    };
    let alerts = AlertRules::parse(&f.alerts).map_err(|e| match e {
        // Well formed, but empty: a conflict, as for the user's own schedule.
        AlertRulesError::Hours(ScheduleError::EmptyWindow) => AppError::from(ScheduleError::EmptyWindow),
        other => AppError::AlertsInvalid(other.to_string()),
    })?;
    if let ChannelChoice::Only(ids) = &alerts.channels
        && ids.iter().any(|id| !state.channels.iter().any(|c| &c.id == id))
    {
        return Err(AppError::AlertChannelsInvalid);
    }
    Ok(User {
        id,
        name,
        kind: f.kind,
        panel: f.panel,
        locks,
        schedule,
        validity,
        uses,
        notify: f.notify,
        alerts,
        enabled: f.enabled,
        contact: f.contact,
    })
}

//! The access use case: decide, apply the consequences, log durably, answer.
//! Every device (the REST endpoint now; keypads and locks later) calls
//! [`Access::attempt`]; there is no second path.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{
    AccessTarget, Action, Attempt, Decision, DenyReason, Device, Movement, consequences, decide, evaluate_user,
};
use keyward_store::{LockoutRecord, Record, Vault};

use crate::AppError;
use crate::clock::Clock;
use crate::recorder::{Recorder, entry};
use crate::registry::{HomeState, PANEL, Registry};
use crate::sync::LockSync;

/// What an attempt came to. Adapters decide how much of it the device may
/// see: a device learns granted or not, and who, on a grant; the owner also
/// learns the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessOutcome {
    pub granted: bool,
    pub reason: Option<DenyReason>,
    /// The user whose code it was: on a grant, and on a refusal of a known code.
    pub user: Option<(String, String)>,
    pub duress: bool,
    pub movement: Option<Movement>,
    pub retry_after: Option<u32>,
}

impl AccessOutcome {
    fn of(decision: &Decision<'_>) -> Self {
        match decision {
            Decision::Granted(grant) => Self {
                granted: true,
                reason: None,
                user: Some((grant.user.id.clone(), grant.user.name.as_str().to_owned())),
                duress: grant.duress,
                movement: Some(grant.movement),
                retry_after: None,
            },
            Decision::Denied { reason, user, retry_after } => Self {
                granted: false,
                reason: Some(*reason),
                user: user.map(|u| (u.id.clone(), u.name.as_str().to_owned())),
                duress: false,
                movement: None,
                retry_after: *retry_after,
            },
        }
    }
}

/// Whose decision a preview asks for: a typed code's, or a user's.
pub enum PreviewSubject<'a> {
    Code(&'a str),
    User(&'a str),
}

fn target<'a>(state: &HomeState, device: &'a str, action: Action) -> Result<AccessTarget<'a>, AppError> {
    if !state.has_device(device) {
        return Err(AppError::DeviceNotFound);
    }
    let device = if device == PANEL { Device::Panel } else { Device::Lock(device) };
    AccessTarget::new(device, action).ok_or(AppError::ActionInvalid)
}

/// Access decisions: the one path every device's code takes.
pub struct Access {
    registry: Arc<Registry>,
    vault: Arc<Vault>,
    recorder: Arc<Recorder>,
    clock: Arc<dyn Clock>,
    /// Grants unlock bound locks, and spent codes leave the locks.
    locks: Arc<LockSync>,
}

impl Access {
    pub(crate) fn new(
        registry: Arc<Registry>,
        vault: Arc<Vault>,
        recorder: Arc<Recorder>,
        clock: Arc<dyn Clock>,
        locks: Arc<LockSync>,
    ) -> Self {
        Self { registry, vault, recorder, clock, locks }
    }

    /// A code typed at a device, now. The attempt, granted or refused, is
    /// committed to the activity log before this returns.
    pub async fn attempt(
        &self,
        home_id: &str,
        code: &str,
        device: &str,
        action: Action,
    ) -> Result<AccessOutcome, AppError> {
        let home = self.registry.home(home_id)?;
        let (committed, outcome, locked_out) = {
            let mut state = self.recorder.lock(&home).await?;
            let at = self.clock.now();
            let target = target(&state, device, action)?;
            let before = state.lockouts_of(device);
            let directory = state.directory(&self.vault);
            let decision = decide(state.home.zone.tz(), &directory, code, target, at, before);
            let outcome = AccessOutcome::of(&decision);
            let change = consequences(&decision, Attempt { device, action, at }, before, &state.home.lockout_policy);
            let locked_out = (change.locked_out(), change.home_locked_out());

            // The home's memory changes while its lock is held, and the record
            // is queued before the lock is released: writes and memory agree
            // in order, and concurrent attempts share a commit.
            let mut lockouts = Vec::new();
            if let Some(next) = change.lockout {
                state.set_lockout(device, next.clone());
                lockouts.push(LockoutRecord { home_id: home_id.to_owned(), device: device.to_owned(), state: next });
            }
            if let Some(next) = change.home_lockout {
                state.home_lockout = next.clone();
                let home = LockoutRecord::HOME.to_owned();
                lockouts.push(LockoutRecord { home_id: home_id.to_owned(), device: home, state: next });
            }
            if let Some(counted) = &change.use_counted
                && let Some(record) = state.users.get_mut(&counted.user_id)
            {
                record.user.uses = counted.uses;
                record.last_used = Some(counted.last_used);
            }
            if device == PANEL {
                state.panel_heard = Some(true);
            }
            let entries = change.events.into_iter().map(|event| entry(home_id, event)).collect();
            let record = Record {
                home_id: home_id.to_owned(),
                applied_ahead: true,
                entries,
                lockouts,
                uses: change.use_counted,
                user: None,
                // Planned by the recorder from the home's channels.
                notifications: Vec::new(),
            };
            (self.recorder.record(&state, record, at), outcome, locked_out)
        };
        if let Err(e) = committed.await {
            // Memory counted this attempt; the store did not. Read the home's
            // counts back before it is used again.
            home.lock().await.stale = true;
            return Err(e.into());
        }
        if locked_out.0 {
            tracing::warn!(home = home_id, device, "device locked out after wrong codes");
        }
        if locked_out.1 {
            tracing::warn!(home = home_id, device, "every device of the home locked out after wrong codes across it");
        }
        if outcome.granted && device != PANEL {
            self.locks.granted(home_id, device, action == Action::Unlock);
        }
        Ok(outcome)
    }

    /// The decision at instant `at` (now, when not given), without any
    /// consequence: nothing is logged, no use or failure is counted.
    pub async fn preview(
        &self,
        home_id: &str,
        subject: PreviewSubject<'_>,
        device: &str,
        action: Action,
        at: Option<Timestamp>,
    ) -> Result<AccessOutcome, AppError> {
        let at = at.unwrap_or_else(|| self.clock.now());
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let target = target(&state, device, action)?;
        let lockout = state.lockouts_of(device);
        let tz = state.home.zone.tz();
        let directory = state.directory(&self.vault);
        let decision = match subject {
            PreviewSubject::Code(code) => decide(tz, &directory, code, target, at, lockout),
            PreviewSubject::User(user_id) => {
                let record = state.users.get(user_id).ok_or(AppError::UnknownUser)?;
                evaluate_user(tz, &record.user, target, at, lockout)
            }
        };
        Ok(AccessOutcome::of(&decision))
    }
}

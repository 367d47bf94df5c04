//! The access use case: decide, apply the consequences, log durably, answer.
//! Every device (the REST endpoint now; keypads and locks later) calls
//! [`Access::attempt`]; there is no second path.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::alarm::{ArmMode, By, Input};
use keyward_core::{
    AccessTarget, Action, Attempt, Decision, DenyReason, Device, Movement, PanelAction, consequences, decide,
    evaluate_user,
};
use keyward_store::{LockoutRecord, Record, Vault};

use crate::AppError;
use crate::clock::Clock;
use crate::panel::Panels;
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
    /// For a code granted at the panel: the panel after it, and why it did
    /// not change when it did not (already armed, open sensors).
    pub panel: Option<PanelAnswer>,
}

/// The panel as a code granted at it left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelAnswer {
    pub state: &'static str,
    pub delay_until: Option<Timestamp>,
    pub refused: Option<keyward_core::alarm::Refusal>,
    /// For a `not_ready` refusal: the open sensors, by name.
    pub open_sensors: Vec<String>,
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
                panel: None,
            },
            Decision::Denied { reason, user, retry_after } => Self {
                granted: false,
                reason: Some(*reason),
                user: user.map(|u| (u.id.clone(), u.name.as_str().to_owned())),
                duress: false,
                movement: None,
                retry_after: *retry_after,
                panel: None,
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
    /// Grants at the panel arm and disarm it.
    panels: Arc<Panels>,
}

impl Access {
    pub(crate) fn new(
        registry: Arc<Registry>,
        vault: Arc<Vault>,
        recorder: Arc<Recorder>,
        clock: Arc<dyn Clock>,
        locks: Arc<LockSync>,
        panels: Arc<Panels>,
    ) -> Self {
        Self { registry, vault, recorder, clock, locks, panels }
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
        let (committed, outcome, locked_out, panel_before, panel_effects) = {
            let mut state = self.recorder.lock(&home).await?;
            let at = self.clock.now();
            let target = target(&state, device, action)?;
            // The counts are copied: the panel below changes the home's memory.
            let (device_count, home_count) = {
                let before = state.lockouts_of(device);
                (before.device.clone(), before.home.clone())
            };
            let before = keyward_core::Lockouts { device: &device_count, home: &home_count };
            let policy = state.home.lockout_policy;
            let attempt = Attempt { device, action, at };
            let directory = state.directory(&self.vault);
            let decision = decide(state.home.zone.tz(), &directory, code, target, at, before);
            let panel_grant = match (&decision, target) {
                (Decision::Granted(grant), AccessTarget::Panel(panel_action)) => {
                    Some((grant.user.id.clone(), grant.user.name.as_str().to_owned(), grant.duress, panel_action))
                }
                _ => None,
            };
            let (change, outcome, panel_step) = match panel_grant {
                None => (consequences(&decision, attempt, before, &policy), AccessOutcome::of(&decision), None),
                // A code granted at the panel arms or disarms it, in the same
                // record as the attempt (typed at a device: auto-stay
                // applies). A valid arming code the panel refuses for open
                // sensors is refused as `not_ready`: no use counted.
                Some((user_id, name, duress, panel_action)) => {
                    let by = By::user(&keyward_core::UserRef { id: user_id.clone(), name });
                    let arm = |mode| Input::Arm { mode, by: by.clone(), at_keypad: true, force: false };
                    let input = match panel_action {
                        PanelAction::Disarm => Input::Disarm { by: by.clone() },
                        PanelAction::ArmAway => arm(ArmMode::Away),
                        PanelAction::ArmStay => arm(ArmMode::Stay),
                        PanelAction::ArmNight => arm(ArmMode::Night),
                    };
                    let stepped = crate::panel::step(&mut state, at, input);
                    let user = &state.users.get(&user_id).ok_or(AppError::UnknownUser)?.user;
                    let decision = match &stepped {
                        Err(keyward_core::alarm::Refusal::NotReady { .. }) => {
                            Decision::Denied { reason: DenyReason::NotReady, user: Some(user), retry_after: None }
                        }
                        _ => Decision::Granted(keyward_core::Grant { user, duress, movement: target.movement() }),
                    };
                    let mut outcome = AccessOutcome::of(&decision);
                    let change = consequences(&decision, attempt, before, &policy);
                    let refused = stepped.as_ref().err().cloned();
                    outcome.panel = Some(PanelAnswer {
                        state: state.panel.panel.state.name(),
                        delay_until: state.panel.panel.state.delay_until(),
                        open_sensors: match &refused {
                            Some(keyward_core::alarm::Refusal::NotReady { open }) => {
                                crate::panel::names_of(&state, open)
                            }
                            _ => Vec::new(),
                        },
                        refused,
                    });
                    (change, outcome, stepped.ok())
                }
            };
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
            let mut events = change.events;
            let (panel_record, panel_before, panel_effects) = match panel_step {
                Some(step) => {
                    events.extend(step.events);
                    (Some(step.record), Some(step.before), step.effects)
                }
                None => (None, None, Vec::new()),
            };
            let entries = events.into_iter().map(|event| entry(home_id, event)).collect();
            let record = Record {
                home_id: home_id.to_owned(),
                applied_ahead: true,
                entries,
                lockouts,
                uses: change.use_counted,
                user: None,
                // Planned by the recorder from the home's channels.
                notifications: Vec::new(),
                panel: panel_record,
            };
            (self.recorder.record(&state, record, at), outcome, locked_out, panel_before, panel_effects)
        };
        if let Err(e) = committed.await {
            // Memory counted this attempt; the store did not. Read the home's
            // counts back before it is used again, and the panel is as it was.
            let mut state = home.lock().await;
            state.stale = true;
            if let Some(before) = panel_before {
                state.panel = before;
            }
            return Err(e.into());
        }
        if outcome.panel.is_some() {
            self.panels.woken();
            if !panel_effects.is_empty() {
                let state = home.lock().await;
                self.panels.carry_out(&state, &panel_effects);
            }
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

//! The access use case: decide, apply the consequences, log durably, answer.

use jiff::Timestamp;
use keyward_core::{AccessTarget, Action, Decision, DenyReason, Device, Movement, decide, evaluate_user};
use keyward_store::{ActivityRow, insert_activity, new_id, save_lockout, set_user_uses};

use crate::state::{HomeState, lockout_to_row};
use crate::{AppError, Hub};

/// The device id of the alarm panel (every other device is a lock id).
pub const PANEL: &str = "panel";

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

    fn activity_kind(&self) -> &'static str {
        match self.movement {
            Some(Movement::Arrival) => "arrival",
            Some(Movement::Departure) => "departure",
            None => "access_denied",
        }
    }
}

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

impl Hub {
    /// A code typed at a device. The attempt, granted or refused, is
    /// committed to the activity log before this returns.
    pub async fn access(
        &self,
        home_id: &str,
        code: &str,
        device: &str,
        action: Action,
        at: Timestamp,
    ) -> Result<AccessOutcome, AppError> {
        let home = self.home(home_id)?;
        let pending = {
            let mut state = home.lock().await;
            let target = target(&state, device, action)?;
            let before = state.lockouts.get(device).cloned().unwrap_or_default();
            let outcome =
                AccessOutcome::of(&decide(state.zone.tz(), &state.directory(&self.vault), code, target, at, &before));

            let mut lockout = before.clone();
            let mut locked_now = false;
            match outcome.reason {
                None => lockout.record_success(),
                // Attempts during a lockout are refused and not counted again.
                Some(DenyReason::LockedOut) => {}
                // Every other refusal counts, a known code's too: otherwise the
                // lockout would tell an attacker which codes exist.
                Some(_) => locked_now = lockout.record_failure(&state.lockout_policy, at),
            }
            let lockout_row = (lockout != before).then(|| lockout_to_row(home_id, device, &lockout));
            if lockout.is_clear() {
                state.lockouts.remove(device);
            } else {
                state.lockouts.insert(device.to_owned(), lockout);
            }

            let mut uses_update = None;
            if let (true, Some((user_id, _))) = (outcome.granted, &outcome.user)
                && let Some(entry) = state.users.get_mut(user_id)
            {
                entry.user.uses = entry.user.uses.saturating_add(1);
                entry.row.uses = i64::from(entry.user.uses);
                entry.row.last_used_at = Some(at.as_microsecond());
                uses_update = Some((user_id.clone(), entry.row.uses, entry.row.last_used_at));
            }

            let mut entries = vec![ActivityRow {
                id: new_id(),
                home_id: home_id.to_owned(),
                at: at.as_microsecond(),
                kind: outcome.activity_kind().to_owned(),
                device: Some(device.to_owned()),
                action: Some(action.as_str().to_owned()),
                outcome: Some(if outcome.granted { "granted" } else { "denied" }.to_owned()),
                reason: outcome.reason.map(|r| r.as_str().to_owned()),
                user_id: outcome.user.as_ref().map(|u| u.0.clone()),
                user_name: outcome.user.as_ref().map(|u| u.1.clone()),
                duress: outcome.duress,
                actor: None,
            }];
            if locked_now {
                entries.push(ActivityRow {
                    id: new_id(),
                    kind: "lockout".to_owned(),
                    action: None,
                    outcome: None,
                    reason: None,
                    user_id: None,
                    user_name: None,
                    duress: false,
                    ..entries[0].clone()
                });
            }
            // The job hands its entries back after the commit, for live views:
            // no copy on the hot path.
            let pending = self.writer.submit(move |conn| {
                for entry in &entries {
                    insert_activity(conn, entry)?;
                }
                if let Some(row) = &lockout_row {
                    save_lockout(conn, row)?;
                }
                if let Some((user_id, uses, last_used_at)) = &uses_update {
                    set_user_uses(conn, user_id, *uses, *last_used_at)?;
                }
                Ok(entries)
            })?;
            (pending, outcome, locked_now)
        };
        let (pending, outcome, locked_now) = pending;
        self.publish(pending.committed().await?);
        if locked_now {
            tracing::warn!(home = home_id, device, "device locked out after wrong codes");
        }
        Ok(outcome)
    }

    /// The decision at instant `at`, without any consequence: nothing is
    /// logged, no use or failure is counted.
    pub async fn preview(
        &self,
        home_id: &str,
        subject: PreviewSubject<'_>,
        device: &str,
        action: Action,
        at: Timestamp,
    ) -> Result<AccessOutcome, AppError> {
        let home = self.home(home_id)?;
        let state = home.lock().await;
        let target = target(&state, device, action)?;
        let lockout = state.lockouts.get(device).cloned().unwrap_or_default();
        let directory = state.directory(&self.vault);
        let decision = match subject {
            PreviewSubject::Code(code) => decide(state.zone.tz(), &directory, code, target, at, &lockout),
            PreviewSubject::User(user_id) => {
                let entry = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
                evaluate_user(state.zone.tz(), &entry.user, target, at, &lockout)
            }
        };
        Ok(AccessOutcome::of(&decision))
    }
}

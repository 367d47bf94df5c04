//! The consequences of an access attempt, decided in one place: the entries
//! the log records, the device's new wrong-code count, and the user's use
//! count. The caller applies them to its state and writes them together, in
//! one transaction, through its one recording path.

use jiff::Timestamp;

use crate::activity::{ActivityKind, Event, Outcome, UserRef};
use crate::decide::{Action, Decision, DenyReason, Movement};
use crate::home::LockoutPolicy;
use crate::lockout::{LockoutState, Lockouts};

/// A code typed at a device, for an action, at an instant.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// A lock id, or "panel".
    pub device: &'a str,
    pub action: Action,
    pub at: Timestamp,
}

/// A user's use count after a grant, and when that grant was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseCount {
    pub user_id: String,
    pub uses: u32,
    pub last_used: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consequences {
    /// The attempt; then a lockout entry when this attempt locked the
    /// device, and a home lockout entry when it locked the whole home.
    pub events: Vec<Event>,
    /// The device's lockout state, when the attempt changed it.
    pub lockout: Option<LockoutState>,
    /// The home's lockout state, when the attempt changed it.
    pub home_lockout: Option<LockoutState>,
    /// On a grant: the user's new use count.
    pub use_counted: Option<UseCount>,
}

impl Consequences {
    /// Whether this attempt locked its device out.
    pub fn locked_out(&self) -> bool {
        self.events.iter().any(|e| e.kind == ActivityKind::Lockout)
    }

    /// Whether this attempt locked every device of the home out.
    pub fn home_locked_out(&self) -> bool {
        self.events.iter().any(|e| e.kind == ActivityKind::HomeLockout)
    }
}

/// What an attempt that was decided as `decision` changes, given the
/// device's and the home's lockout states before it.
///
/// - A grant clears the device's wrong-code count and counts a use; it does
///   not clear the home's count, so a valid code does not buy more guesses.
/// - Every refusal counts towards both lockouts, a known code's too: a
///   lockout that only unknown codes could trigger would tell an attacker
///   which codes exist. Attempts during a lockout are refused and not counted
///   again.
pub fn consequences(
    decision: &Decision<'_>,
    attempt: Attempt<'_>,
    lockouts: Lockouts<'_>,
    policy: &LockoutPolicy,
) -> Consequences {
    let mut device = lockouts.device.clone();
    let mut home = lockouts.home.clone();
    let (mut device_locked, mut home_locked) = (false, false);
    let (kind, outcome, reason, user, duress) = match decision {
        Decision::Granted(grant) => {
            device.record_success();
            let kind = match grant.movement {
                Movement::Arrival => ActivityKind::Arrival,
                Movement::Departure => ActivityKind::Departure,
            };
            (kind, Outcome::Granted, None, Some(grant.user), grant.duress)
        }
        // A valid code the panel could not act on (open sensors) proves the
        // code, like a grant: it is no guess.
        Decision::Denied { reason: DenyReason::NotReady, user, .. } => {
            device.record_success();
            (ActivityKind::AccessDenied, Outcome::Denied, Some(DenyReason::NotReady), *user, false)
        }
        Decision::Denied { reason, user, .. } => {
            if *reason != DenyReason::LockedOut {
                device_locked = device.record_failure(policy, attempt.at);
                home_locked = home.record_failure(&policy.home_wide(), attempt.at);
            }
            (ActivityKind::AccessDenied, Outcome::Denied, Some(*reason), *user, false)
        }
    };
    let entry = Event {
        at: attempt.at,
        kind,
        device: Some(attempt.device.to_owned()),
        action: Some(attempt.action),
        outcome: Some(outcome),
        reason,
        user: user.map(|u| UserRef { id: u.id.clone(), name: u.name.as_str().to_owned() }),
        duress,
        actor: None,
        detail: None,
    };
    let use_counted = match decision {
        Decision::Granted(grant) => Some(UseCount {
            user_id: grant.user.id.clone(),
            uses: grant.user.uses.saturating_add(1),
            last_used: attempt.at,
        }),
        Decision::Denied { .. } => None,
    };
    // A lockout entry names the device where the last wrong code was typed.
    let lockout_entry =
        |kind| Event { kind, action: None, outcome: None, reason: None, user: None, duress: false, ..entry.clone() };
    let device_entry = device_locked.then(|| lockout_entry(ActivityKind::Lockout));
    let home_entry = home_locked.then(|| lockout_entry(ActivityKind::HomeLockout));
    // The attempt first, then the lockouts it caused.
    let events = std::iter::once(entry).chain(device_entry).chain(home_entry).collect();
    Consequences {
        events,
        lockout: (device != *lockouts.device).then_some(device),
        home_lockout: (home != *lockouts.home).then_some(home),
        use_counted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Grant, Movement};
    use crate::name::Name;
    use crate::schedule::Schedule;
    use crate::user::{LockAccess, Notify, PanelPermissions, User, UserKind, Validity};

    fn walker() -> User {
        User {
            id: "u1".into(),
            name: Name::parse("Dog walker").expect("valid"),
            kind: UserKind::Standard,
            panel: PanelPermissions::default(),
            locks: LockAccess::All,
            schedule: Schedule::Always,
            validity: Validity::default(),
            uses: 4,
            notify: Notify::default(),
            alerts: Default::default(),
            enabled: true,
            contact: Default::default(),
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("in range")
    }

    fn attempt(second: i64) -> Attempt<'static> {
        Attempt { device: "front", action: Action::Unlock, at: at(second) }
    }

    fn refused(reason: DenyReason, user: Option<&User>) -> Decision<'_> {
        Decision::Denied { reason, user, retry_after: None }
    }

    #[test]
    fn a_grant_counts_a_use_clears_failures_and_logs_an_arrival() {
        let user = walker();
        let grant = Decision::Granted(Grant { user: &user, duress: true, movement: Movement::Arrival });
        let mut before = LockoutState::default();
        before.record_failure(&LockoutPolicy::default(), at(0));
        let c =
            consequences(&grant, attempt(5), Lockouts { device: &before, home: &before }, &LockoutPolicy::default());
        assert_eq!(c.use_counted, Some(UseCount { user_id: "u1".into(), uses: 5, last_used: at(5) }));
        assert_eq!(c.lockout, Some(LockoutState::default()), "a grant resets the count");
        assert_eq!(c.home_lockout, None, "but not the home's");
        assert_eq!(c.events.len(), 1);
        let e = &c.events[0];
        assert_eq!(
            (e.kind, e.outcome, e.reason, e.duress),
            (ActivityKind::Arrival, Some(Outcome::Granted), None, true)
        );
        assert_eq!(e.user, Some(UserRef { id: "u1".into(), name: "Dog walker".into() }));
        assert_eq!((e.device.as_deref(), e.action, e.at), (Some("front"), Some(Action::Unlock), at(5)));

        let clean = consequences(&grant, attempt(6), Lockouts::CLEAR, &LockoutPolicy::default());
        assert_eq!(clean.lockout, None, "nothing to write when the count was clear");
    }

    #[test]
    fn arming_is_logged_as_a_departure() {
        let user = walker();
        let grant = Decision::Granted(Grant { user: &user, duress: false, movement: Movement::Departure });
        let c = consequences(&grant, attempt(0), Lockouts::CLEAR, &LockoutPolicy::default());
        assert_eq!(c.events[0].kind, ActivityKind::Departure);
    }

    #[test]
    fn every_refusal_counts_and_the_third_locks_the_device() {
        let user = walker();
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        let home = LockoutState::default();
        for (second, decision) in
            [(0, refused(DenyReason::UnknownCode, None)), (1, refused(DenyReason::OutsideSchedule, Some(&user)))]
        {
            let c = consequences(&decision, attempt(second), Lockouts { device: &state, home: &home }, &policy);
            assert!(!c.locked_out());
            assert_eq!(c.use_counted, None);
            assert_eq!(c.events[0].kind, ActivityKind::AccessDenied);
            state = c.lockout.expect("a refusal changes the count");
        }
        let c = consequences(
            &refused(DenyReason::Disabled, Some(&user)),
            attempt(2),
            Lockouts { device: &state, home: &home },
            &policy,
        );
        assert!(c.locked_out());
        let kinds: Vec<_> = c.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [ActivityKind::AccessDenied, ActivityKind::Lockout]);
        assert_eq!(c.events[0].user.as_ref().map(|u| u.id.as_str()), Some("u1"), "the owner sees whose code it was");
        assert_eq!((c.events[1].user.as_ref(), c.events[1].reason), (None, None));
        assert_eq!(c.events[1].device.as_deref(), Some("front"));
        let locked = c.lockout.expect("locked");
        assert_eq!(locked.locked_until, Some(at(92)));

        // Refused during the lockout: not counted again, nothing to write.
        let during = consequences(
            &refused(DenyReason::LockedOut, None),
            attempt(3),
            Lockouts { device: &locked, home: &home },
            &policy,
        );
        assert_eq!((&during.lockout, &during.home_lockout), (&None, &None));
        assert!(!during.locked_out());
        assert_eq!(during.events[0].reason, Some(DenyReason::LockedOut));
    }

    #[test]
    fn grants_between_guesses_do_not_stop_the_home_lockout() {
        let user = walker();
        let policy = LockoutPolicy::default();
        let grant = Decision::Granted(Grant { user: &user, duress: false, movement: Movement::Arrival });
        let (mut device, mut home) = (LockoutState::default(), LockoutState::default());
        let apply = |c: Consequences, device: &mut LockoutState, home: &mut LockoutState| {
            let locked = c.home_locked_out();
            if let Some(next) = c.lockout {
                *device = next;
            }
            if let Some(next) = c.home_lockout {
                *home = next;
            }
            locked
        };
        // A wrong guess, then the valid code to reset the keypad, nine times.
        for i in 0..9 {
            let wrong = consequences(
                &refused(DenyReason::UnknownCode, None),
                attempt(i * 10),
                Lockouts { device: &device, home: &home },
                &policy,
            );
            assert!(!apply(wrong, &mut device, &mut home));
            let right = consequences(&grant, attempt(i * 10 + 1), Lockouts { device: &device, home: &home }, &policy);
            assert!(!apply(right, &mut device, &mut home));
            assert!(device.is_clear(), "the grant clears the keypad");
        }
        // The tenth wrong guess within ten minutes locks the whole home.
        let tenth = consequences(
            &refused(DenyReason::UnknownCode, None),
            attempt(95),
            Lockouts { device: &device, home: &home },
            &policy,
        );
        let kinds: Vec<_> = tenth.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [ActivityKind::AccessDenied, ActivityKind::HomeLockout]);
        assert_eq!(tenth.events[1].device.as_deref(), Some("front"), "where the last guess was typed");
        assert!(apply(tenth, &mut device, &mut home));
        assert_eq!(home.retry_after(at(95)), Some(90), "for the home's lockout time");
        assert!(Lockouts { device: &LockoutState::CLEAR, home: &home }.retry_after(at(100)).is_some());
    }
}

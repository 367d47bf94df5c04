//! The one access decision. The REST endpoint, keypads and locks all call
//! [`decide`]; there is no second path.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::lockout::Lockouts;
use crate::string_form::string_form;
use crate::user::User;

/// Finds the user whose code this is. Implementations may hold only keyed
/// digests of codes; the decision never sees another user's code.
pub trait CodeDirectory {
    fn find(&self, code: &str) -> Option<&User>;
}

/// Where a code was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device<'a> {
    Panel,
    Lock(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Unlock,
    Disarm,
    ArmAway,
    ArmStay,
    ArmNight,
}

string_form!(Action {
    Unlock => "unlock",
    Disarm => "disarm",
    ArmAway => "arm_away",
    ArmStay => "arm_stay",
    ArmNight => "arm_night",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelAction {
    Disarm,
    ArmAway,
    ArmStay,
    ArmNight,
}

/// A device and an action that make sense together: locks unlock, the
/// panel arms and disarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessTarget<'a> {
    Lock(&'a str),
    Panel(PanelAction),
}

impl<'a> AccessTarget<'a> {
    pub fn new(device: Device<'a>, action: Action) -> Option<Self> {
        match (device, action) {
            (Device::Lock(id), Action::Unlock) => Some(Self::Lock(id)),
            (Device::Panel, Action::Disarm) => Some(Self::Panel(PanelAction::Disarm)),
            (Device::Panel, Action::ArmAway) => Some(Self::Panel(PanelAction::ArmAway)),
            (Device::Panel, Action::ArmStay) => Some(Self::Panel(PanelAction::ArmStay)),
            (Device::Panel, Action::ArmNight) => Some(Self::Panel(PanelAction::ArmNight)),
            _ => None,
        }
    }

    /// Unlocking or disarming is coming home; arming is leaving.
    pub fn movement(self) -> Movement {
        match self {
            Self::Lock(_) | Self::Panel(PanelAction::Disarm) => Movement::Arrival,
            Self::Panel(PanelAction::ArmAway | PanelAction::ArmStay | PanelAction::ArmNight) => Movement::Departure,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Arrival,
    Departure,
}

/// Why a code was refused. Only the owner sees this; a device sees "no".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    LockedOut,
    UnknownCode,
    Disabled,
    NotYetValid,
    Expired,
    UsesExhausted,
    NotPermitted,
    OutsideSchedule,
    /// A valid code that may arm, refused by the panel: sensors the mode
    /// watches are open. Not a wrong code: it counts for no lockout.
    NotReady,
}

string_form!(DenyReason {
    LockedOut => "locked_out",
    UnknownCode => "unknown_code",
    Disabled => "disabled",
    NotYetValid => "not_yet_valid",
    Expired => "expired",
    UsesExhausted => "uses_exhausted",
    NotPermitted => "not_permitted",
    OutsideSchedule => "outside_schedule",
    NotReady => "not_ready",
});

#[derive(Debug, Clone, Copy)]
pub struct Grant<'u> {
    pub user: &'u User,
    pub duress: bool,
    pub movement: Movement,
}

#[derive(Debug, Clone, Copy)]
pub enum Decision<'u> {
    Granted(Grant<'u>),
    Denied {
        reason: DenyReason,
        /// The user whose code it was, when the code was known. For the
        /// owner's log only: never shown to a device.
        user: Option<&'u User>,
        /// Seconds until a locked-out device accepts codes again.
        retry_after: Option<u32>,
    },
}

impl Decision<'_> {
    pub fn is_granted(&self) -> bool {
        matches!(self, Self::Granted(_))
    }
}

/// May this code do this at this device at this instant?
///
/// Pure: the caller applies the consequences (the lockout count, the use
/// count, the activity entry) from the returned decision.
pub fn decide<'u, D: CodeDirectory + ?Sized>(
    tz: &TimeZone,
    users: &'u D,
    code: &str,
    target: AccessTarget<'_>,
    at: Timestamp,
    lockouts: Lockouts<'_>,
) -> Decision<'u> {
    if let Some(retry_after) = lockouts.retry_after(at) {
        return Decision::Denied { reason: DenyReason::LockedOut, user: None, retry_after: Some(retry_after) };
    }
    match users.find(code) {
        None => Decision::Denied { reason: DenyReason::UnknownCode, user: None, retry_after: None },
        Some(user) => evaluate_user(tz, user, target, at, lockouts),
    }
}

/// The decision for a user already identified (the owner's preview by user,
/// and the second half of [`decide`]).
pub fn evaluate_user<'u>(
    tz: &TimeZone,
    user: &'u User,
    target: AccessTarget<'_>,
    at: Timestamp,
    lockouts: Lockouts<'_>,
) -> Decision<'u> {
    if let Some(retry_after) = lockouts.retry_after(at) {
        return Decision::Denied { reason: DenyReason::LockedOut, user: Some(user), retry_after: Some(retry_after) };
    }
    let refuse = |reason| Decision::Denied { reason, user: Some(user), retry_after: None };
    if !user.enabled {
        return refuse(DenyReason::Disabled);
    }
    if user.validity.starts(tz).is_some_and(|from| at < from) {
        return refuse(DenyReason::NotYetValid);
    }
    if user.validity.ends(tz).is_some_and(|until| at >= until) {
        return refuse(DenyReason::Expired);
    }
    if user.validity.max_uses().is_some_and(|max| user.uses >= max) {
        return refuse(DenyReason::UsesExhausted);
    }
    let permitted = match target {
        AccessTarget::Lock(lock_id) => user.locks.allows(lock_id),
        AccessTarget::Panel(PanelAction::Disarm) => user.panel.disarm,
        AccessTarget::Panel(PanelAction::ArmAway | PanelAction::ArmStay | PanelAction::ArmNight) => user.panel.arm,
    };
    if !permitted {
        return refuse(DenyReason::NotPermitted);
    }
    if !user.schedule.is_open(tz.to_datetime(at)) {
        return refuse(DenyReason::OutsideSchedule);
    }
    Decision::Granted(Grant { user, duress: user.kind == crate::user::UserKind::Duress, movement: target.movement() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::LockoutPolicy;
    use crate::lockout::LockoutState;
    use crate::name::Name;
    use crate::schedule::{Schedule, ScheduleSpec, WindowSpec};
    use crate::user::{LockAccess, Notify, PanelPermissions, UserKind, Validity};
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Directory(HashMap<String, User>);

    impl CodeDirectory for Directory {
        fn find(&self, code: &str) -> Option<&User> {
            self.0.get(code)
        }
    }

    fn dog_walker() -> User {
        let spec =
            ScheduleSpec::windows(vec![WindowSpec::weekly(&["mon", "tue", "wed", "thu", "fri"], "11:00", "14:00")]);
        User {
            id: "u1".into(),
            name: Name::parse("Dog walker").expect("valid"),
            kind: UserKind::Standard,
            panel: PanelPermissions { arm: false, disarm: true },
            locks: LockAccess::Only(vec!["front".into()]),
            schedule: Schedule::parse(&spec).expect("valid"),
            validity: Validity::default(),
            uses: 0,
            notify: Notify { arrive: true, leave: true },
            alerts: Default::default(),
            enabled: true,
            contact: Default::default(),
        }
    }

    fn directory(users: Vec<(&str, User)>) -> Directory {
        Directory(users.into_iter().map(|(c, u)| (c.to_owned(), u)).collect())
    }

    fn t(s: &str) -> Timestamp {
        s.parse().expect("valid instant")
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("known")
    }

    // Thursday 26 Nov 2026, 12:00 in Berlin.
    const THURSDAY_NOON: &str = "2026-11-26T11:00:00Z";

    fn reason(d: Decision<'_>) -> Option<DenyReason> {
        match d {
            Decision::Granted(_) => None,
            Decision::Denied { reason, .. } => Some(reason),
        }
    }

    #[test]
    fn the_dog_walker_story() {
        let dir = directory(vec![("4719", dog_walker())]);
        let clear = Lockouts::CLEAR;
        let front = AccessTarget::Lock("front");
        let at = t(THURSDAY_NOON);
        match decide(&berlin(), &dir, "4719", front, at, clear) {
            Decision::Granted(g) => {
                assert_eq!(g.user.id, "u1");
                assert!(!g.duress);
                assert_eq!(g.movement, Movement::Arrival);
            }
            other => panic!("expected a grant, got {other:?}"),
        }
        let disarm = AccessTarget::Panel(PanelAction::Disarm);
        assert!(decide(&berlin(), &dir, "4719", disarm, at, clear).is_granted());
        let arm = AccessTarget::Panel(PanelAction::ArmAway);
        assert_eq!(reason(decide(&berlin(), &dir, "4719", arm, at, clear)), Some(DenyReason::NotPermitted));
        let back = AccessTarget::Lock("back");
        assert_eq!(reason(decide(&berlin(), &dir, "4719", back, at, clear)), Some(DenyReason::NotPermitted));
        assert_eq!(reason(decide(&berlin(), &dir, "4710", front, at, clear)), Some(DenyReason::UnknownCode));
        let evening = t("2026-11-26T17:00:00Z");
        assert_eq!(reason(decide(&berlin(), &dir, "4719", front, evening, clear)), Some(DenyReason::OutsideSchedule));
    }

    #[test]
    fn every_reason_in_order() {
        let at = t(THURSDAY_NOON);
        let front = AccessTarget::Lock("front");
        let clear = Lockouts::CLEAR;
        let check = |user: User, lockout: Lockouts<'_>| {
            let dir = directory(vec![("4719", user)]);
            reason(decide(&berlin(), &dir, "4719", front, at, lockout))
        };
        let mut disabled = dog_walker();
        disabled.enabled = false;
        assert_eq!(check(disabled, clear), Some(DenyReason::Disabled));

        let mut later = dog_walker();
        later.validity =
            Validity::new(Some(at.checked_add(jiff::SignedDuration::from_secs(1)).expect("ok")), None, None)
                .expect("valid");
        assert_eq!(check(later, clear), Some(DenyReason::NotYetValid));

        let mut from_now = dog_walker();
        from_now.validity =
            Validity::new(Some(at), Some(at.checked_add(jiff::SignedDuration::from_secs(1)).expect("ok")), None)
                .expect("valid");
        assert_eq!(check(from_now, clear), None, "valid_from is inclusive");

        let mut expired = dog_walker();
        expired.validity = Validity::new(None, Some(at), None).expect("valid");
        assert_eq!(check(expired, clear), Some(DenyReason::Expired), "valid_until is exclusive");

        let mut used = dog_walker();
        used.validity = Validity::new(None, None, Some(2)).expect("valid");
        used.uses = 2;
        assert_eq!(check(used.clone(), clear), Some(DenyReason::UsesExhausted));
        used.uses = 1;
        assert_eq!(check(used, clear), None);

        let mut locked = LockoutState::default();
        for second in 0..3 {
            locked.record_failure(
                &LockoutPolicy::default(),
                at.checked_add(jiff::SignedDuration::from_secs(second - 10)).expect("ok"),
            );
        }
        let device_locked = Lockouts { device: &locked, home: &LockoutState::CLEAR };
        assert_eq!(check(dog_walker(), device_locked), Some(DenyReason::LockedOut), "even the right code");
        let home_locked = Lockouts { device: &LockoutState::CLEAR, home: &locked };
        assert_eq!(
            check(dog_walker(), home_locked),
            Some(DenyReason::LockedOut),
            "the home's lockout holds everywhere"
        );
    }

    #[test]
    fn duress_grants_like_a_normal_code() {
        let mut user = dog_walker();
        user.kind = UserKind::Duress;
        let dir = directory(vec![("4719", user)]);
        match decide(&berlin(), &dir, "4719", AccessTarget::Lock("front"), t(THURSDAY_NOON), Lockouts::CLEAR) {
            Decision::Granted(g) => assert!(g.duress),
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    #[test]
    fn arming_is_a_departure() {
        let mut user = dog_walker();
        user.panel.arm = true;
        let dir = directory(vec![("4719", user)]);
        for action in [PanelAction::ArmAway, PanelAction::ArmStay] {
            match decide(&berlin(), &dir, "4719", AccessTarget::Panel(action), t(THURSDAY_NOON), Lockouts::CLEAR) {
                Decision::Granted(g) => assert_eq!(g.movement, Movement::Departure),
                other => panic!("expected a grant, got {other:?}"),
            }
        }
    }

    #[test]
    fn devices_and_actions_must_fit() {
        assert_eq!(AccessTarget::new(Device::Lock("x"), Action::Disarm), None);
        assert_eq!(AccessTarget::new(Device::Panel, Action::Unlock), None);
        assert!(AccessTarget::new(Device::Panel, Action::ArmStay).is_some());
        for reason in DenyReason::ALL {
            assert_eq!(DenyReason::parse(reason.as_str()), Some(*reason));
        }
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(*action));
        }
    }

    proptest! {
        #[test]
        fn an_unknown_code_is_never_granted(code in "[0-9]{0,10}", second in 0i64..10_000_000) {
            prop_assume!(code != "4719");
            let mut user = dog_walker();
            user.schedule = Schedule::Always;
            user.locks = LockAccess::All;
            let dir = directory(vec![("4719", user)]);
            let at = Timestamp::from_second(1_790_000_000 + second).expect("in range");
            let d = decide(&berlin(), &dir, &code, AccessTarget::Lock("front"), at, Lockouts::CLEAR);
            prop_assert_eq!(reason(d), Some(DenyReason::UnknownCode));
        }
    }
}

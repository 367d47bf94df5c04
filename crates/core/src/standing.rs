//! Where a user stands at an instant, as the owner asks it: "can they get
//! in now, and if not, why not or when?"

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::user::{LockAccess, PanelPermissions, User};

/// A user's standing at an instant, most telling first: a disabled user is
/// "disabled" even when also expired, an expired one "expired" even when
/// their code opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Disabled,
    /// No lock and no panel right: the code opens nothing, at any time.
    NoAccess,
    Expired,
    NoUsesLeft,
    /// The stay has not begun: it begins then.
    Starts(Timestamp),
    /// The code works now (for whatever it may open).
    CanEnterNow,
    /// Outside their hours; the next opening is then.
    Next(Timestamp),
    /// Outside their hours, and no opening comes before the stay ends.
    OutsideHours,
}

/// How far ahead an opening is named; beyond it, "outside hours" says enough.
const NEXT_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

pub fn standing(user: &User, tz: &TimeZone, now: Timestamp) -> Standing {
    let ends = user.validity.ends(tz);
    if !user.enabled {
        return Standing::Disabled;
    }
    if ends.is_some_and(|end| now >= end) {
        return Standing::Expired;
    }
    if user.validity.max_uses().is_some_and(|max| user.uses >= max) {
        return Standing::NoUsesLeft;
    }
    if let Some(start) = user.validity.starts(tz).filter(|start| now < *start) {
        return Standing::Starts(start);
    }
    if user.locks == LockAccess::Only(Vec::new()) && user.panel == PanelPermissions::default() {
        return Standing::NoAccess;
    }
    if user.schedule.is_open_at(tz, now) {
        return Standing::CanEnterNow;
    }
    match user.schedule.next_change(tz, now) {
        Some(opens)
            if ends.is_none_or(|end| opens < end)
                && now.checked_add(NEXT_WITHIN).is_ok_and(|horizon| opens <= horizon) =>
        {
            Standing::Next(opens)
        }
        _ => Standing::OutsideHours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Name;
    use crate::schedule::{Schedule, ScheduleSpec, WindowSpec};
    use crate::user::{Bound, LockAccess, Notify, PanelPermissions, UserKind, Validity};

    fn walker(schedule: Schedule, validity: Validity) -> User {
        User {
            id: "u1".into(),
            name: Name::parse("Dog walker").expect("name"),
            kind: UserKind::Standard,
            panel: PanelPermissions::default(),
            locks: LockAccess::All,
            schedule,
            validity,
            uses: 0,
            notify: Notify::default(),
            alerts: crate::notify::AlertRules::default(),
            enabled: true,
            contact: crate::contact::Contact::default(),
        }
    }

    fn weekdays_11_to_14() -> Schedule {
        let window = WindowSpec::weekly(&["mon", "tue", "wed", "thu", "fri"], "11:00", "14:00");
        Schedule::parse(&ScheduleSpec::windows(vec![window])).expect("schedule")
    }

    #[test]
    fn each_standing_to_the_second() {
        let tz = TimeZone::get("Europe/Berlin").expect("zone");
        let at = |s: &str| s.parse::<Timestamp>().expect("instant");
        let user = walker(weekdays_11_to_14(), Validity::default());
        // Thursday 2026-11-26, Berlin is UTC+1.
        assert_eq!(standing(&user, &tz, at("2026-11-26T10:00:00Z")), Standing::CanEnterNow);
        assert_eq!(standing(&user, &tz, at("2026-11-26T12:59:59Z")), Standing::CanEnterNow);
        assert_eq!(standing(&user, &tz, at("2026-11-26T13:00:00Z")), Standing::Next(at("2026-11-27T10:00:00Z")));
        // Friday after hours: next Monday.
        assert_eq!(standing(&user, &tz, at("2026-11-27T14:00:00Z")), Standing::Next(at("2026-11-30T10:00:00Z")));

        let day = |s: &str| Some(Bound::Day(s.parse().expect("date")));
        let stay = Validity::with_bounds(day("2026-12-20"), day("2026-12-24"), Some(2), &tz).expect("valid");
        let mut guest = walker(Schedule::Always, stay);
        assert_eq!(standing(&guest, &tz, at("2026-11-26T10:00:00Z")), Standing::Starts(at("2026-12-19T23:00:00Z")));
        assert_eq!(standing(&guest, &tz, at("2026-12-19T23:00:00Z")), Standing::CanEnterNow);
        assert_eq!(standing(&guest, &tz, at("2026-12-24T22:59:59Z")), Standing::CanEnterNow);
        assert_eq!(standing(&guest, &tz, at("2026-12-24T23:00:00Z")), Standing::Expired);
        guest.uses = 2;
        assert_eq!(standing(&guest, &tz, at("2026-12-21T10:00:00Z")), Standing::NoUsesLeft);
        guest.enabled = false;
        assert_eq!(standing(&guest, &tz, at("2026-12-21T10:00:00Z")), Standing::Disabled);

        // Hours that never open again before the stay ends.
        let last = Validity::with_bounds(None, day("2026-11-26"), None, &tz).expect("valid");
        let late = walker(weekdays_11_to_14(), last);
        assert_eq!(standing(&late, &tz, at("2026-11-26T15:00:00Z")), Standing::OutsideHours);

        // A code that opens nothing is never "can enter", at any hour.
        let mut nobody = walker(Schedule::Always, Validity::default());
        nobody.locks = LockAccess::Only(Vec::new());
        assert_eq!(standing(&nobody, &tz, at("2026-11-26T10:00:00Z")), Standing::NoAccess);
        nobody.panel.disarm = true;
        assert_eq!(standing(&nobody, &tz, at("2026-11-26T10:00:00Z")), Standing::CanEnterNow);
    }
}

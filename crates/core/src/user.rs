//! A person (or a role) who may use a code.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::name::Name;
use crate::schedule::Schedule;
use crate::string_form::string_form;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Standard,
    /// Grants access like a standard code, but tells the hub that the user
    /// is being coerced. Looks exactly like a normal grant to the device.
    Duress,
}

string_form!(UserKind {
    Standard => "standard",
    Duress => "duress",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PanelPermissions {
    pub arm: bool,
    pub disarm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAccess {
    All,
    Only(Vec<String>),
}

impl LockAccess {
    pub fn allows(&self, lock_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.iter().any(|id| id == lock_id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub arrive: bool,
    pub leave: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    #[error("valid_until must be later than valid_from")]
    Empty,
    #[error("valid_from and valid_until must lie in the years 2000 to 2199")]
    OutOfRange,
    #[error("max_uses must be at least 1, or null for no limit")]
    MaxUses,
}

/// One end of a stay: an instant (as the API may give it), or a calendar
/// day in the home's time zone (as the owner's form gives it). A day stays
/// that day whatever the home's zone becomes later; an instant stays that
/// instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    At(Timestamp),
    Day(Date),
}

impl Bound {
    /// The instant a stay starting at this bound begins: a day begins at its
    /// first instant in `tz` (midnight, or the end of a DST gap over it).
    pub fn start(self, tz: &TimeZone) -> Timestamp {
        match self {
            Self::At(t) => t,
            Self::Day(day) => day_start(day, tz),
        }
    }

    /// The instant a stay ending at this bound ends (exclusive): a last day
    /// ends where the next day begins in `tz`.
    pub fn end(self, tz: &TimeZone) -> Timestamp {
        match self {
            Self::At(t) => t,
            Self::Day(day) => day.tomorrow().map_or(Validity::LATEST, |next| day_start(next, tz)),
        }
    }

    /// The instant, when the bound is one.
    pub fn instant(self) -> Option<Timestamp> {
        match self {
            Self::At(t) => Some(t),
            Self::Day(_) => None,
        }
    }

    /// The day, when the bound is one.
    pub fn day(self) -> Option<Date> {
        match self {
            Self::Day(d) => Some(d),
            Self::At(_) => None,
        }
    }

    fn in_range(self) -> bool {
        match self {
            Self::At(t) => (Validity::EARLIEST..Validity::LATEST).contains(&t),
            Self::Day(day) => crate::instant::day_in_range(day),
        }
    }
}

fn day_start(day: Date, tz: &TimeZone) -> Timestamp {
    // Midnight in a DST gap is read as the instant the gap ends (jiff's
    // "compatible" rule). A date of the years 2000 to 2199 always has a start
    // in any zone; the fallback only keeps this total.
    day.to_zoned_datetime(tz.clone()).map_or(Validity::LATEST, |z| z.timestamp())
}

/// From when until when a code works (from inclusive, until exclusive), and
/// how many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validity {
    from: Option<Bound>,
    until: Option<Bound>,
    max_uses: Option<u32>,
}

impl Validity {
    /// 1999-12-31T00:00:00Z: no bound before it. Bounds are dates of the
    /// years 2000 to 2199 as written, in any offset (the API's instants,
    /// `crate::instant`), so a day's slack lies on either side in UTC.
    pub const EARLIEST: Timestamp = Timestamp::constant(946_598_400, 0);
    /// 2200-01-02T00:00:00Z: no bound at or after it.
    pub const LATEST: Timestamp = Timestamp::constant(7_258_204_800, 0);

    /// A stay between two instants.
    pub fn new(
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        max_uses: Option<i64>,
    ) -> Result<Self, ValidityError> {
        Self::with_bounds(from.map(Bound::At), until.map(Bound::At), max_uses, &TimeZone::UTC)
    }

    /// A stay between two bounds, each an instant or a day; `tz` is the
    /// home's zone now, to check that the stay is not empty. (Days against
    /// days need no zone: the last day may be the first.)
    pub fn with_bounds(
        from: Option<Bound>,
        until: Option<Bound>,
        max_uses: Option<i64>,
        tz: &TimeZone,
    ) -> Result<Self, ValidityError> {
        // A bound far outside any real stay is a mistake, and storage has
        // limits: refused rather than read back as something else.
        if [from, until].into_iter().flatten().any(|b| !b.in_range()) {
            return Err(ValidityError::OutOfRange);
        }
        if let (Some(from), Some(until)) = (from, until)
            && until.end(tz) <= from.start(tz)
        {
            return Err(ValidityError::Empty);
        }
        let max_uses = match max_uses {
            None => None,
            Some(n) => Some(u32::try_from(n).ok().filter(|n| *n >= 1).ok_or(ValidityError::MaxUses)?),
        };
        Ok(Self { from, until, max_uses })
    }

    /// Wraps bounds that were valid when they were stored: the range rule came
    /// later, and a stored far-future start must keep the code not yet valid
    /// (never fail open), not stop the hub from loading.
    pub fn from_stored(from: Option<Bound>, until: Option<Bound>, max_uses: Option<u32>) -> Self {
        Self { from, until, max_uses }
    }

    pub fn from(&self) -> Option<Bound> {
        self.from
    }

    pub fn until(&self) -> Option<Bound> {
        self.until
    }

    /// The first instant the code works, in the home's zone `tz`.
    pub fn starts(&self, tz: &TimeZone) -> Option<Timestamp> {
        self.from.map(|b| b.start(tz))
    }

    /// The instant the code stops working (exclusive), in the home's zone `tz`.
    pub fn ends(&self, tz: &TimeZone) -> Option<Timestamp> {
        self.until.map(|b| b.end(tz))
    }

    pub fn max_uses(&self) -> Option<u32> {
        self.max_uses
    }
}

/// A user as the decision sees it. The code is not here: a user is found by
/// its code through a [`crate::CodeDirectory`], which may hold only keyed
/// digests of the codes.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: Name,
    pub kind: UserKind,
    pub panel: PanelPermissions,
    pub locks: LockAccess,
    pub schedule: Schedule,
    pub validity: Validity,
    pub uses: u32,
    pub notify: Notify,
    /// Where and when the owner hears of this user (channels, hours, no-show).
    pub alerts: crate::notify::AlertRules,
    pub enabled: bool,
    /// How the owner reaches them, to share their access.
    pub contact: crate::contact::Contact,
}

impl User {
    /// The fields an owner's change touched, by their API names, for the
    /// audit entry ("name, schedule, code"); never a value.
    pub fn changed_fields(&self, before: &User, code_changed: bool) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut note = |differs: bool, field: &'static str| {
            if differs {
                changed.push(field);
            }
        };
        note(self.name != before.name, "name");
        note(self.kind != before.kind, "kind");
        note(self.panel != before.panel, "panel");
        note(self.locks != before.locks, "locks");
        note(self.schedule != before.schedule, "schedule");
        note(self.validity.from() != before.validity.from(), "valid_from");
        note(self.validity.until() != before.validity.until(), "valid_until");
        note(self.validity.max_uses() != before.validity.max_uses(), "max_uses");
        note(self.notify != before.notify || self.alerts != before.alerts, "notify");
        note(self.enabled != before.enabled, "enabled");
        note(self.contact != before.contact, "contact");
        note(code_changed, "code");
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_names_its_fields_and_never_a_value() {
        let before = User {
            id: "u1".into(),
            name: Name::parse("Dog walker").expect("name"),
            kind: UserKind::Standard,
            panel: PanelPermissions::default(),
            locks: LockAccess::All,
            schedule: Schedule::Always,
            validity: Validity::default(),
            uses: 0,
            notify: Notify::default(),
            alerts: crate::notify::AlertRules::default(),
            enabled: true,
            contact: crate::contact::Contact::default(),
        };
        assert!(before.changed_fields(&before, false).is_empty());
        let mut after = before.clone();
        after.name = Name::parse("Walker").expect("name");
        after.locks = LockAccess::Only(vec!["front".into()]);
        after.validity = Validity::new(None, None, Some(3)).expect("validity");
        after.enabled = false;
        assert_eq!(after.changed_fields(&before, true), ["name", "locks", "max_uses", "enabled", "code"]);
    }

    #[test]
    fn validity_rules() {
        let t = |s: &str| s.parse::<Timestamp>().ok();
        assert!(Validity::new(t("2026-12-05T00:00:00Z"), t("2026-12-12T00:00:00Z"), Some(3)).is_ok());
        assert_eq!(
            Validity::new(t("2026-12-05T00:00:00Z"), t("2026-12-05T00:00:00Z"), None),
            Err(ValidityError::Empty)
        );
        assert_eq!(Validity::new(None, None, Some(0)), Err(ValidityError::MaxUses));
        assert_eq!(Validity::new(None, None, Some(-1)), Err(ValidityError::MaxUses));
        assert_eq!(Validity::new(None, None, Some(1 << 40)), Err(ValidityError::MaxUses));
        assert!(Validity::new(None, None, None).is_ok());
    }

    #[test]
    fn days_are_days_in_the_zone_of_the_moment() {
        let day = |s: &str| Some(Bound::Day(s.parse::<Date>().expect("date")));
        let stay = Validity::with_bounds(day("2026-11-26"), day("2026-12-09"), None, &TimeZone::UTC).expect("valid");
        let new_york = TimeZone::get("America/New_York").expect("zone");
        let at = |s: &str| s.parse::<Timestamp>().ok();
        assert_eq!(stay.starts(&TimeZone::UTC), at("2026-11-26T00:00:00Z"));
        assert_eq!(stay.ends(&TimeZone::UTC), at("2026-12-10T00:00:00Z"));
        // The same days after the owner sets the home's zone: New York's midnights.
        assert_eq!(stay.starts(&new_york), at("2026-11-26T05:00:00Z"));
        assert_eq!(stay.ends(&new_york), at("2026-12-10T05:00:00Z"));
        // One day is a stay of that day; a last day before the first is empty.
        assert!(Validity::with_bounds(day("2026-11-26"), day("2026-11-26"), None, &new_york).is_ok());
        assert_eq!(
            Validity::with_bounds(day("2026-11-26"), day("2026-11-25"), None, &new_york),
            Err(ValidityError::Empty)
        );
        assert_eq!(Validity::with_bounds(day("2200-01-01"), None, None, &new_york), Err(ValidityError::OutOfRange));
        // A day that begins in a DST gap begins where the gap ends
        // (Havana springs from 00:00 to 01:00 on 2026-03-08).
        let havana = TimeZone::get("America/Havana").expect("zone");
        let spring = Validity::with_bounds(day("2026-03-08"), None, None, &havana).expect("valid");
        assert_eq!(spring.starts(&havana), at("2026-03-08T05:00:00Z"));
    }

    #[test]
    fn bounds_lie_between_2000_and_2200() {
        let t = |s: &str| s.parse::<Timestamp>().ok();
        assert_eq!(Validity::EARLIEST, "1999-12-31T00:00:00Z".parse::<Timestamp>().expect("instant"));
        assert_eq!(Validity::LATEST, "2200-01-02T00:00:00Z".parse::<Timestamp>().expect("instant"));
        assert!(Validity::new(t("2000-01-01T00:00:00+14:00"), t("2199-12-31T23:59:59-12:00"), None).is_ok());
        for (from, until) in [
            (t("1999-12-30T23:59:59Z"), None),
            (None, t("2200-01-02T00:00:00Z")),
            (t("9999-12-30T00:00:00Z"), None),
            (None, t("1970-01-01T00:00:00Z")),
        ] {
            assert_eq!(Validity::new(from, until, None), Err(ValidityError::OutOfRange));
        }
    }
}

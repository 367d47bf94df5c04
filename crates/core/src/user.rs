//! A person (or a role) who may use a code.

use jiff::Timestamp;

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

/// From when until when a code works (from inclusive, until exclusive), and
/// how many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validity {
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    max_uses: Option<u32>,
}

impl Validity {
    /// 1999-12-31T00:00:00Z: no bound before it. Bounds are dates of the
    /// years 2000 to 2199 as written, in any offset (the API's instants,
    /// `crate::instant`), so a day's slack lies on either side in UTC.
    pub const EARLIEST: Timestamp = Timestamp::constant(946_598_400, 0);
    /// 2200-01-02T00:00:00Z: no bound at or after it.
    pub const LATEST: Timestamp = Timestamp::constant(7_258_204_800, 0);

    pub fn new(
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        max_uses: Option<i64>,
    ) -> Result<Self, ValidityError> {
        // A bound far outside any real stay is a mistake, and storage has
        // limits: refused rather than read back as something else.
        if [from, until].into_iter().flatten().any(|t| t < Self::EARLIEST || t >= Self::LATEST) {
            return Err(ValidityError::OutOfRange);
        }
        if let (Some(from), Some(until)) = (from, until)
            && until <= from
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
    pub fn from_stored(from: Option<Timestamp>, until: Option<Timestamp>, max_uses: Option<u32>) -> Self {
        Self { from, until, max_uses }
    }

    pub fn from(&self) -> Option<Timestamp> {
        self.from
    }

    pub fn until(&self) -> Option<Timestamp> {
        self.until
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

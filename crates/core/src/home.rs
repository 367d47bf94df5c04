//! Per-home settings: the time zone and the lockout policy.
//! (The code policy lives with the code rules in `code`.)

use std::fmt;

use jiff::tz::TimeZone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a known IANA time zone name (for example Europe/Berlin or America/New_York)")]
pub struct TimeZoneError;

/// An IANA time zone, known to the bundled time zone database.
#[derive(Clone)]
pub struct ZoneName {
    name: String,
    tz: TimeZone,
}

impl ZoneName {
    pub fn parse(name: &str) -> Result<Self, TimeZoneError> {
        // Only IANA names: fixed offsets and POSIX TZ strings are not time zones
        // a home lives in, and they would silently ignore DST.
        if name.is_empty() || name.len() > 64 || name.starts_with(['+', '-']) {
            return Err(TimeZoneError);
        }
        let tz = TimeZone::get(name).map_err(|_| TimeZoneError)?;
        // Exactly as the database spells it: one name, one zone, as listed
        // by [`ZoneName::all`] (the lookup itself ignores case).
        if tz.iana_name() != Some(name) {
            return Err(TimeZoneError);
        }
        Ok(Self { name: name.to_owned(), tz })
    }

    /// Every name [`ZoneName::parse`] takes, sorted.
    pub fn all() -> Vec<String> {
        let mut names: Vec<String> =
            jiff::tz::db().available().map(|n| n.to_string()).filter(|n| Self::parse(n).is_ok()).collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn utc() -> Self {
        Self { name: "UTC".to_owned(), tz: TimeZone::UTC }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl fmt::Debug for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq for ZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("code lengths are 4 to 8")]
    CodeLengths,
    /// In range, but the shortest is longer than the longest.
    #[error("min_length must not be greater than max_length")]
    CodeLengthOrder,
    #[error("max_attempts must be 1 to 255")]
    MaxAttempts,
    #[error("window_seconds must be 1 to 86400")]
    Window,
    #[error("lockout_seconds must be 1 to 255")]
    LockoutSeconds,
}

/// Wrong-code lockout, per device. Defaults follow EN 50131 Grade 2 practice
/// (3 wrong codes within 5 minutes lock that keypad for 90 s); the ranges are
/// those of the Matter Door Lock cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    max_attempts: u8,
    window_seconds: u32,
    lockout_seconds: u8,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, window_seconds: 300, lockout_seconds: 90 }
    }
}

impl LockoutPolicy {
    pub fn new(max_attempts: i64, window_seconds: i64, lockout_seconds: i64) -> Result<Self, PolicyError> {
        let max_attempts = u8::try_from(max_attempts).ok().filter(|n| *n >= 1).ok_or(PolicyError::MaxAttempts)?;
        let window_seconds =
            u32::try_from(window_seconds).ok().filter(|n| (1..=86_400).contains(n)).ok_or(PolicyError::Window)?;
        let lockout_seconds =
            u8::try_from(lockout_seconds).ok().filter(|n| *n >= 1).ok_or(PolicyError::LockoutSeconds)?;
        Ok(Self { max_attempts, window_seconds, lockout_seconds })
    }

    pub fn max_attempts(&self) -> u8 {
        self.max_attempts
    }

    pub fn window_seconds(&self) -> u32 {
        self.window_seconds
    }

    pub fn lockout_seconds(&self) -> u8 {
        self.lockout_seconds
    }

    /// The limit on wrong codes across every device of the home, which a
    /// grant does not reset: [`HOME_MAX_FAILURES`] within
    /// [`HOME_WINDOW_SECONDS`] (or the device limits, when larger) lock
    /// every device for this policy's lockout time. Without it, whoever
    /// holds one valid code could reset a keypad's count between guesses,
    /// and a device token could spread guesses over every lock.
    pub fn home_wide(&self) -> Self {
        Self {
            max_attempts: self.max_attempts.max(HOME_MAX_FAILURES),
            window_seconds: self.window_seconds.max(HOME_WINDOW_SECONDS),
            lockout_seconds: self.lockout_seconds,
        }
    }
}

/// Wrong codes across a home that lock all its devices…
pub const HOME_MAX_FAILURES: u8 = 10;
/// …within this many seconds.
pub const HOME_WINDOW_SECONDS: u32 = 600;

//! How often an owner's password may be tried.
//!
//! Failed sign-ins are counted under throttling keys (an account, a client
//! address, a known browser). The first few failures are free; after them each
//! further attempt must wait 1 s, then 2, 4, … up to 15 minutes. A key whose
//! last failure is a day old is forgotten, so the table does not grow without
//! bound and an old mistake does not weigh forever.

use jiff::{SignedDuration, Timestamp};

/// Failures allowed under one key before attempts must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts.
pub const MAX_DELAY: SignedDuration = SignedDuration::from_mins(15);
/// A key whose last failure is this old counts as no failures.
pub const FORGET_AFTER: SignedDuration = SignedDuration::from_hours(24);

/// The failed sign-ins counted under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInFailures {
    pub failures: u32,
    pub last_failure: Timestamp,
}

impl SignInFailures {
    /// Whole seconds before the next attempt may be verified, judged at `now`.
    pub fn wait_seconds(self, now: Timestamp) -> Option<u32> {
        if self.failures < FREE_FAILURES || self.is_forgotten(now) {
            return None;
        }
        let delay = (1i64 << (self.failures - FREE_FAILURES).min(20)).min(MAX_DELAY.as_secs());
        // A clock that stepped back counts as no time passed.
        let elapsed = now.duration_since(self.last_failure).as_secs().max(0);
        (elapsed < delay).then(|| u32::try_from(delay - elapsed).unwrap_or(u32::MAX))
    }

    /// True once the last failure is [`FORGET_AFTER`] old.
    pub fn is_forgotten(self, now: Timestamp) -> bool {
        now.duration_since(self.last_failure) >= FORGET_AFTER
    }
}

/// Failures last counted at or before this instant are forgotten at `now`.
pub fn forgotten_before(now: Timestamp) -> Timestamp {
    now.checked_sub(FORGET_AFTER).unwrap_or(Timestamp::MIN)
}

/// The longest wait among the keys' failures (`None`: an attempt may be made).
pub fn wait_seconds(failures: impl IntoIterator<Item = SignInFailures>, now: Timestamp) -> Option<u32> {
    failures.into_iter().filter_map(|f| f.wait_seconds(now)).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("in range")
    }

    #[test]
    fn waits_grow_after_five_failures() {
        let f = |failures| SignInFailures { failures, last_failure: at(0) };
        assert_eq!(f(4).wait_seconds(at(0)), None);
        assert_eq!(f(5).wait_seconds(at(0)), Some(1));
        assert_eq!(f(5).wait_seconds(at(1)), None);
        assert_eq!(f(6).wait_seconds(at(0)), Some(2));
        assert_eq!(f(8).wait_seconds(at(3)), Some(5));
        assert_eq!(f(40).wait_seconds(at(0)), Some(900), "capped at 15 minutes");
        assert_eq!(f(6).wait_seconds(at(-10)), Some(2), "a clock that stepped back waits the whole delay");
        assert_eq!(wait_seconds([f(6), f(8)], at(0)), Some(8), "the longest wait wins");
        assert_eq!(wait_seconds([f(1), f(2)], at(0)), None);
    }

    #[test]
    fn failures_are_forgotten_after_a_day() {
        let f = SignInFailures { failures: 40, last_failure: at(0) };
        let day = FORGET_AFTER.as_secs();
        assert!(!f.is_forgotten(at(day - 1)));
        assert!(f.is_forgotten(at(day)));
        assert_eq!(f.wait_seconds(at(day)), None);
        assert_eq!(forgotten_before(at(day)), at(0));
    }
}

//! Wrong-code lockout of one device.

use jiff::{SignedDuration, Timestamp};

use crate::home::LockoutPolicy;

/// The failures a device has seen within the policy's window, and whether it
/// is locked. The caller keeps one per device and persists it after every
/// change, so a lockout survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockoutState {
    pub failures: Vec<Timestamp>,
    pub locked_until: Option<Timestamp>,
}

impl LockoutState {
    /// No failures, not locked.
    pub const CLEAR: Self = Self { failures: Vec::new(), locked_until: None };

    /// Whole seconds until the device accepts codes again, if it is locked.
    pub fn retry_after(&self, at: Timestamp) -> Option<u32> {
        let until = self.locked_until?;
        if at >= until {
            return None;
        }
        let remaining = until.duration_since(at).as_secs_f64().ceil();
        // Lockouts last at most 255 s.
        Some(remaining.clamp(1.0, 255.0) as u32)
    }

    /// Counts a refused attempt; returns true when it locks the device.
    pub fn record_failure(&mut self, policy: &LockoutPolicy, at: Timestamp) -> bool {
        if self.retry_after(at).is_some() {
            // Attempts during a lockout are refused without extending it, so a
            // keypad always comes back after `lockout_seconds`.
            return false;
        }
        self.locked_until = None;
        let window = SignedDuration::from_secs(i64::from(policy.window_seconds()));
        self.failures.retain(|t| *t <= at && at.duration_since(*t) < window);
        self.failures.push(at);
        if self.failures.len() >= usize::from(policy.max_attempts()) {
            self.failures.clear();
            self.locked_until = at.checked_add(SignedDuration::from_secs(i64::from(policy.lockout_seconds()))).ok();
            return true;
        }
        false
    }

    /// A grant resets the device's count.
    pub fn record_success(&mut self) {
        self.failures.clear();
        self.locked_until = None;
    }

    pub fn is_clear(&self) -> bool {
        self.failures.is_empty() && self.locked_until.is_none()
    }
}

/// The counts an attempt is judged by: its device's own, and the home's as
/// a whole (see `LockoutPolicy::home_wide`).
#[derive(Debug, Clone, Copy)]
pub struct Lockouts<'a> {
    pub device: &'a LockoutState,
    pub home: &'a LockoutState,
}

impl Lockouts<'_> {
    pub const CLEAR: Lockouts<'static> = Lockouts { device: &LockoutState::CLEAR, home: &LockoutState::CLEAR };

    /// Whole seconds until the device accepts codes again: the later of its
    /// own lockout and the home's.
    pub fn retry_after(&self, at: Timestamp) -> Option<u32> {
        self.device.retry_after(at).max(self.home.retry_after(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("in range")
    }

    #[test]
    fn three_failures_within_the_window_lock_for_90_seconds() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        assert!(!state.record_failure(&policy, at(0)));
        assert!(!state.record_failure(&policy, at(100)));
        assert!(state.record_failure(&policy, at(299)));
        assert_eq!(state.retry_after(at(299)), Some(90));
        assert_eq!(state.retry_after(at(388)), Some(1));
        assert_eq!(state.retry_after(at(389)), None);
        // Attempts during the lockout do not extend it.
        assert!(!state.record_failure(&policy, at(300)));
        assert_eq!(state.locked_until, Some(at(389)));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        state.record_failure(&policy, at(0));
        state.record_failure(&policy, at(100));
        assert!(!state.record_failure(&policy, at(300)), "the first failure is 300 s old: outside");
        assert!(state.record_failure(&policy, at(301)));
    }

    #[test]
    fn a_success_resets_the_count() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        state.record_failure(&policy, at(0));
        state.record_failure(&policy, at(1));
        state.record_success();
        assert!(state.is_clear());
        assert!(!state.record_failure(&policy, at(2)));
        assert!(!state.record_failure(&policy, at(3)));
    }

    #[test]
    fn policy_ranges() {
        assert!(LockoutPolicy::new(1, 1, 1).is_ok());
        assert!(LockoutPolicy::new(255, 86_400, 255).is_ok());
        assert!(LockoutPolicy::new(0, 300, 90).is_err());
        assert!(LockoutPolicy::new(256, 300, 90).is_err());
        assert!(LockoutPolicy::new(3, 0, 90).is_err());
        assert!(LockoutPolicy::new(3, 86_401, 90).is_err());
        assert!(LockoutPolicy::new(3, 300, 0).is_err());
        assert!(LockoutPolicy::new(3, 300, 256).is_err());
    }

    proptest! {
        #[test]
        fn never_locks_before_max_attempts_within_a_window(
            max in 1i64..10, window in 1i64..1000, lock in 1i64..255,
            gaps in prop::collection::vec(0i64..500, 1..40),
        ) {
            let policy = LockoutPolicy::new(max, window, lock).expect("valid");
            let mut state = LockoutState::default();
            let mut now = 0;
            let mut history: Vec<i64> = Vec::new();
            for gap in gaps {
                now += gap;
                if state.retry_after(at(now)).is_some() {
                    continue;
                }
                history.push(now);
                let recent = history.iter().filter(|t| now - **t < window).count() as i64;
                let locked = state.record_failure(&policy, at(now));
                prop_assert_eq!(locked, recent >= max, "recent {} max {}", recent, max);
                if locked {
                    history.clear();
                    prop_assert_eq!(state.retry_after(at(now)), Some(lock as u32));
                }
            }
        }
    }
}

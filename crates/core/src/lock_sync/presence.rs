//! Whether a lock answers its network, as told to the owner. A lock that
//! drops off and comes back twenty times in a few minutes is one problem
//! with an update, not twenty emergency alerts: after each thing told, the
//! next is held back for [`PRESENCE_HOLD`] and then told only if the lock
//! is still in the other state, with how often it dropped off meanwhile.

use jiff::{SignedDuration, Timestamp};

/// How long after telling the owner one thing the next is held back.
pub const PRESENCE_HOLD: SignedDuration = SignedDuration::from_mins(10);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    /// What the network says now (`None`: nothing yet).
    now: Option<bool>,
    /// What the owner was last told (`None`: nothing since keyward started).
    told: Option<bool>,
    told_at: Option<Timestamp>,
    /// How many times it dropped off since the owner was last told.
    drops: u32,
}

/// Something to tell the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tell {
    pub online: bool,
    /// Times the lock dropped off since the last thing told (besides the
    /// drop this tells, for an offline).
    pub drops: u32,
}

impl Presence {
    /// What the network says now.
    pub fn online(&self) -> Option<bool> {
        self.now
    }

    /// The network says the lock is `online` (or not) at `at`: what to tell
    /// now, if anything. A start that finds the lock online tells nothing.
    pub fn report(&mut self, online: bool, at: Timestamp) -> Option<Tell> {
        if self.now == Some(online) {
            return None;
        }
        self.now = Some(online);
        if !online {
            self.drops = self.drops.saturating_add(1);
        }
        if self.told.is_none() && online {
            self.told = Some(true);
            self.drops = 0;
            return None;
        }
        self.tick(at)
    }

    /// When something held back is due to be told.
    pub fn due(&self) -> Option<Timestamp> {
        let now = self.now?;
        if self.told == Some(now) {
            return None;
        }
        Some(match self.told_at {
            Some(told_at) => told_at.checked_add(PRESENCE_HOLD).unwrap_or(told_at),
            None => Timestamp::MIN,
        })
    }

    /// What to tell at `at`, if anything is due.
    pub fn tick(&mut self, at: Timestamp) -> Option<Tell> {
        let due = self.due()?;
        let online = self.now?;
        if at < due {
            return None;
        }
        let drops = if online { self.drops } else { self.drops.saturating_sub(1) };
        self.told = Some(online);
        self.told_at = Some(at);
        self.drops = 0;
        Some(Tell { online, drops })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).expect("instant")
    }

    #[test]
    fn twenty_flaps_are_one_alert_and_one_update() {
        let mut presence = Presence::default();
        assert_eq!(presence.report(true, at(0)), None, "found online at start: nothing to say");
        let mut told = Vec::new();
        for n in 0..20 {
            told.extend(presence.report(false, at(1) + SignedDuration::from_secs(n * 10)));
            told.extend(presence.report(true, at(1) + SignedDuration::from_secs(n * 10 + 5)));
        }
        assert_eq!(told, [Tell { online: false, drops: 0 }]);
        assert_eq!(presence.due(), Some(at(11)));
        assert_eq!(presence.tick(at(10)), None);
        assert_eq!(presence.tick(at(11)), Some(Tell { online: true, drops: 19 }));
        assert_eq!(presence.due(), None);
    }

    #[test]
    fn an_outage_and_a_return_far_apart_are_told_at_once() {
        let mut presence = Presence::default();
        presence.report(true, at(0));
        assert_eq!(presence.report(false, at(5)), Some(Tell { online: false, drops: 0 }));
        assert_eq!(presence.report(false, at(6)), None, "a repeated report changes nothing");
        assert_eq!(presence.report(true, at(60)), Some(Tell { online: true, drops: 0 }));
        // Offline again soon after its return: held back, then told if it stays off.
        assert_eq!(presence.report(false, at(62)), None);
        assert_eq!(presence.tick(at(70)), Some(Tell { online: false, drops: 0 }));
    }

    #[test]
    fn a_start_that_finds_the_lock_offline_tells_it() {
        let mut presence = Presence::default();
        assert_eq!(presence.report(false, at(0)), Some(Tell { online: false, drops: 0 }));
        assert_eq!(presence.online(), Some(false));
    }
}

//! Which codes belong in which lock's memory, and when that changes.
//!
//! A keypad lock checks codes itself, even while the hub is down, so a
//! user's code must be in the lock exactly while the user may open it: the
//! schedule is enforced by putting the code on when a window opens (a lead
//! time early, since writing to a battery lock takes seconds) and taking it
//! off when the window closes. Everything here is pure; the sync engine in
//! the application layer acts on it.

mod device;
mod presence;
mod slot;

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use device::{
    DeviceBinding, DeviceRef, FriendlyName, FriendlyNameError, IeeeAddress, IeeeAddressError, Protocol, Removal,
    SlotRange, SlotRangeError,
};
pub use presence::{PRESENCE_HOLD, Presence, Tell};
pub use slot::{Held, Mac, Reading, Refusal, SlotMemory, Step};

use crate::string_form::string_form;
use crate::user::User;

/// How long before a window opens (or a stay begins) a code is put on.
pub const DEFAULT_LEAD: SignedDuration = SignedDuration::from_secs(60);

/// Whether the user may still open this lock at some time: a code slot is
/// kept for them while this holds, even between windows.
pub fn keeps_slot(user: &User, lock_id: &str, tz: &TimeZone, now: Timestamp) -> bool {
    user.enabled
        && user.locks.allows(lock_id)
        && user.validity.ends(tz).is_none_or(|until| now < until)
        && user.validity.max_uses().is_none_or(|max| user.uses < max)
}

/// Whether the user's code belongs in the lock's memory at `now`: the user
/// may open the lock now, or will within `lead`.
pub fn belongs_on(user: &User, lock_id: &str, tz: &TimeZone, now: Timestamp, lead: SignedDuration) -> bool {
    if !keeps_slot(user, lock_id, tz, now) {
        return false;
    }
    let soon = now.checked_add(lead).unwrap_or(now);
    if user.validity.starts(tz).is_some_and(|from| soon < from) {
        return false;
    }
    user.schedule.is_open_at(tz, now)
        || user
            .schedule
            .next_change(tz, now)
            .is_some_and(|change| change <= soon && user.schedule.is_open_at(tz, change))
}

/// The next instant at which [`belongs_on`] may change for this user, if any
/// (a review then is cheap; one that finds nothing changed is harmless).
pub fn next_review(user: &User, tz: &TimeZone, now: Timestamp, lead: SignedDuration) -> Option<Timestamp> {
    let early = |t: Timestamp| t.checked_sub(lead).ok();
    let mut candidates = Vec::with_capacity(3);
    candidates.extend(user.validity.starts(tz).and_then(early));
    candidates.extend(user.validity.ends(tz));
    if let Some(change) = user.schedule.next_change(tz, now) {
        if user.schedule.is_open_at(tz, change) {
            match early(change).filter(|t| *t > now) {
                Some(t) => candidates.push(t),
                // Already on for this opening: what matters next is its close.
                None => candidates.extend(user.schedule.next_change(tz, change)),
            }
        } else {
            candidates.push(change);
        }
    }
    candidates.into_iter().filter(|t| *t > now).min()
}

/// The outcome of giving slots to the users who keep one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allocation {
    /// Slot → user, for every user who keeps a slot and got one.
    pub slots: BTreeMap<u16, String>,
    /// Users who keep a slot but found none free: an error shown on the
    /// user (`no_free_slot`), never a silent drop.
    pub without_slot: Vec<String>,
}

/// Gives each user in `wanting` a slot: the one they hold already when it is
/// in range, else the lowest free slot. A slot is free when nobody wanting
/// holds it and it is not `unavailable` (a foreign code, or a slot still
/// being cleared of a former user's code). Users are served in the order
/// given, so the result is stable.
pub fn allocate(
    range: SlotRange,
    held: &BTreeMap<String, u16>,
    wanting: &[String],
    unavailable: &BTreeSet<u16>,
) -> Allocation {
    let mut allocation = Allocation::default();
    let mut newcomers = Vec::new();
    for user in wanting {
        match held.get(user) {
            Some(slot) if range.contains(*slot) && !allocation.slots.contains_key(slot) => {
                allocation.slots.insert(*slot, user.clone());
            }
            _ => newcomers.push(user),
        }
    }
    let mut free = range.slots().filter(|slot| !unavailable.contains(slot));
    for user in newcomers {
        match free.by_ref().find(|slot| !allocation.slots.contains_key(slot)) {
            Some(slot) => {
                allocation.slots.insert(slot, user.clone());
            }
            None => allocation.without_slot.push(user.clone()),
        }
    }
    allocation
}

/// Where a user's code stands on one lock, as the owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeStatus {
    /// Being written; not yet read back.
    Adding,
    /// Read back from the lock: it is there.
    OnLock,
    /// Being taken off; not yet read back empty.
    Removing,
    /// Not on the lock, as intended (outside a window, disabled, ...).
    OffLock,
    /// Could not be made so; `FailureReason` says why.
    Failed,
}

string_form!(CodeStatus {
    Adding => "adding",
    OnLock => "on_lock",
    Removing => "removing",
    OffLock => "off_lock",
    Failed => "failed",
});

/// Why a code is not where it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The lock does not answer; retried when it is back.
    Offline,
    /// The lock refused the code: another slot holds it already.
    DuplicateOnLock,
    /// The lock says its memory is full.
    MemoryFull,
    /// The lock refused the command.
    Rejected,
    /// The lock took the command but its read-back never showed the code.
    NoConfirmation,
    /// Every slot keyward may use on this lock is taken.
    NoFreeSlot,
    /// Keyward could not store what it was about to write, so it did not
    /// write it (a write whose intent is not durable could leave a code
    /// keyward would not know as its own); retried.
    StoreFailed,
}

string_form!(FailureReason {
    Offline => "offline",
    DuplicateOnLock => "duplicate_on_lock",
    MemoryFull => "memory_full",
    Rejected => "rejected",
    NoConfirmation => "no_confirmation",
    NoFreeSlot => "no_free_slot",
    StoreFailed => "store_failed",
});

impl FailureReason {
    /// Whether trying again may help without anything changing: a duplicate
    /// or a full memory stays so until the owner acts (retrying those for
    /// ever is the trap other tools fell into).
    pub fn retries_by_itself(self) -> bool {
        matches!(self, Self::Offline | Self::Rejected | Self::NoConfirmation | Self::StoreFailed)
    }
}

/// How many times a code the lock took without error but never confirmed
/// (a refusal the protocol does not pass on: Zigbee2MQTT drops the lock's
/// "duplicate" and "memory full" answers) is written before keyward stops
/// and reports `no_confirmation` until the code changes or the owner retries.
pub const MAX_UNCONFIRMED_WRITES: u32 = 5;

/// The wait before the `attempt`-th retry (1-based): doubling from 5 s, at
/// most 10 minutes.
pub fn retry_delay(attempt: u32) -> SignedDuration {
    const FIRST: i64 = 5;
    const CEILING: i64 = 600;
    let doublings = attempt.saturating_sub(1).min(16);
    SignedDuration::from_secs((FIRST << doublings).min(CEILING))
}

/// At or below this (percent) a lock's battery is told low.
pub const BATTERY_LOW: u8 = 20;
/// At or above this, a battery told low counts as replaced.
pub const BATTERY_RECOVERED: u8 = 30;

/// A lock's battery report against what was told before: whether it now
/// counts as low, and whether to tell. Low is told once, when a report falls
/// to `BATTERY_LOW`, and again only after a report of `BATTERY_RECOVERED` or
/// more (a new battery): a level wavering at the line is not an alert each time.
pub fn battery_report(was_low: bool, level: u8) -> (bool, bool) {
    if level <= BATTERY_LOW {
        (true, !was_low)
    } else if level >= BATTERY_RECOVERED {
        (false, false)
    } else {
        (was_low, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_battery_is_told_once_until_a_new_one() {
        let mut low = false;
        let mut told = Vec::new();
        for level in [87, 21, 20, 15, 12, 25, 19, 29, 30, 40, 18, 100] {
            let (now_low, tell) = battery_report(low, level);
            low = now_low;
            if tell {
                told.push(level);
            }
        }
        assert_eq!(told, [20, 18]);
    }
    use crate::name::Name;
    use crate::schedule::{Schedule, ScheduleSpec, WindowSpec};
    use crate::user::{LockAccess, Notify, PanelPermissions, UserKind, Validity};

    fn t(s: &str) -> Timestamp {
        s.parse().expect("valid instant")
    }

    fn dog_walker() -> User {
        let spec =
            ScheduleSpec::windows(vec![WindowSpec::weekly(&["mon", "tue", "wed", "thu", "fri"], "11:00", "14:00")]);
        User {
            id: "u1".into(),
            name: Name::parse("Dog walker").expect("valid"),
            kind: UserKind::Standard,
            panel: PanelPermissions::default(),
            locks: LockAccess::Only(vec!["front".into()]),
            schedule: Schedule::parse(&spec).expect("valid"),
            validity: Validity::default(),
            uses: 0,
            notify: Notify::default(),
            alerts: Default::default(),
            enabled: true,
            contact: Default::default(),
        }
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("known zone")
    }

    #[test]
    fn a_code_is_on_from_a_lead_before_the_window_until_it_closes() {
        let user = dog_walker();
        let tz = berlin();
        let on = |at: &str| belongs_on(&user, "front", &tz, t(at), DEFAULT_LEAD);
        // Thursday 2026-11-26; 11:00 in Berlin is 10:00 UTC.
        assert!(!on("2026-11-26T09:58:59Z"));
        assert!(on("2026-11-26T09:59:00Z"), "a minute early");
        assert!(on("2026-11-26T12:59:59Z"));
        assert!(!on("2026-11-26T13:00:00Z"), "off when the window closes");
        assert!(!belongs_on(&user, "back", &tz, t("2026-11-26T11:00:00Z"), DEFAULT_LEAD), "not this lock");
        let mut disabled = user.clone();
        disabled.enabled = false;
        assert!(!belongs_on(&disabled, "front", &tz, t("2026-11-26T11:00:00Z"), DEFAULT_LEAD));
    }

    #[test]
    fn dates_and_uses_bound_the_code_too() {
        let mut user = dog_walker();
        user.schedule = Schedule::Always;
        user.validity =
            Validity::new(Some(t("2026-12-05T15:00:00Z")), Some(t("2026-12-12T10:00:00Z")), Some(2)).expect("valid");
        let tz = berlin();
        let on = |u: &User, at: &str| belongs_on(u, "front", &tz, t(at), DEFAULT_LEAD);
        assert!(!on(&user, "2026-12-05T14:58:59Z"));
        assert!(on(&user, "2026-12-05T14:59:00Z"));
        assert!(on(&user, "2026-12-12T09:59:59Z"));
        assert!(!on(&user, "2026-12-12T10:00:00Z"));
        assert!(
            !keeps_slot(&user, "front", &TimeZone::UTC, t("2026-12-12T10:00:00Z")),
            "an ended stay gives its slot back"
        );
        user.uses = 2;
        assert!(!on(&user, "2026-12-06T12:00:00Z"), "uses used up");
        assert!(!keeps_slot(&user, "front", &TimeZone::UTC, t("2026-12-06T12:00:00Z")));
    }

    #[test]
    fn reviews_come_exactly_when_something_changes() {
        let user = dog_walker();
        let tz = berlin();
        let review = |at: &str| next_review(&user, &tz, t(at), DEFAULT_LEAD).map(|t| t.to_string());
        assert_eq!(review("2026-11-26T08:00:00Z").as_deref(), Some("2026-11-26T09:59:00Z"));
        assert_eq!(review("2026-11-26T09:59:00Z").as_deref(), Some("2026-11-26T13:00:00Z"));
        assert_eq!(review("2026-11-26T09:59:30Z").as_deref(), Some("2026-11-26T13:00:00Z"));
        assert_eq!(review("2026-11-27T13:00:00Z").as_deref(), Some("2026-11-30T09:59:00Z"), "over the weekend");
        let mut stay = user.clone();
        stay.schedule = Schedule::Always;
        stay.validity =
            Validity::new(Some(t("2026-12-05T15:00:00Z")), Some(t("2026-12-12T10:00:00Z")), None).expect("valid");
        let review = |at: &str| next_review(&stay, &tz, t(at), DEFAULT_LEAD).map(|t| t.to_string());
        assert_eq!(review("2026-12-01T00:00:00Z").as_deref(), Some("2026-12-05T14:59:00Z"));
        assert_eq!(review("2026-12-05T14:59:00Z").as_deref(), Some("2026-12-12T10:00:00Z"));
        assert_eq!(review("2026-12-12T10:00:00Z"), None);
    }

    #[test]
    fn every_review_instant_is_where_belonging_can_change() {
        // Walk a fortnight second by second around each change, checking
        // that belonging never changes between reviews.
        let user = dog_walker();
        let tz = berlin();
        let mut now = t("2026-11-25T00:00:00Z");
        let end = t("2026-12-09T00:00:00Z");
        let mut reviews = 0;
        while let Some(next) = next_review(&user, &tz, now, DEFAULT_LEAD).filter(|n| *n < end) {
            let before = next.checked_sub(SignedDuration::from_secs(1)).expect("in range");
            assert_eq!(
                belongs_on(&user, "front", &tz, now, DEFAULT_LEAD),
                belongs_on(&user, "front", &tz, before, DEFAULT_LEAD),
                "changed between {now} and {next}"
            );
            now = next;
            reviews += 1;
        }
        assert_eq!(reviews, 20, "two per weekday");
    }

    #[test]
    fn slots_are_stable_and_never_silently_dropped() {
        let range = SlotRange::new(1, 3).expect("valid");
        let users: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let held = BTreeMap::from([("c".to_owned(), 1)]);
        let foreign = BTreeSet::from([2]);
        let allocation = allocate(range, &held, &users, &foreign);
        assert_eq!(allocation.slots, BTreeMap::from([(1, "c".to_owned()), (3, "a".to_owned())]));
        assert_eq!(allocation.without_slot, vec!["b".to_owned(), "d".to_owned()]);
        // A slot out of the range (the owner narrowed it) is given up.
        let narrowed = SlotRange::new(2, 3).expect("valid");
        let allocation = allocate(narrowed, &held, &users[2..3], &BTreeSet::new());
        assert_eq!(allocation.slots, BTreeMap::from([(2, "c".to_owned())]));
        assert_eq!(SlotRange::new(5, 4), Err(SlotRangeError));
        // Z-Wave numbers its slots from 1, Zigbee from 0.
        let zwave = SlotRange::of_lock(Protocol::ZwaveJs, 30).expect("slots");
        assert_eq!((zwave.first(), zwave.last()), (1, 30));
        let zigbee = SlotRange::of_lock(Protocol::Zigbee2Mqtt, 30).expect("slots");
        assert_eq!((zigbee.first(), zigbee.last()), (0, 29));
        assert!(!SlotRange::new(0, 3).expect("ordered").within(&zwave));
        assert!(SlotRange::new(0, 3).expect("ordered").within(&zigbee));
        assert!(!SlotRange::new(1, 30).expect("ordered").within(&zigbee));
        assert_eq!(SlotRange::of_lock(Protocol::ZwaveJs, 0), None);
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let seconds: Vec<i64> = (1..=10).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(retry_delay(u32::MAX).as_secs(), 600);
        assert!(!FailureReason::DuplicateOnLock.retries_by_itself());
        assert!(FailureReason::Offline.retries_by_itself());
    }
}

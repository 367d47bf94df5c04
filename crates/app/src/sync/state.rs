//! One lock's knowledge, in one struct behind one mutex: its slots (whose
//! code each holds, the history that says which codes are keyward's, the
//! refusals, the retry timers), the users without a slot, whether it
//! answers, its battery, and when it was last read back in full.
//!
//! Every change to a slot is made here, synchronously, and queued to the
//! store while the mutex is held (`HomeStore::put_slot` queues when
//! called), so what is stored follows what is known in the same order, and
//! nothing is queued for a lock that is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use keyward_core::lock_sync::{self as plan, Held, Mac, Presence, Reading, Refusal, SlotMemory, Step};
use keyward_core::{CodeStatus, FailureReason, LockoutState, SlotRange};
use keyward_store::{HomeStore, Pending, SlotRecord};
use tokio::sync::Notify;

use super::worker::View;

/// How often a lock's memory is read back in full even when nothing
/// suggests it changed (a Z-Wave JS reinstalled while keyward was away).
pub(super) const FULL_REVIEW: SignedDuration = SignedDuration::from_hours(6);

pub(super) fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A lock the engine knows: its knowledge, and its worker's wake-up.
pub(super) struct Handle {
    pub lock_id: String,
    pub entry: Mutex<LockEntry>,
    pub wake: Notify,
    /// Woken since the worker last looked (for [`Handle::quiet`]).
    pub poked: AtomicBool,
    /// The worker waits (for a wake-up, or until `parked_until`).
    pub parked: AtomicBool,
    pub parked_until: Mutex<Option<Timestamp>>,
    /// A worker task runs for this lock.
    pub running: AtomicBool,
}

impl Handle {
    pub fn new(lock_id: &str, slots: BTreeMap<u16, SlotRecord>) -> Self {
        Self {
            lock_id: lock_id.to_owned(),
            entry: Mutex::new(LockEntry::new(lock_id, slots)),
            wake: Notify::new(),
            poked: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            parked_until: Mutex::new(None),
            running: AtomicBool::new(false),
        }
    }

    pub fn entry(&self) -> MutexGuard<'_, LockEntry> {
        guard(&self.entry)
    }

    pub fn poke(&self) {
        self.poked.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Nothing to do until something happens or time passes `parked_until`.
    pub fn quiet(&self, now: Timestamp) -> bool {
        !self.running.load(Ordering::Acquire)
            || (self.parked.load(Ordering::Acquire)
                && !self.poked.load(Ordering::Acquire)
                && guard(&self.parked_until).is_none_or(|until| until > now))
    }
}

/// Where a lock's own wrong-code limit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitState {
    /// Not set since keyward started, or since the lock came back.
    #[default]
    Unknown,
    /// Set for `wanted`; the lock reports holding `held`.
    Held { wanted: crate::devices::KeypadLimit, held: crate::devices::KeypadLimit },
    /// The lock did not take `wanted` (or never confirmed it).
    Unsupported(crate::devices::KeypadLimit),
}

impl LimitState {
    /// Whether the limit is to be set (again) for the policy's `wanted`.
    pub fn due(&self, wanted: crate::devices::KeypadLimit) -> bool {
        match self {
            Self::Unknown => true,
            Self::Held { wanted: was, .. } | Self::Unsupported(was) => *was != wanted,
        }
    }
}

/// What keyward knows of one lock.
pub(super) struct LockEntry {
    pub lock_id: String,
    pub slots: BTreeMap<u16, SlotRecord>,
    /// Users who should have a slot and found none.
    pub without_slot: Vec<String>,
    /// Each user's slot, as last planned (`None` before the first plan:
    /// then the slot holding the user's code is theirs).
    pub assigned: Option<BTreeMap<String, u16>>,
    pub presence: Presence,
    /// Whether its battery counts as low (`keyward_core::battery_report`).
    pub battery_low: bool,
    /// Unknown codes typed at its keypad, counted by the home's lockout
    /// policy: a burst is told as `keypad_guessing`, once per lockout
    /// period. Kept in memory only: a restart starts the count again.
    pub guesses: LockoutState,
    /// The lock's own wrong-code limit, as keyward last set it.
    pub keypad_limit: LimitState,
    /// Read the whole range back before anything else.
    pub rescan: bool,
    pub scanned_at: Option<Timestamp>,
    /// Bumped whenever what keyward knows of the device is thrown away (a
    /// forced removal, a move to another device): the answer to a command
    /// sent before belongs to the old device and is dropped.
    pub generation: u64,
    /// The lock is gone: nothing more is stored for it.
    pub gone: bool,
}

/// The code a slot should hold now: whose slot it is and, when the user's
/// code belongs on the lock now, its MAC.
pub(super) type Want = Option<(String, Option<Mac>)>;

/// What each slot should hold now, and when that next changes.
#[derive(Default)]
pub(super) struct Plan {
    pub want: BTreeMap<u16, (String, Option<Mac>)>,
    pub without_slot: Vec<String>,
    pub next_review: Option<Timestamp>,
}

/// The next thing to do on a lock.
pub(super) enum Work {
    Read(u16),
    Write { slot: u16, user_id: String, mac: Mac },
    Clear(u16),
}

fn blank(lock_id: &str, slot: u16, now: Timestamp) -> SlotRecord {
    SlotRecord {
        lock_id: lock_id.to_owned(),
        slot,
        user_id: None,
        memory: SlotMemory::default(),
        status: CodeStatus::OffLock,
        reason: None,
        detail: None,
        attempts: 0,
        attempt_mac: None,
        retry_at: None,
        updated_at: now,
    }
}

impl LockEntry {
    fn new(lock_id: &str, slots: BTreeMap<u16, SlotRecord>) -> Self {
        Self {
            lock_id: lock_id.to_owned(),
            slots,
            without_slot: Vec::new(),
            assigned: None,
            presence: Presence::default(),
            battery_low: false,
            guesses: LockoutState::CLEAR,
            keypad_limit: LimitState::Unknown,
            rescan: true,
            scanned_at: None,
            generation: 0,
            gone: false,
        }
    }

    /// Throws away what keyward knows of the device (it is not this lock's
    /// any more), and starts over with a full read-back.
    pub fn forget_device(&mut self) {
        self.slots.clear();
        self.without_slot.clear();
        self.assigned = None;
        self.presence = Presence::default();
        self.battery_low = false;
        self.guesses = LockoutState::CLEAR;
        self.keypad_limit = LimitState::Unknown;
        self.rescan = true;
        self.scanned_at = None;
        self.generation += 1;
    }

    /// The lock is gone: nothing more is stored or sent for it.
    pub fn retire(&mut self) {
        self.forget_device();
        self.gone = true;
    }

    /// The lock stays after all (its removal failed): known again, read
    /// back from scratch.
    pub fn reinstate(&mut self) {
        self.gone = false;
    }

    /// Queues a slot's record to the store (nothing once the lock is gone).
    pub fn persist(&self, store: &dyn HomeStore, slot: u16) -> Option<Pending<()>> {
        if self.gone {
            return None;
        }
        self.slots.get(&slot).map(|record| store.put_slot(record.clone()))
    }

    pub fn slot_mut(&mut self, slot: u16, now: Timestamp) -> &mut SlotRecord {
        let lock_id = self.lock_id.clone();
        self.slots.entry(slot).or_insert_with(|| blank(&lock_id, slot, now))
    }

    /// Whether any slot may still hold a code keyward wrote.
    pub fn holds_keywards(&self) -> bool {
        self.slots.values().any(|r| r.memory.is_keywards())
    }

    /// Marks every slot of the range (and every slot out of it that may
    /// still hold keyward's code) to be read again, if a full read-back is
    /// asked for or due.
    pub fn start_review(&mut self, range: SlotRange, now: Timestamp) {
        let due = self.scanned_at.is_none_or(|at| at.checked_add(FULL_REVIEW).is_ok_and(|due| due <= now));
        if !(self.rescan || due) {
            return;
        }
        self.rescan = false;
        self.scanned_at = Some(now);
        for slot in range.slots() {
            self.slot_mut(slot, now).memory.recheck = true;
        }
        for record in self.slots.values_mut().filter(|r| !range.contains(r.slot)) {
            if record.memory.is_keywards() {
                record.memory.recheck = true;
            }
        }
        // Slots out of a narrowed range that hold nothing of keyward's are no longer its business.
        self.slots.retain(|slot, record| range.contains(*slot) || record.memory.is_keywards());
    }

    /// Marks slots to read before anything else is done to them.
    pub fn recheck(&mut self, slots: impl IntoIterator<Item = u16>, now: Timestamp) {
        for slot in slots {
            self.slot_mut(slot, now).memory.recheck = true;
        }
    }

    /// The lock's memory may have changed entirely (every code deleted at
    /// the lock, a new interview): refusals may not hold any more.
    pub fn memory_changed(&mut self) {
        self.rescan = true;
        for record in self.slots.values_mut() {
            record.memory.forgive();
        }
    }

    /// What each slot should hold now: slots for the users who keep one
    /// (stable: a user keeps their slot), and whether each code belongs on
    /// the lock now. None while the lock is being removed.
    pub fn plan(&self, view: &View, range: SlotRange, now: Timestamp, lead: SignedDuration) -> Plan {
        if view.removal.is_some() {
            return Plan::default();
        }
        let (users, lock_id, zone) = (&view.users, self.lock_id.as_str(), &view.zone);
        let wanting: Vec<String> =
            users.iter().filter(|(u, _)| plan::keeps_slot(u, lock_id, zone, now)).map(|(u, _)| u.id.clone()).collect();
        // A user keeps their slot, unless someone else's code is there now.
        let foreign = |slot: &u16| self.slots.get(slot).is_some_and(|r| r.memory.is_foreign());
        let held: BTreeMap<String, u16> = match &self.assigned {
            Some(assigned) => {
                assigned.iter().filter(|(_, slot)| !foreign(slot)).map(|(u, s)| (u.clone(), *s)).collect()
            }
            None => self
                .slots
                .values()
                .rev()
                .filter(|r| !r.memory.is_foreign())
                .filter_map(|r| r.user_id.clone().map(|u| (u, r.slot)))
                .collect(),
        };
        let unavailable: BTreeSet<u16> = self
            .slots
            .values()
            .filter(|r| {
                let former = r.memory.is_keywards() && r.user_id.as_ref().is_none_or(|u| !wanting.contains(u));
                r.memory.is_foreign() || r.memory.held == Held::Unknown || former
            })
            .map(|r| r.slot)
            .collect();
        let allocation = plan::allocate(range, &held, &wanting, &unavailable);
        let mut result = Plan { without_slot: allocation.without_slot, ..Plan::default() };
        for (slot, user_id) in allocation.slots {
            let Some((user, mac)) = users.iter().find(|(u, _)| u.id == user_id) else { continue };
            let on = plan::belongs_on(user, lock_id, zone, now, lead);
            if let Some(at) = plan::next_review(user, zone, now, lead) {
                result.next_review = Some(result.next_review.map_or(at, |n| n.min(at)));
            }
            result.want.insert(slot, (user_id, on.then_some(*mac)));
        }
        result
    }

    /// The next thing to do: reads first (nothing is written blind), then
    /// clears (they free memory and never make a duplicate), then writes.
    /// Slots waiting for a retry are skipped; `next` learns when they are due.
    pub fn next_work(
        &self,
        plan: &Plan,
        range: SlotRange,
        now: Timestamp,
        next: &mut Option<Timestamp>,
    ) -> Option<Work> {
        let mut waiting = |at: Timestamp| {
            *next = Some(next.map_or(at, |n| n.min(at)));
        };
        let mut clear = None;
        let mut write = None;
        let mut read = None;
        for record in self.slots.values() {
            let in_scope = range.contains(record.slot) || record.memory.is_keywards();
            if !in_scope {
                continue;
            }
            let want = plan.want.get(&record.slot);
            let step = record.memory.step(want.and_then(|(_, mac)| *mac));
            if step == Step::Idle {
                continue;
            }
            if let Some(at) = record.retry_at.filter(|at| *at > now) {
                waiting(at);
                continue;
            }
            match step {
                Step::Read => {
                    read.get_or_insert(Work::Read(record.slot));
                }
                Step::Clear => {
                    clear.get_or_insert(Work::Clear(record.slot));
                }
                Step::Write(mac) => {
                    if let Some((user_id, _)) = want {
                        write.get_or_insert(Work::Write { slot: record.slot, user_id: user_id.clone(), mac });
                    }
                }
                Step::Idle => {}
            }
        }
        read.or(clear).or(write)
    }

    /// The first retry still to come.
    pub fn earliest_retry(&self, now: Timestamp) -> Option<Timestamp> {
        self.slots.values().filter_map(|r| r.retry_at).filter(|at| *at > now).min()
    }

    /// The slot (other than `slot`) keyward saw holding the code `mac` that
    /// it did not put there: the cause of a duplicate.
    pub fn holder_of(&self, mac: Mac, slot: u16) -> Option<u16> {
        self.slots.values().find(|r| r.slot != slot && r.memory.foreign_mac() == Some(mac)).map(|r| r.slot)
    }

    /// Keeps a plan's slots for the users (a user keeps the slot they were
    /// given, whatever happens to it meanwhile) and who found none.
    pub fn adopt(&mut self, plan: &Plan) {
        self.without_slot = plan.without_slot.clone();
        self.assigned = Some(plan.want.iter().map(|(slot, (user, _))| (user.clone(), *slot)).collect());
    }

    /// Sets every slot's status from what it holds against what it should,
    /// and answers the slots that changed. The pass is over: what it read is
    /// read again before a later pass writes into a slot believed empty.
    pub fn settle_all(&mut self, plan: &Plan, now: Timestamp) -> Vec<u16> {
        self.adopt(plan);
        for record in self.slots.values_mut() {
            record.memory.checked = false;
        }
        let slots: Vec<u16> = self.slots.keys().copied().collect();
        slots.into_iter().filter(|slot| self.settle(*slot, plan.want.get(slot).cloned(), now)).collect()
    }

    /// Sets one slot's status (see `settle_all`); true when it changed. A
    /// refusal of the code wanted is the slot's diagnosis while it stands;
    /// otherwise the last failure, while its retry waits.
    pub fn settle(&mut self, slot: u16, want: Want, now: Timestamp) -> bool {
        let holder = {
            let Some(record) = self.slots.get(&slot) else { return false };
            record.memory.refused.and_then(|r| self.holder_of(r.mac, slot))
        };
        let Some(record) = self.slots.get_mut(&slot) else { return false };
        let before = (record.user_id.clone(), record.status, record.reason, record.detail, record.retry_at);
        let mac = want.as_ref().and_then(|(_, mac)| *mac);
        // A refusal is of one code: a new code for the slot is tried afresh.
        if let (Some(refused), Some(mac)) = (record.memory.refused, mac)
            && refused.mac != mac
        {
            record.memory.forgive();
        }
        if record.memory.settled(mac) {
            record.user_id = want.map(|(user, _)| user);
            record.status = if mac.is_some() { CodeStatus::OnLock } else { CodeStatus::OffLock };
            record.reason = None;
            record.detail = None;
            record.retry_at = None;
            record.attempts = 0;
            record.attempt_mac = None;
        } else {
            if let Some((user, _)) = want {
                record.user_id = Some(user);
            }
            let refusal = record.memory.refusal_of(mac);
            record.detail = holder.filter(|_| refusal.is_some_and(|r| r.why == FailureReason::DuplicateOnLock));
            match refusal {
                Some(refusal) => {
                    record.status = CodeStatus::Failed;
                    record.reason = Some(refusal.why);
                }
                None if record.reason.is_some() => record.status = CodeStatus::Failed,
                None => {
                    record.status = match record.memory.step(mac) {
                        Step::Write(_) => CodeStatus::Adding,
                        Step::Clear => CodeStatus::Removing,
                        Step::Read if mac.is_some() => CodeStatus::Adding,
                        Step::Read | Step::Idle if record.memory.is_keywards() => CodeStatus::Removing,
                        Step::Read | Step::Idle => CodeStatus::OffLock,
                    }
                }
            }
        }
        let changed = before != (record.user_id.clone(), record.status, record.reason, record.detail, record.retry_at);
        if changed {
            record.updated_at = now;
        }
        changed
    }

    /// A read of a slot answered. A foreign code gone from a slot may have
    /// been the cause of a refusal elsewhere: those are tried again.
    pub fn read(&mut self, slot: u16, reading: Reading, now: Timestamp) {
        let record = self.slot_mut(slot, now);
        if reading == Reading::NoAnswer {
            // Tried again later, without holding up the rest; until then
            // what the slot holds is not known, and said so.
            record.reason = Some(FailureReason::Offline);
            record.attempts = record.attempts.saturating_add(1);
            record.retry_at = now.checked_add(plan::retry_delay(record.attempts)).ok();
            record.updated_at = now;
            return;
        }
        let was_foreign = record.memory.is_foreign().then_some(record.memory.held);
        record.memory.read(reading);
        // What a failed command left is known now: try again at once where needed.
        record.retry_at = None;
        record.reason = None;
        record.updated_at = now;
        if let Some(was) = was_foreign
            && record.memory.held != was
        {
            self.foreign_changed(was);
        }
    }

    /// A foreign code changed or went: a refusal it may have caused is
    /// forgiven (of its code when the lock shows codes, else of any).
    fn foreign_changed(&mut self, was: Held) {
        let gone = match was {
            Held::Foreign(mac) => mac,
            _ => return,
        };
        for record in self.slots.values_mut() {
            let caused = record
                .memory
                .refused
                .is_some_and(|r| r.why != FailureReason::Rejected && gone.is_none_or(|mac| mac == r.mac));
            if caused {
                record.memory.forgive();
            }
        }
    }

    /// A command failed: retried after its backoff; the slot is read first.
    pub fn fail(&mut self, slot: u16, reason: FailureReason, now: Timestamp) {
        let record = self.slot_mut(slot, now);
        record.memory.lost();
        record.status = CodeStatus::Failed;
        record.reason = Some(reason);
        record.attempts = record.attempts.saturating_add(1);
        record.retry_at = now.checked_add(plan::retry_delay(record.attempts)).ok();
        record.updated_at = now;
    }

    /// The lock would not keep `mac` in `slot`: not tried again until the
    /// code changes, the lock changes or the owner asks. True the first time
    /// (it is told once).
    pub fn refuse(&mut self, slot: u16, mac: Mac, reason: FailureReason, now: Timestamp) -> bool {
        let record = self.slot_mut(slot, now);
        let already = record.memory.refused == Some(Refusal { mac, why: reason });
        record.memory.refuse(mac, reason);
        record.status = CodeStatus::Failed;
        record.reason = Some(reason);
        record.attempts = 0;
        record.attempt_mac = None;
        record.retry_at = None;
        record.updated_at = now;
        !already
    }

    /// Learns that `slot` holds the code `mac`, which keyward did not put
    /// there (the lock named it as a duplicate's holder).
    pub fn learn_foreign(&mut self, slot: u16, mac: Mac, now: Timestamp) {
        let record = self.slot_mut(slot, now);
        if !record.memory.is_keywards() {
            record.memory.read(Reading::Code(mac));
            record.updated_at = now;
        }
    }

    /// Forgets the refusals of a user's codes and their retry timers, so
    /// they are tried again now. Answers the slots changed.
    pub fn retry_user(&mut self, user_id: &str) -> Vec<u16> {
        let mut changed = Vec::new();
        for record in self.slots.values_mut().filter(|r| r.user_id.as_deref() == Some(user_id)) {
            record.memory.forgive();
            record.memory.recheck = true;
            record.reason = None;
            record.retry_at = None;
            record.attempts = 0;
            record.attempt_mac = None;
            changed.push(record.slot);
        }
        changed
    }

    /// Lets keyward clear a foreign code and use its slot; whoever the lock
    /// refused as a duplicate is tried again once it is gone. False when the
    /// slot holds no foreign code.
    pub fn take_over(&mut self, slot: u16) -> Option<Vec<u16>> {
        if !self.slots.get_mut(&slot)?.memory.take_over() {
            return None;
        }
        let mut changed = vec![slot];
        for record in self.slots.values_mut().filter(|r| r.memory.refused.is_some()) {
            record.memory.forgive();
            record.reason = None;
            changed.push(record.slot);
        }
        Some(changed)
    }

    /// The user whose code keyward put in a slot (for a keypad entry).
    pub fn user_in(&self, slot: u16) -> Option<String> {
        self.slots.get(&slot).filter(|r| r.memory.is_keywards()).and_then(|r| r.user_id.clone())
    }
}

/// A lock's device answer, as the core reads it.
pub(super) fn reading(reading: &crate::devices::SlotReading, mac_of: impl Fn(&str) -> Mac) -> Reading {
    use crate::devices::SlotReading;
    match reading {
        SlotReading::Empty => Reading::Empty,
        SlotReading::Code(code) => Reading::Code(mac_of(code)),
        SlotReading::Occupied => Reading::Hidden,
        SlotReading::Unknown => Reading::NoAnswer,
    }
}

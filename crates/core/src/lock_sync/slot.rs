//! What keyward knows of one slot of a lock's code memory, and what to do
//! about it next.
//!
//! A slot's history decides whose code a read-back shows: every code
//! keyward writes is noted (`written`, stored before the write goes out)
//! and stays keyward's until the lock shows it gone: read back empty, read
//! back holding a code keyward never wrote there, or overwritten by
//! keyward's own next code and read back so. So a code keyward wrote is
//! recognised as keyward's after any sequence: the user changed or deleted
//! meanwhile, the lock offline, an answer lost, keyward restarted. Codes are
//! known by their keyed MAC only (`Mac`), never in plain text.

use super::FailureReason;

/// The keyed MAC of a code (`HMAC-SHA-256` under the home's key).
pub type Mac = [u8; 32];

/// A code the lock would not keep in a slot, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub mac: Mac,
    /// `DuplicateOnLock`, `MemoryFull`, `NoConfirmation` (writes it never
    /// kept), or `Rejected` (a code that cannot be read to write it).
    pub why: FailureReason,
}

/// What one read of a slot showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Empty,
    /// A code, by its MAC.
    Code(Mac),
    /// Occupied, but the lock does not say by what (masked codes).
    Hidden,
    /// The lock did not answer.
    NoAnswer,
}

/// What keyward believes the slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Not read yet, or a command to it went unanswered.
    Unknown,
    Empty,
    /// One of keyward's codes, known by a read-back (or the lock's own
    /// confirmation of keyward's write).
    Ours(Mac),
    /// One of keyward's codes, but the lock hides which (a masked lock after
    /// a write whose answer was lost): written again or cleared, never
    /// mistaken for someone else's.
    OursUnread,
    /// A code keyward did not put there (programmed at the lock), by its MAC
    /// when the lock shows codes.
    Foreign(Option<Mac>),
}

/// One slot: what it holds, whose codes may be in it, and what the lock refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMemory {
    pub held: Held,
    /// Keyward's codes that may be in the slot, oldest first: each added
    /// before its write goes out, dropped only when a read-back shows it is
    /// not there. While this is not empty the slot is keyward's to clear,
    /// whatever became of the users.
    pub written: Vec<Mac>,
    /// A code the lock would not keep in this slot (a duplicate, a full
    /// memory, a write never confirmed): not written again while it is the
    /// code wanted, until the owner asks or something changes.
    pub refused: Option<Refusal>,
    /// The owner let keyward clear the foreign code in this slot.
    pub taken_over: bool,
    /// Read it again before acting on it (after a start, a reconnection, a
    /// report that the slot or the lock changed). Not stored: every start
    /// reads every slot again.
    pub recheck: bool,
    /// Read just now (in this pass over the lock): a slot believed empty is
    /// written only right after a read shows it still is, since a code
    /// programmed at the keypad without a report is seen only so. Not stored.
    pub checked: bool,
}

impl Default for SlotMemory {
    fn default() -> Self {
        Self {
            held: Held::Unknown,
            written: Vec::new(),
            refused: None,
            taken_over: false,
            recheck: true,
            checked: false,
        }
    }
}

/// The next thing to do to a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: it holds what it should, or what keyward may not touch.
    Idle,
    /// Read it from the lock first.
    Read,
    /// Write this code (by its MAC) into it.
    Write(Mac),
    /// Empty it.
    Clear,
}

impl SlotMemory {
    /// Whether a code keyward wrote may be in the slot.
    pub fn is_keywards(&self) -> bool {
        !self.written.is_empty()
    }

    pub fn is_foreign(&self) -> bool {
        matches!(self.held, Held::Foreign(_))
    }

    /// The MAC of the foreign code the slot holds, when the lock shows it.
    pub fn foreign_mac(&self) -> Option<Mac> {
        match self.held {
            Held::Foreign(mac) => mac,
            _ => None,
        }
    }

    /// Notes a code about to be written: call it, and store the result,
    /// before the write goes out.
    pub fn intend(&mut self, mac: Mac) {
        if !self.written.contains(&mac) {
            self.written.push(mac);
        }
    }

    /// Takes in what a read of the slot showed.
    pub fn read(&mut self, reading: Reading) {
        match reading {
            Reading::NoAnswer => return,
            Reading::Empty => {
                self.held = Held::Empty;
                self.written.clear();
                self.taken_over = false;
            }
            Reading::Code(mac) if self.written.contains(&mac) => {
                self.held = Held::Ours(mac);
                self.written = vec![mac];
                if self.refused.is_some_and(|r| r.mac == mac) {
                    // The lock kept it after all.
                    self.refused = None;
                }
            }
            Reading::Code(mac) => {
                // Someone else's code: keyward's earlier one is not there any more.
                if self.held != Held::Foreign(Some(mac)) {
                    self.taken_over = false;
                }
                self.held = Held::Foreign(Some(mac));
                self.written.clear();
            }
            Reading::Hidden => {
                self.held = match (self.held, self.written.as_slice()) {
                    (_, []) => {
                        if !self.is_foreign() {
                            self.taken_over = false;
                        }
                        Held::Foreign(None)
                    }
                    (Held::Ours(mac), [only]) if mac == *only => Held::Ours(mac),
                    _ => Held::OursUnread,
                };
            }
        }
        self.recheck = false;
        self.checked = true;
    }

    /// Takes in the answer to keyward's write of `mac`: the lock's read-back
    /// right after it. A hidden code right after keyward's write is taken as
    /// keyward's (the adapters answer `Hidden` to a write only when the lock
    /// confirmed it).
    pub fn wrote(&mut self, mac: Mac, answer: Reading) {
        match answer {
            Reading::Code(read) if read == mac => self.read(answer),
            Reading::Hidden => {
                self.held = Held::Ours(mac);
                self.written = vec![mac];
                self.refused = None;
                self.recheck = false;
            }
            Reading::NoAnswer => self.lost(),
            other => self.read(other),
        }
    }

    /// A command went out and its outcome is unknown: read it before anything else.
    pub fn lost(&mut self) {
        self.held = Held::Unknown;
        self.recheck = true;
    }

    /// The lock would not keep `mac` in this slot.
    pub fn refuse(&mut self, mac: Mac, why: FailureReason) {
        self.refused = Some(Refusal { mac, why });
        self.lost();
    }

    /// The refusal of `want`, if the lock refused it here.
    pub fn refusal_of(&self, want: Option<Mac>) -> Option<Refusal> {
        self.refused.filter(|r| Some(r.mac) == want)
    }

    /// Forgets a refusal: the owner asked to try again, or the lock changed
    /// so that it may take the code now.
    pub fn forgive(&mut self) {
        self.refused = None;
    }

    /// The owner lets keyward clear the foreign code here. False when the
    /// slot holds none.
    pub fn take_over(&mut self) -> bool {
        if self.is_foreign() {
            self.taken_over = true;
        }
        self.taken_over
    }

    /// What to do next, given the code that should be in the slot now
    /// (`None`: it should hold none of keyward's codes).
    pub fn step(&self, want: Option<Mac>) -> Step {
        let want = want.filter(|mac| self.refused.is_none_or(|r| r.mac != *mac));
        if self.recheck || self.held == Held::Unknown {
            return Step::Read;
        }
        match (self.held, want) {
            (Held::Unknown, _) => Step::Read,
            (Held::Foreign(_), _) if self.taken_over => Step::Clear,
            (Held::Foreign(_), _) => Step::Idle,
            (Held::Ours(mac), Some(want)) if mac == want => Step::Idle,
            // Nothing is written over a code programmed at the keypad unseen.
            (Held::Empty, Some(_)) if !self.checked => Step::Read,
            (_, Some(want)) => Step::Write(want),
            (Held::Empty, None) => Step::Idle,
            (Held::Ours(_) | Held::OursUnread, None) => Step::Clear,
        }
    }

    /// Whether the slot holds exactly what it should: `want`'s code, or
    /// (`None`) none of keyward's.
    pub fn settled(&self, want: Option<Mac>) -> bool {
        match want {
            Some(mac) => self.held == Held::Ours(mac) && !self.recheck,
            None => !self.is_keywards() && matches!(self.held, Held::Empty | Held::Foreign(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mac(n: u8) -> Mac {
        [n; 32]
    }

    fn known(held: Held) -> SlotMemory {
        let written = match held {
            Held::Ours(m) => vec![m],
            _ => Vec::new(),
        };
        SlotMemory { held, written, recheck: false, checked: true, ..SlotMemory::default() }
    }

    #[test]
    fn an_empty_slot_is_read_again_right_before_it_is_written() {
        let mut slot = known(Held::Empty);
        slot.checked = false;
        assert_eq!(slot.step(Some(mac(1))), Step::Read, "a code may have been programmed there unseen");
        slot.read(Reading::Code(mac(9)));
        assert_eq!(slot.step(Some(mac(1))), Step::Idle, "someone else's now");
        let mut slot = known(Held::Empty);
        slot.checked = false;
        slot.read(Reading::Empty);
        assert_eq!(slot.step(Some(mac(1))), Step::Write(mac(1)));
    }

    #[test]
    fn a_code_changed_while_the_lock_was_away_is_still_keywards() {
        // A on the lock; B's write goes out and its answer is lost.
        let mut slot = known(Held::Ours(mac(1)));
        slot.intend(mac(2));
        slot.lost();
        assert_eq!(slot.step(Some(mac(2))), Step::Read);
        // Back: the lock still holds A. It is keyward's, and B replaces it.
        slot.read(Reading::Code(mac(1)));
        assert_eq!(slot.held, Held::Ours(mac(1)));
        assert_eq!(slot.step(Some(mac(2))), Step::Write(mac(2)));
        // The user deleted meanwhile instead: A is cleared, never left.
        assert_eq!(slot.step(None), Step::Clear);
    }

    #[test]
    fn a_code_programmed_at_the_lock_is_foreign_and_left_alone() {
        let mut slot = known(Held::Ours(mac(1)));
        slot.read(Reading::Code(mac(9)));
        assert_eq!(slot.held, Held::Foreign(Some(mac(9))));
        assert!(!slot.is_keywards());
        assert_eq!(slot.step(None), Step::Idle);
        assert_eq!(slot.step(Some(mac(1))), Step::Idle, "never written over");
        assert!(slot.take_over());
        assert_eq!(slot.step(None), Step::Clear);
        slot.read(Reading::Empty);
        assert!(!slot.taken_over, "an emptied slot is simply free");
        assert!(!known(Held::Empty).clone().take_over(), "nothing foreign to take over");
    }

    #[test]
    fn a_masked_lock_keeps_keywards_unconfirmed_code_as_keywards() {
        let mut slot = known(Held::Empty);
        slot.intend(mac(1));
        slot.lost();
        slot.read(Reading::Hidden);
        assert_eq!(slot.held, Held::OursUnread);
        assert_eq!(slot.step(Some(mac(1))), Step::Write(mac(1)), "written again until confirmed");
        slot.wrote(mac(1), Reading::Hidden);
        assert_eq!(slot.held, Held::Ours(mac(1)));
        slot.read(Reading::Hidden);
        assert_eq!(slot.held, Held::Ours(mac(1)), "a confirmed code stays confirmed");
        let mut theirs = known(Held::Empty);
        theirs.read(Reading::Hidden);
        assert_eq!(theirs.held, Held::Foreign(None));
    }

    #[test]
    fn a_refused_code_is_not_written_again_until_forgiven_or_changed() {
        let mut slot = known(Held::Empty);
        slot.intend(mac(1));
        slot.refuse(mac(1), FailureReason::DuplicateOnLock);
        slot.read(Reading::Empty);
        assert_eq!(slot.step(Some(mac(1))), Step::Idle);
        assert_eq!(slot.step(Some(mac(2))), Step::Write(mac(2)), "a new code is tried");
        slot.forgive();
        assert_eq!(slot.step(Some(mac(1))), Step::Write(mac(1)));
        // A refused new code never leaves the old one behind.
        let mut slot = known(Held::Ours(mac(1)));
        slot.intend(mac(2));
        slot.refuse(mac(2), FailureReason::DuplicateOnLock);
        slot.read(Reading::Code(mac(1)));
        assert_eq!(slot.step(Some(mac(2))), Step::Clear);
        // A read-back that shows the refused code after all settles it.
        let mut slot = known(Held::Empty);
        slot.intend(mac(3));
        slot.refuse(mac(3), FailureReason::NoConfirmation);
        slot.read(Reading::Code(mac(3)));
        assert_eq!((slot.held, slot.refused), (Held::Ours(mac(3)), None));
        assert!(slot.settled(Some(mac(3))));
    }

    /// What a slot can really hold, for the property below.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Truth {
        Empty,
        Keyward(u8),
        Keypad(u8),
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Keyward writes code n; the lock takes it or not; the answer comes or not.
        Write {
            code: u8,
            taken: bool,
            answered: bool,
        },
        Clear {
            taken: bool,
            answered: bool,
        },
        Read {
            answered: bool,
        },
        Program(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u8..4, any::<bool>(), any::<bool>()).prop_map(|(code, taken, answered)| Op::Write {
                code,
                taken,
                answered
            }),
            (any::<bool>(), any::<bool>()).prop_map(|(taken, answered)| Op::Clear { taken, answered }),
            any::<bool>().prop_map(|answered| Op::Read { answered }),
            (10u8..12).prop_map(Op::Program),
        ]
    }

    fn reading(truth: Truth, masked: bool) -> Reading {
        match truth {
            Truth::Empty => Reading::Empty,
            Truth::Keyward(_) | Truth::Keypad(_) if masked => Reading::Hidden,
            Truth::Keyward(n) | Truth::Keypad(n) => Reading::Code(mac(n)),
        }
    }

    proptest! {
        /// Whatever happens, a code keyward wrote and the lock holds is known
        /// as keyward's, and a code programmed at the lock is never taken
        /// for keyward's on a lock that shows codes.
        #[test]
        fn keywards_codes_are_never_lost_track_of(ops in proptest::collection::vec(op(), 1..40), masked: bool) {
            let mut truth = Truth::Empty;
            let mut slot = SlotMemory::default();
            for op in ops {
                match op {
                    Op::Write { code, taken, answered } => {
                        slot.intend(mac(code));
                        if taken {
                            truth = Truth::Keyward(code);
                        }
                        // The adapters' promise: a write answers "hidden" only
                        // when the lock confirmed it; otherwise a masked slot
                        // is no answer at all.
                        let answer = match (answered, taken, masked) {
                            (false, _, _) => Reading::NoAnswer,
                            (true, true, true) => Reading::Hidden,
                            (true, true, false) => Reading::Code(mac(code)),
                            (true, false, _) => match reading(truth, masked) {
                                Reading::Hidden => Reading::NoAnswer,
                                other => other,
                            },
                        };
                        slot.wrote(mac(code), answer);
                    }
                    Op::Clear { taken, answered } => {
                        if taken {
                            truth = Truth::Empty;
                        }
                        if answered { slot.read(reading(truth, masked)) } else { slot.lost() }
                    }
                    Op::Read { answered } => {
                        slot.read(if answered { reading(truth, masked) } else { Reading::NoAnswer });
                    }
                    Op::Program(code) => {
                        truth = Truth::Keypad(code);
                        // The lock reports it: read again before acting.
                        slot.recheck = true;
                    }
                }
                if let Truth::Keyward(_) = truth {
                    prop_assert!(slot.is_keywards(), "keyward's code on the lock but forgotten: {slot:?}");
                }
                if let (Truth::Keypad(_), false, false) = (truth, masked, slot.recheck) {
                    prop_assert!(!matches!(slot.held, Held::Ours(_)), "a keypad code taken for keyward's: {slot:?}");
                }
            }
        }
    }
}

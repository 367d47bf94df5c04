//! Time, handed in. The use cases never read the system clock (clippy.toml
//! forbids it in this crate): the binary gives them the system clock, and
//! tests a [`ManualClock`] that moves only when told.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// A clock for tests: it stands still until set or advanced.
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self { now: Mutex::new(at) }
    }

    pub fn set(&self, at: Timestamp) {
        if let Ok(mut now) = self.now.lock() {
            *now = at;
        }
    }

    /// Moves the clock by `by` (which may be negative: clocks can step back).
    pub fn advance(&self, by: SignedDuration) {
        if let Ok(mut now) = self.now.lock() {
            *now = now.checked_add(by).unwrap_or(*now);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.lock().map(|now| *now).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

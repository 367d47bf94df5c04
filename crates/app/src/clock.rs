//! Time, handed in. The use cases never read the system clock (clippy.toml
//! forbids it in this crate): the binary gives them the system clock, and
//! tests a [`ManualClock`] that moves only when told.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use keyward_store::BoxFuture;
use tokio::sync::Notify;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Resolves once the clock reads `at` or later (the lock sync engine's
    /// lead times and retries wait on this, never on tokio's timers).
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'_, ()>;
}

/// A clock for tests: it stands still until set or advanced, and wakes
/// whatever sleeps until a time it reaches.
pub struct ManualClock {
    now: Mutex<Timestamp>,
    moved: Notify,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self { now: Mutex::new(at), moved: Notify::new() }
    }

    pub fn set(&self, at: Timestamp) {
        if let Ok(mut now) = self.now.lock() {
            *now = at;
        }
        self.moved.notify_waiters();
    }

    /// Moves the clock by `by` (which may be negative: clocks can step back).
    pub fn advance(&self, by: SignedDuration) {
        if let Ok(mut now) = self.now.lock() {
            *now = now.checked_add(by).unwrap_or(*now);
        }
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.lock().map(|now| *now).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let moved = self.moved.notified();
                tokio::pin!(moved);
                // Registered before the check, so a move in between is not missed.
                moved.as_mut().enable();
                if self.now() >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}

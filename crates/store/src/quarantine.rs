//! Homes whose memory ran ahead of a write that failed.
//!
//! An access attempt changes the hub's memory (use and lockout counts)
//! before its record commits, so that attempts in flight share one commit.
//! When such a record fails (a full disk, a lost connection), memory holds
//! counts the store does not, and every record queued after it may have been
//! decided on them. So from that failure on, the writer refuses every record
//! of that home (`OutOfStep`) until the hub has read the home's counts back
//! from the store ([`HomeStore::resync_home`](crate::HomeStore::resync_home)),
//! which also lifts the quarantine: what the store holds and what memory
//! holds never part.
//!
//! Only the writer (one thread or task) touches it, in queue order.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Record, StoreError, StoreResult};

#[derive(Default)]
pub struct Quarantine {
    /// A quick "nothing is quarantined" for the access path.
    any: AtomicBool,
    homes: Mutex<HashSet<String>>,
}

impl Quarantine {
    /// Refuses a record of a quarantined home.
    pub fn admit(&self, record: &Record) -> StoreResult<()> {
        if !self.any.load(Ordering::Acquire) {
            return Ok(());
        }
        let homes = self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if homes.contains(&record.home_id) { Err(StoreError::OutOfStep) } else { Ok(()) }
    }

    /// A record failed: when memory already held it, its home is out of step.
    pub fn failed(&self, record: &Record) {
        if record.applied_ahead {
            self.quarantine(&record.home_id);
        }
    }

    fn quarantine(&self, home_id: &str) {
        let mut homes = self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if homes.insert(home_id.to_owned()) {
            tracing::error!(home = home_id, "a write failed: the home's records wait until its counts are read back");
        }
        self.any.store(true, Ordering::Release);
    }

    /// The hub has read the home's counts back: its records are admitted again.
    pub fn release(&self, home_id: &str) {
        let mut homes = self.homes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        homes.remove(home_id);
        self.any.store(!homes.is_empty(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(home: &str, ahead: bool) -> Record {
        Record { home_id: home.to_owned(), applied_ahead: ahead, ..Record::default() }
    }

    #[test]
    fn a_failed_record_held_in_memory_stops_its_home_until_released() {
        let q = Quarantine::default();
        q.failed(&record("h1", false));
        assert!(q.admit(&record("h1", true)).is_ok(), "a record memory did not hold changes nothing");
        q.failed(&record("h1", true));
        assert!(matches!(q.admit(&record("h1", false)), Err(StoreError::OutOfStep)));
        assert!(q.admit(&record("h2", true)).is_ok(), "other homes go on");
        q.release("h1");
        assert!(q.admit(&record("h1", true)).is_ok());
    }
}

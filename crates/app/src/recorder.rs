//! The one recording path: everything an event changes (activity entries,
//! a lockout count, a use count, a user) is written by one `record` call,
//! in one transaction, and the entries reach live views once committed.

use std::future::Future;
use std::sync::Arc;

use keyward_core::{ActivityEntry, Event};
use keyward_store::{HomeStore, Record, StoreError};
use tokio::sync::{MutexGuard, broadcast};

use crate::AppError;
use crate::registry::{HomeState, SharedHome};
use crate::secrets::new_id;

pub(crate) struct Recorder {
    store: Arc<dyn HomeStore>,
    /// Every entry, once committed, for live views.
    feed: broadcast::Sender<ActivityEntry>,
    /// Woken when notifications were committed: the delivery worker.
    outbox: Arc<tokio::sync::Notify>,
}

impl Recorder {
    pub fn new(store: Arc<dyn HomeStore>, outbox: Arc<tokio::sync::Notify>) -> Self {
        Self { store, feed: broadcast::channel(256).0, outbox }
    }

    /// Queues the record now, with the notifications its entries cause on
    /// the home's channels, in order with every write before it (callers
    /// call this while holding the home's lock, so it is ordered against
    /// their in-memory state); the returned future resolves once it is
    /// durably committed, and then publishes its entries.
    pub fn record<'a>(
        &'a self,
        state: &HomeState,
        mut record: Record,
        now: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + use<'a> {
        record.notifications.extend(crate::alerts::plan(state, &record.entries, now));
        let notifies = !record.notifications.is_empty();
        let pending = self.store.record(record);
        async move {
            let entries = pending.committed().await?;
            if notifies {
                self.outbox.notify_one();
            }
            if self.feed.receiver_count() > 0 {
                for entry in entries {
                    let _ = self.feed.send(entry);
                }
            }
            Ok(())
        }
    }

    /// Queues one event of the home and nothing else (an owner's change, a
    /// lock's report, a no-show), as `record` does.
    pub fn record_event<'a>(
        &'a self,
        state: &HomeState,
        event: Event,
        now: jiff::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + use<'a> {
        let record =
            Record { home_id: state.id().to_owned(), entries: vec![entry(state.id(), event)], ..Record::default() };
        self.record(state, record, now)
    }

    /// Locks a home for a use case. When a write of the home failed after
    /// its counts were applied in memory, the home's counts are first read
    /// back from the store (see `keyward_store::Quarantine`), so memory is
    /// exactly what was committed.
    pub async fn lock<'a>(&self, home: &'a SharedHome) -> Result<MutexGuard<'a, HomeState>, AppError> {
        let mut state = home.lock().await;
        if state.stale {
            let counts = self.store.resync_home(state.id().to_owned()).await?;
            state.apply_counts(counts);
            tracing::info!(home = state.id(), "the home's counts were read back after a failed write");
        }
        Ok(state)
    }

    /// Live activity: every entry after it is committed. A receiver that
    /// falls behind skips entries (the log itself has them all).
    pub fn subscribe(&self) -> broadcast::Receiver<ActivityEntry> {
        self.feed.subscribe()
    }
}

/// An event of a home, with a new id, ready to record.
pub(crate) fn entry(home_id: &str, event: Event) -> ActivityEntry {
    ActivityEntry { id: new_id(), home_id: home_id.to_owned(), event }
}

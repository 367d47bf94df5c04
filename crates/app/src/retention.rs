//! Retention: activity entries, and notifications delivered or given up,
//! older than the configured days are deleted once an hour, in small
//! batches, each its own short transaction, so the access path (whose
//! records queue between them) never waits behind a long delete.

use std::sync::Arc;

use jiff::SignedDuration;
use keyward_store::ActivityStore;

use crate::clock::Clock;

/// Rows per kind a batch deletes.
const BATCH: u32 = 500;
/// How often the log is pruned.
const EVERY: SignedDuration = SignedDuration::from_hours(1);

pub(crate) fn start(
    store: Arc<dyn ActivityStore>,
    clock: Arc<dyn Clock>,
    keep: SignedDuration,
    tasks: &crate::tasks::Tasks,
) {
    tasks.spawn(async move {
        loop {
            let now = clock.now();
            let before = now - keep;
            let mut pruned = 0_u64;
            loop {
                match store.prune(before, BATCH).await {
                    Ok(rows) => {
                        pruned += rows;
                        if rows == 0 {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "old activity could not be pruned; tried again in an hour");
                        break;
                    }
                }
                // Let whatever queued meanwhile go first.
                tokio::task::yield_now().await;
            }
            if pruned > 0 {
                tracing::info!(rows = pruned, %before, "pruned activity and notifications past the retention");
            }
            clock.sleep_until(now + EVERY).await;
        }
    });
}

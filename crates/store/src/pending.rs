//! A write that is queued: its caller awaits the commit.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::oneshot;

use crate::{StoreError, StoreResult};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outcome of a write queued earlier, known once its transaction
/// committed (or failed). A caller that must order a write against its
/// in-memory state queues while holding its lock and awaits after.
pub struct Pending<T>(oneshot::Receiver<StoreResult<T>>);

/// Where a backend sends the outcome of a queued write.
pub struct Reply<T>(oneshot::Sender<StoreResult<T>>);

impl<T> Pending<T> {
    pub fn new() -> (Reply<T>, Self) {
        let (sender, receiver) = oneshot::channel();
        (Reply(sender), Self(receiver))
    }

    /// A write that failed before it could be queued.
    pub fn failed(error: StoreError) -> Self {
        let (reply, pending) = Self::new();
        reply.send(Err(error));
        pending
    }

    pub async fn committed(self) -> StoreResult<T> {
        self.0.await.map_err(|_| StoreError::WriterGone)?
    }
}

impl<T> Reply<T> {
    pub fn send(self, outcome: StoreResult<T>) {
        // The caller may have gone away; what was committed stays committed.
        let _ = self.0.send(outcome);
    }
}

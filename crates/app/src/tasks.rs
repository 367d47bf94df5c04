//! The background work of one `App` (lock workers, the outbox, the no-show
//! watch, reloads, retention), so that it can be stopped as a whole: a hub
//! that lost its hold on the database (PostgreSQL's instance lock) stops
//! the `App` built from its old memory before it builds a new one, and no
//! worker of the old one may act after that.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::AbortHandle;

#[derive(Clone, Default)]
pub(crate) struct Tasks {
    inner: Arc<Mutex<Running>>,
}

#[derive(Default)]
struct Running {
    stopped: bool,
    handles: Vec<AbortHandle>,
}

impl Tasks {
    /// Runs `work` in the background until it ends or the tasks are stopped;
    /// once stopped, nothing new starts.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut running = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if running.stopped {
            return;
        }
        if running.handles.len() >= 64 {
            running.handles.retain(|handle| !handle.is_finished());
        }
        running.handles.push(tokio::spawn(work).abort_handle());
    }

    /// Ends every task at its next await point, as a crash would (every
    /// engine resumes from what is stored), and refuses new ones.
    pub fn stop(&self) {
        let mut running = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        running.stopped = true;
        for handle in running.handles.drain(..) {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Says when the task holding it ends (an aborted task drops it).
    struct Ended(Option<tokio::sync::oneshot::Sender<()>>);

    impl Drop for Ended {
        fn drop(&mut self) {
            if let Some(ended) = self.0.take() {
                let _ = ended.send(());
            }
        }
    }

    #[tokio::test]
    async fn stopped_tasks_end_and_no_new_one_starts() {
        let tasks = Tasks::default();
        let (ended, was_ended) = tokio::sync::oneshot::channel();
        let (started, mut was_started) = tokio::sync::mpsc::unbounded_channel::<&str>();
        let first = started.clone();
        tasks.spawn(async move {
            let _ended = Ended(Some(ended));
            let _ = first.send("first");
            std::future::pending::<()>().await;
        });
        assert_eq!(was_started.recv().await, Some("first"));
        tasks.stop();
        was_ended.await.expect("the running task ended");
        tasks.spawn(async move {
            let _ = started.send("late");
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(was_started.recv().await, None, "a task started after stop");
    }
}

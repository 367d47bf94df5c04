//! A bound on password hashing: each Argon2id hash takes 19 MiB and a core
//! for tens of milliseconds, and anyone who can reach the sign-in form can
//! ask for one. A few run at once, a few more wait their turn, and the rest
//! are refused at once, so memory stays small whatever arrives and the
//! cores stay free for the doors.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// Hashes run at once: one per core of a small board.
pub const HASHES_AT_ONCE: usize = 2;
/// Attempts that may wait for a turn; each holds only its form.
pub const HASHES_WAITING: usize = 32;

/// Refused: too many passwords are being checked already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("keyward is busy checking other sign-ins: try again in a moment")]
pub struct Busy;

/// Runs password hashes on the blocking pool, a bounded number at once.
pub struct PasswordHashing {
    turns: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self::new(HASHES_AT_ONCE, HASHES_WAITING)
    }
}

impl PasswordHashing {
    pub fn new(at_once: usize, max_waiting: usize) -> Self {
        Self { turns: Semaphore::new(at_once), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// Runs `work` (a hash or a verification) when a turn is free; `Busy`
    /// when every turn is taken and the waiting line is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashingError> {
        let turn = match self.turns.try_acquire() {
            Ok(turn) => turn,
            Err(_) => {
                let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
                let _leave = Leave(&self.waiting);
                if queued >= self.max_waiting {
                    return Err(HashingError::Busy(Busy));
                }
                self.turns.acquire().await.map_err(|_| HashingError::Stopped)?
            }
        };
        let done = tokio::task::spawn_blocking(work).await.map_err(|_| HashingError::Stopped);
        drop(turn);
        done
    }

    /// Hashes waiting for a turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// Leaves the waiting line however the wait ends (turn, refusal, cancelled request).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The blocking pool went away or the work panicked.
    #[error("password hashing stopped")]
    Stopped,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_full_line_is_refused_and_the_rest_wait_their_turn() {
        let hashing = Arc::new(PasswordHashing::new(1, 2));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let blocker = {
            let hashing = hashing.clone();
            let held = held.clone();
            tokio::spawn(
                async move { hashing.run(move || held.lock().map(|h| h.recv().is_ok()).unwrap_or(false)).await },
            )
        };
        // Wait until the one turn is taken.
        while hashing.turns.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let hashing = hashing.clone();
                tokio::spawn(async move { hashing.run(move || i).await })
            })
            .collect();
        while hashing.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(hashing.run(|| 9).await, Err(HashingError::Busy(Busy))), "the line is full");
        assert_eq!(hashing.waiting(), 2, "a refusal leaves the line as it was");
        release.send(()).expect("blocker listens");
        assert!(matches!(blocker.await.expect("joined"), Ok(true)));
        for (i, waiter) in waiters.into_iter().enumerate() {
            assert_eq!(waiter.await.expect("joined").expect("ran"), i);
        }
        assert_eq!(hashing.waiting(), 0);
        assert_eq!(hashing.run(|| 7).await.expect("free again"), 7);
    }
}

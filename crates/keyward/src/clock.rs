//! The one place that reads the system clock and sleeps: the binary hands it
//! to the use cases, which may do neither themselves.

use std::time::Duration;

use jiff::Timestamp;
use keyward_app::Clock;
use keyward_store::BoxFuture;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Sleeps in steps of at most a minute, so that a wall clock set
            // forward (NTP after boot on a Raspberry Pi) is noticed.
            loop {
                let left = at.duration_since(Timestamp::now());
                if left <= jiff::SignedDuration::ZERO {
                    return;
                }
                let step = Duration::try_from(left).unwrap_or(Duration::ZERO).min(Duration::from_secs(60));
                tokio::time::sleep(step).await;
            }
        })
    }
}

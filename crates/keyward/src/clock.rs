//! The one place that reads the system clock: the binary hands it to the
//! use cases, which may not read it themselves.

use jiff::Timestamp;
use keyward_app::Clock;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

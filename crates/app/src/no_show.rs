//! The no-show watch: "tell me if the dog walker has not arrived by 12:30 on
//! weekdays". At each user's deadline (their rule, in the home's time zone,
//! from the clock handed in) it looks in the activity log for an arrival of
//! theirs since that day began; without one it records a `no_show` entry at
//! the deadline, through the one recording path, whose alert goes to the
//! user's channels.
//!
//! A restart forgets nothing: deadlines of the last 24 hours are looked at
//! again when keyward starts, and one already told (a `no_show` entry at that
//! instant) is not told twice. A disabled user, or one outside their dates,
//! is not expected, so not reported.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use keyward_core::{ActivityKind, Event, UserRef};
use keyward_store::{ActivityFilter, ActivityStore};

use crate::AppError;
use crate::clock::Clock;
use crate::recorder::Recorder;
use crate::registry::{Registry, SharedHome};

/// How far back a start looks for deadlines it may have slept through.
const LOOK_BACK: SignedDuration = SignedDuration::from_hours(24);
/// How often the rules are read again without a deadline due (a rule added
/// or changed takes effect within this time).
const LOOK_EVERY: SignedDuration = SignedDuration::from_secs(60);
/// The most of one user's entries of one day that are looked through.
const DAY_ENTRIES: u32 = 500;

pub(crate) struct NoShows {
    registry: Arc<Registry>,
    store: Arc<dyn ActivityStore>,
    recorder: Arc<Recorder>,
    clock: Arc<dyn Clock>,
}

impl NoShows {
    pub(crate) fn start(
        registry: Arc<Registry>,
        store: Arc<dyn ActivityStore>,
        recorder: Arc<Recorder>,
        clock: Arc<dyn Clock>,
        tasks: &crate::tasks::Tasks,
    ) {
        let watch = Self { registry, store, recorder, clock };
        tasks.spawn(async move { watch.run().await });
    }

    async fn run(self) {
        let mut since = self.clock.now() - LOOK_BACK;
        loop {
            let now = self.clock.now();
            let next = match self.look(since, now).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(%error, "no-show rules could not be checked; tried again shortly");
                    now + LOOK_EVERY
                }
            };
            since = now;
            self.clock.sleep_until(next.min(now + LOOK_EVERY)).await;
        }
    }

    /// Checks every deadline in (`since`, `now`]; answers when the next
    /// one falls due.
    async fn look(&self, since: Timestamp, now: Timestamp) -> Result<Timestamp, AppError> {
        let mut next = now + LOOK_EVERY;
        for home in self.registry.all()? {
            let (home_id, tz, rules) = {
                let state = home.lock().await;
                let rules: Vec<_> = state
                    .users
                    .values()
                    .filter_map(|r| r.user.alerts.no_show.clone().map(|rule| (r.user.id.clone(), rule)))
                    .collect();
                (state.id().to_owned(), state.home.zone.tz().clone(), rules)
            };
            for (user_id, rule) in rules {
                let mut after = since;
                while let Some(deadline) = rule.next_deadline(&tz, after) {
                    if deadline > now {
                        next = next.min(deadline);
                        break;
                    }
                    self.check(&home, &home_id, &user_id, &tz, deadline).await?;
                    after = deadline;
                }
            }
        }
        Ok(next)
    }

    /// Records a no-show at `deadline` unless the user arrived that day by
    /// then, or it was already told.
    async fn check(
        &self,
        home: &SharedHome,
        home_id: &str,
        user_id: &str,
        tz: &jiff::tz::TimeZone,
        deadline: Timestamp,
    ) -> Result<(), AppError> {
        let day = tz.to_datetime(deadline).date();
        let day_start = tz.to_ambiguous_timestamp(day.to_datetime(jiff::civil::Time::midnight())).compatible();
        let day_start = day_start.unwrap_or(deadline);
        let filter = ActivityFilter {
            home_id: home_id.to_owned(),
            user_id: Some(user_id.to_owned()),
            device: None,
            outcome: None,
            since: Some(day_start),
            until: None,
            before: None,
            limit: DAY_ENTRIES,
        };
        let page = self.store.activity(filter).await?;
        let arrived = page.entries.iter().any(|e| e.event.kind == ActivityKind::Arrival && e.event.at <= deadline);
        let told = page.entries.iter().any(|e| e.event.kind == ActivityKind::NoShow && e.event.at == deadline);
        if arrived || told {
            return Ok(());
        }
        let state = self.recorder.lock(home).await?;
        let Some(record) = state.users.get(user_id) else { return Ok(()) };
        let user = &record.user;
        let within_dates = user.validity.starts(tz).is_none_or(|from| from <= deadline)
            && user.validity.ends(tz).is_none_or(|until| deadline < until);
        // The rule may have changed since it was read: this deadline must still be one of it.
        let still_due = user
            .alerts
            .no_show
            .as_ref()
            .is_some_and(|rule| rule.next_deadline(tz, deadline - SignedDuration::from_secs(1)) == Some(deadline));
        if !user.enabled || !within_dates || !still_due {
            return Ok(());
        }
        tracing::info!(home = home_id, user = user_id, %deadline, "a user has not arrived by their time");
        let user = UserRef { id: user.id.clone(), name: user.name.as_str().to_owned() };
        let event = Event { user: Some(user), ..Event::bare(ActivityKind::NoShow, deadline) };
        let committed = self.recorder.record_event(&state, event, self.clock.now());
        drop(state);
        committed.await?;
        Ok(())
    }
}

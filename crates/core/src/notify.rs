//! Alerts: which notifications an event causes, on which of a home's
//! channels, and what they say. Pure: the event, the user's alert settings,
//! the channels and the home's wall clock are handed in.
//!
//! Decisions (docs/notifications.md):
//! - A user's arrival and departure go to the channels the owner chose for
//!   that user (all of the home's by default), optionally only within hours.
//! - Home alerts (duress, keypad lockout, a known code refused, a lock's
//!   problem) go to the channels marked for emergencies.
//! - Duress is silent: the duress user's own arrival alert is the ordinary
//!   one; only the emergency channels hear of the duress.
//! - Quiet hours hold back everything but urgent alerts (duress and keypad
//!   lockout); what is held back is not sent later (an arrival at 23:00 told
//!   at 07:00 would mislead).

use jiff::Timestamp;
use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::activity::{ActivityKind, Event, Outcome};
use crate::decide::DenyReason;
use crate::schedule::{DAY_NAMES, Schedule, ScheduleError, ScheduleSpec, format_time, parse_time, wall_time};
use crate::string_form::string_form;

/// What a notification is about; its string form is the webhook `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    Arrival,
    Departure,
    /// A code keyward knows was refused (outside its hours, expired, …).
    Denied,
    Duress,
    Lockout,
    /// Unknown codes keep being typed at a lock's keypad.
    KeypadGuessing,
    NoShow,
    /// A lock jammed, or a code did not reach it.
    LockProblem,
    DeviceOffline,
    /// The alarm went off (told after the abort window for a burglary).
    Alarm,
    /// An alarm disarmed within its abort window.
    AlarmCancelled,
    /// The panel has a trouble (a sensor offline, a siren silent, …).
    PanelTrouble,
    Test,
}

string_form!(AlertKind {
    Arrival => "access.arrival",
    Departure => "access.departure",
    Denied => "access.denied",
    Duress => "alarm.duress",
    Lockout => "keypad.lockout",
    KeypadGuessing => "keypad.guessing",
    NoShow => "user.no_show",
    LockProblem => "lock.problem",
    DeviceOffline => "device.offline",
    Alarm => "alarm.triggered",
    AlarmCancelled => "alarm.cancelled",
    PanelTrouble => "panel.trouble",
    Test => "test",
});

impl AlertKind {
    /// Sent through quiet hours, with the highest priority a channel has.
    pub fn urgent(self) -> bool {
        matches!(self, Self::Duress | Self::Lockout | Self::KeypadGuessing | Self::Alarm)
    }

    /// Goes to the home's emergency channels rather than a user's.
    pub fn home_alert(self) -> bool {
        matches!(
            self,
            Self::Denied
                | Self::Duress
                | Self::Lockout
                | Self::KeypadGuessing
                | Self::LockProblem
                | Self::DeviceOffline
                | Self::Alarm
                | Self::AlarmCancelled
                | Self::PanelTrouble
        )
    }
}

/// The channels a user's arrivals and departures go to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChannelChoice {
    /// Every channel of the home, those added later too.
    #[default]
    All,
    Only(Vec<String>),
}

/// What the owner wants to hear about one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserAlerts {
    pub arrive: bool,
    pub leave: bool,
    pub channels: ChannelChoice,
    /// Only within these hours ("school days 14:00–18:00"); none: always.
    pub hours: Option<Schedule>,
}

/// A span of wall-clock time each day; past midnight when `end <= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
}

impl QuietHours {
    pub fn contains(&self, wall: Time) -> bool {
        if self.start < self.end {
            self.start <= wall && wall < self.end
        } else {
            wall >= self.start || wall < self.end
        }
    }
}

/// A channel as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRoute {
    pub id: String,
    /// Receives the home alerts (duress and the other emergencies).
    pub emergency: bool,
    pub quiet: Option<QuietHours>,
}

/// The alerts an event causes. `alerts` are the settings of the event's
/// user, if it has one.
pub fn alerts_for(event: &Event, alerts: Option<&UserAlerts>, tz: &TimeZone) -> Vec<AlertKind> {
    let mut kinds = Vec::new();
    let in_hours = |a: &UserAlerts| a.hours.as_ref().is_none_or(|h| h.is_open_at(tz, event.at));
    match event.kind {
        ActivityKind::Arrival => {
            if alerts.is_some_and(|a| a.arrive && in_hours(a)) {
                kinds.push(AlertKind::Arrival);
            }
            if event.duress {
                kinds.push(AlertKind::Duress);
            }
        }
        ActivityKind::Departure => {
            if alerts.is_some_and(|a| a.leave && in_hours(a)) {
                kinds.push(AlertKind::Departure);
            }
            if event.duress {
                kinds.push(AlertKind::Duress);
            }
        }
        ActivityKind::AccessDenied => {
            // A code keyward knows, refused: worth a look. A wrong code is
            // not (the lockout says when wrong codes add up).
            let known = event.user.is_some()
                && event.outcome == Some(Outcome::Denied)
                && !matches!(
                    event.reason,
                    Some(DenyReason::UnknownCode | DenyReason::LockedOut | DenyReason::NotReady) | None
                );
            if known {
                kinds.push(AlertKind::Denied);
            }
        }
        ActivityKind::Lockout | ActivityKind::HomeLockout => kinds.push(AlertKind::Lockout),
        ActivityKind::KeypadGuessing => kinds.push(AlertKind::KeypadGuessing),
        ActivityKind::Jammed => kinds.push(AlertKind::LockProblem),
        // The rule is the user's own: told whatever their alert hours.
        ActivityKind::NoShow => kinds.push(AlertKind::NoShow),
        ActivityKind::CodeFailed => kinds.push(AlertKind::LockProblem),
        ActivityKind::Offline => kinds.push(AlertKind::DeviceOffline),
        ActivityKind::BatteryLow => kinds.push(AlertKind::LockProblem),
        ActivityKind::CodesLeft => kinds.push(AlertKind::LockProblem),
        ActivityKind::Alarm => kinds.push(AlertKind::Alarm),
        ActivityKind::AlarmCancelled => kinds.push(AlertKind::AlarmCancelled),
        ActivityKind::Trouble => kinds.push(AlertKind::PanelTrouble),
        _ => {}
    }
    kinds
}

/// The channels an alert goes to at `at`.
pub fn route(
    kind: AlertKind,
    choice: &ChannelChoice,
    channels: &[ChannelRoute],
    tz: &TimeZone,
    at: Timestamp,
) -> Vec<String> {
    let wall = tz.to_datetime(at).time();
    channels
        .iter()
        .filter(|c| match kind {
            AlertKind::Test => true,
            k if k.home_alert() => c.emergency,
            _ => match choice {
                ChannelChoice::All => true,
                ChannelChoice::Only(ids) => ids.contains(&c.id),
            },
        })
        .filter(|c| kind.urgent() || kind == AlertKind::Test || c.quiet.is_none_or(|q| !q.contains(wall)))
        .map(|c| c.id.clone())
        .collect()
}

/// "Tell me if they have not arrived by 12:30 on weekdays", in the home's
/// time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoShowRule {
    /// Days of the week, Monday 0 to Sunday 6.
    pub days: Vec<u8>,
    pub by: Time,
}

impl NoShowRule {
    /// The first deadline after `after`: `by` on the next listed day, as an
    /// instant in `tz`. A `by` that a spring-forward gap skips that day is
    /// the first instant after the gap; one an autumn fold repeats is its
    /// first occurrence.
    pub fn next_deadline(&self, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let today = tz.to_datetime(after).date();
        (0..8).find_map(|offset| {
            let day = today.checked_add(jiff::Span::new().days(offset)).ok()?;
            let weekday = day.weekday().to_monday_zero_offset() as u8;
            if !self.days.contains(&weekday) {
                return None;
            }
            let at = tz.to_ambiguous_timestamp(day.to_datetime(self.by)).compatible().ok()?;
            (at > after).then_some(at)
        })
    }

    /// Whether the deadline at `deadline` passed without the user arriving
    /// that day (since the day's start in `tz`).
    pub fn missed(tz: &TimeZone, deadline: Timestamp, last_arrival: Option<Timestamp>) -> bool {
        let day_start = tz.to_datetime(deadline).date().to_datetime(Time::midnight());
        let since = tz.to_ambiguous_timestamp(day_start).compatible().unwrap_or(deadline);
        last_arrival.is_none_or(|arrived| arrived < since || arrived > deadline)
    }
}

/// Which of a user's moves the owner hears about beyond arrive and leave,
/// and where: the channels (all of the home's by default), the hours within
/// which arrivals and departures are told, and a no-show rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertRules {
    pub channels: ChannelChoice,
    pub hours: Option<Schedule>,
    pub no_show: Option<NoShowRule>,
}

/// The wire form of `AlertRules`, as the API and the store read and write
/// it: `{"channels": "all" | ["id", …], "hours": schedule | null,
/// "no_show": {"days": ["mon", …], "by": "12:30"} | null}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRulesSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<ChannelsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<ScheduleSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_show: Option<NoShowSpec>,
}

/// `"all"` or a list of channel ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChannelsSpec {
    Word(String),
    Ids(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoShowSpec {
    pub days: Vec<String>,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertRulesError {
    #[error("channels is \"all\" or a list of the home's channel ids (at most 32)")]
    Channels,
    #[error("alert hours: {0}")]
    Hours(ScheduleError),
    #[error("a no-show rule names days (mon … sun, each once) and a time by which the user arrives, \"HH:MM\"")]
    NoShow,
}

impl AlertRules {
    pub fn parse(spec: &AlertRulesSpec) -> Result<Self, AlertRulesError> {
        let channels = match &spec.channels {
            None => ChannelChoice::All,
            Some(ChannelsSpec::Word(word)) if word == "all" => ChannelChoice::All,
            Some(ChannelsSpec::Word(_)) => return Err(AlertRulesError::Channels),
            Some(ChannelsSpec::Ids(ids)) => {
                let mut unique = ids.clone();
                unique.sort();
                unique.dedup();
                if ids.len() > 32
                    || unique.len() != ids.len()
                    || ids.iter().any(|id| id.is_empty() || id.chars().count() > 64)
                {
                    return Err(AlertRulesError::Channels);
                }
                ChannelChoice::Only(ids.clone())
            }
        };
        let hours = spec.hours.as_ref().map(Schedule::parse).transpose().map_err(AlertRulesError::Hours)?;
        let no_show = spec.no_show.as_ref().map(NoShowRule::parse).transpose()?;
        Ok(Self { channels, hours, no_show })
    }

    pub fn to_spec(&self) -> AlertRulesSpec {
        AlertRulesSpec {
            channels: Some(match &self.channels {
                ChannelChoice::All => ChannelsSpec::Word("all".into()),
                ChannelChoice::Only(ids) => ChannelsSpec::Ids(ids.clone()),
            }),
            hours: self.hours.as_ref().map(Schedule::to_spec),
            no_show: self.no_show.as_ref().map(NoShowRule::to_spec),
        }
    }
}

impl NoShowRule {
    pub fn parse(spec: &NoShowSpec) -> Result<Self, AlertRulesError> {
        let mut days = Vec::new();
        for name in &spec.days {
            let day = DAY_NAMES.iter().position(|d| *d == name.as_str()).ok_or(AlertRulesError::NoShow)?;
            let day = u8::try_from(day).map_err(|_| AlertRulesError::NoShow)?;
            if days.contains(&day) {
                return Err(AlertRulesError::NoShow);
            }
            days.push(day);
        }
        if days.is_empty() {
            return Err(AlertRulesError::NoShow);
        }
        days.sort_unstable();
        let by = parse_time(&spec.by, false).map_err(|_| AlertRulesError::NoShow)?;
        Ok(Self { days, by: wall_time(by) })
    }

    pub fn to_spec(&self) -> NoShowSpec {
        let seconds = |t: Time| {
            u32::from(t.hour().unsigned_abs()) * 3600
                + u32::from(t.minute().unsigned_abs()) * 60
                + u32::from(t.second().unsigned_abs())
        };
        NoShowSpec {
            days: self.days.iter().filter_map(|d| DAY_NAMES.get(usize::from(*d))).map(|d| (*d).to_owned()).collect(),
            by: format_time(seconds(self.by)),
        }
    }
}

/// How long keyward keeps trying to deliver a notification before it is
/// marked failed and shown to the owner.
pub const DELIVERY_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// The wait before delivery attempt `attempt` + 1 of a channel's oldest
/// notification (`attempt` failures so far, 1-based): 1 s doubling to a
/// ceiling of 60 s — so a channel back after any outage gets everything
/// within about a minute — times a jitter in [0.5, 1) drawn by the caller
/// (`jitter` in [0, 1)), so receivers coming back are not hit in step.
pub fn delivery_delay(attempt: u32, jitter: f64) -> jiff::SignedDuration {
    const FIRST_MS: i64 = 1_000;
    const CEILING_MS: i64 = 60_000;
    let doublings = attempt.saturating_sub(1).min(16);
    let full = (FIRST_MS << doublings).min(CEILING_MS);
    let factor = 0.5 + jitter.clamp(0.0, 1.0) / 2.0;
    jiff::SignedDuration::from_millis((full as f64 * factor) as i64)
}

/// A notification in words, for people. Never holds a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub body: String,
}

/// Names as the message shows them.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub user: Option<&'a str>,
    /// The lock's name, or "the alarm panel".
    pub device: Option<&'a str>,
    pub home: &'a str,
    /// The event's detail, for the messages that tell it.
    pub detail: Option<&'a str>,
}

/// The message for an alert that `cause` (the event's kind) raised, at
/// `wall` (the home's time): a lock problem says which.
pub fn message_for(kind: AlertKind, cause: ActivityKind, names: Names<'_>, wall: DateTime) -> Message {
    let time = wall.strftime("%H:%M").to_string();
    let device = names.device.unwrap_or("A lock");
    match (kind, cause) {
        (AlertKind::LockProblem, ActivityKind::CodeFailed) => Message {
            title: format!("A code did not reach {device}"),
            body: format!(
                "{}'s code could not be put on {device} · {time}. Its page in keyward says why and offers to try again.",
                names.user.unwrap_or("A user")
            ),
        },
        (AlertKind::LockProblem, ActivityKind::Jammed) => Message {
            title: format!("{device} is jammed"),
            body: format!("{device} reported its bolt jammed · {time}. Check the door."),
        },
        (AlertKind::LockProblem, ActivityKind::CodesLeft) => Message {
            title: format!("Codes stay on {device}"),
            body: format!(
                "{device} was removed before keyward could take its codes off · {time}. {} Clear them at the lock, or they keep opening it.",
                names.detail.unwrap_or("Some codes stay on it.")
            ),
        },
        (AlertKind::LockProblem, ActivityKind::BatteryLow) => Message {
            title: format!("{device}'s battery is low"),
            body: format!(
                "{device} reported its battery low · {time}. Replace it soon: a flat lock takes no codes and may not open."
            ),
        },
        _ => message(kind, names, wall),
    }
}

/// The message for an alert at `wall` (the home's time).
pub fn message(kind: AlertKind, names: Names<'_>, wall: DateTime) -> Message {
    let who = names.user.unwrap_or("Someone");
    let time = wall.strftime("%H:%M").to_string();
    let place = names.device.map(|d| format!(" · {d}")).unwrap_or_default();
    let (title, body) = match kind {
        AlertKind::Arrival => (format!("{who} arrived"), format!("{who} arrived{place} · {time}")),
        AlertKind::Departure => (format!("{who} left"), format!("{who} left{place} · {time}")),
        AlertKind::Denied => (
            format!("{who}'s code was refused"),
            format!("{who}'s code was refused{place} · {time}: it does not work at this time."),
        ),
        AlertKind::Duress => (
            format!("Duress code used at {}", names.home),
            format!("{who} used their duress code{place} · {time}. The keypad answered as usual. Check on the home."),
        ),
        AlertKind::Lockout => (
            format!("Keypad locked out at {}", names.home),
            format!("Too many wrong codes{place} · {time}: the keypad refuses codes for a while."),
        ),
        AlertKind::KeypadGuessing => {
            let how_many = names.detail.map(|d| format!(" ({d})")).unwrap_or_default();
            (
                format!("Someone is guessing codes at {}", names.home),
                format!("Wrong codes typed again and again{place} · {time}{how_many}. Check who is at the door."),
            )
        }
        AlertKind::NoShow => (format!("{who} has not arrived"), format!("{who} has not arrived by {time}.")),
        AlertKind::LockProblem => {
            (format!("A lock needs attention at {}", names.home), format!("A problem{place} · {time}."))
        }
        AlertKind::DeviceOffline => {
            let device = names.device.unwrap_or("A lock");
            (
                format!("{device} is offline"),
                format!("{device} at {} stopped answering · {time}. Its codes wait until it is back.", names.home),
            )
        }
        AlertKind::Alarm => {
            let what = names.detail.unwrap_or("The alarm went off");
            (format!("ALARM at {}", names.home), format!("{what} · {time}."))
        }
        AlertKind::AlarmCancelled => (
            format!("Alarm cancelled at {}", names.home),
            format!(
                "{} disarmed within the abort window · {time}. Nothing was sent to the emergency channels before.",
                names.user.unwrap_or("Someone")
            ),
        ),
        AlertKind::PanelTrouble => (
            format!("The alarm needs attention at {}", names.home),
            format!("{} · {time}.", names.detail.unwrap_or("A trouble")),
        ),
        AlertKind::Test => {
            (format!("Test from keyward ({})", names.home), format!("This channel works. Sent at {time}."))
        }
    };
    Message { title, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_problems_say_which() {
        let names = Names { user: Some("Dog walker"), device: Some("Front door"), home: "Home", detail: None };
        let wall: DateTime = "2026-11-26T11:42:00".parse().expect("wall");
        let failed = message_for(AlertKind::LockProblem, ActivityKind::CodeFailed, names, wall);
        assert_eq!(failed.title, "A code did not reach Front door");
        assert!(
            failed.body.starts_with("Dog walker's code could not be put on Front door · 11:42."),
            "{}",
            failed.body
        );
        let jammed = message_for(AlertKind::LockProblem, ActivityKind::Jammed, names, wall);
        assert_eq!(jammed.title, "Front door is jammed");
        let battery = message_for(AlertKind::LockProblem, ActivityKind::BatteryLow, names, wall);
        assert_eq!(battery.title, "Front door's battery is low");
        assert!(battery.body.starts_with("Front door reported its battery low · 11:42."), "{}", battery.body);
        let offline = message_for(AlertKind::DeviceOffline, ActivityKind::Offline, names, wall);
        assert_eq!(offline.title, "Front door is offline");
        assert_eq!(offline.body, "Front door at Home stopped answering · 11:42. Its codes wait until it is back.");
    }

    #[test]
    fn alert_rules_round_trip_and_refuse_what_is_malformed() {
        let spec: AlertRulesSpec = serde_json::from_str(
            r#"{"channels": ["c1", "c2"], "hours": {"windows": [{"days": ["mon"], "start": "14:00", "end": "18:00"}]},
                "no_show": {"days": ["fri", "mon"], "by": "12:30"}}"#,
        )
        .expect("json");
        let rules = AlertRules::parse(&spec).expect("rules");
        assert_eq!(rules.channels, ChannelChoice::Only(vec!["c1".into(), "c2".into()]));
        assert_eq!(rules.no_show.as_ref().map(|n| n.days.clone()), Some(vec![0, 4]));
        assert_eq!(AlertRules::parse(&rules.to_spec()), Ok(rules.clone()));
        assert_eq!(
            rules.to_spec().no_show.map(|n| (n.days, n.by)),
            Some((vec!["mon".into(), "fri".into()], "12:30".into()))
        );
        assert_eq!(AlertRules::parse(&AlertRulesSpec::default()), Ok(AlertRules::default()));
        let bad = |json: &str| AlertRules::parse(&serde_json::from_str(json).expect("json")).is_err();
        assert!(bad(r#"{"channels": "some"}"#));
        assert!(bad(r#"{"channels": ["a", "a"]}"#));
        assert!(bad(r#"{"no_show": {"days": [], "by": "12:30"}}"#));
        assert!(bad(r#"{"no_show": {"days": ["mon", "mon"], "by": "12:30"}}"#));
        assert!(bad(r#"{"no_show": {"days": ["mon"], "by": "24:00"}}"#));
        assert!(bad(r#"{"hours": {"windows": []}}"#));
    }
    use crate::activity::{Actor, UserRef};
    use crate::schedule::{ScheduleSpec, WindowSpec};

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("zone")
    }

    fn event(kind: ActivityKind, at: &str) -> Event {
        Event {
            at: at.parse().expect("instant"),
            kind,
            device: Some("front".into()),
            action: None,
            outcome: Some(Outcome::Granted),
            reason: None,
            user: Some(UserRef { id: "u1".into(), name: "Dog walker".into() }),
            duress: false,
            actor: Some(Actor::Lock("keypad".into())),
            detail: None,
        }
    }

    fn channel(id: &str, emergency: bool) -> ChannelRoute {
        ChannelRoute { id: id.into(), emergency, quiet: None }
    }

    #[test]
    fn arrivals_follow_the_user_s_settings_and_hours() {
        let tz = berlin();
        let arrival = event(ActivityKind::Arrival, "2026-11-26T13:30:00Z"); // Thursday 14:30 in Berlin
        assert!(alerts_for(&arrival, None, &tz).is_empty(), "no settings, no alert");
        let on = UserAlerts { arrive: true, ..UserAlerts::default() };
        assert_eq!(alerts_for(&arrival, Some(&on), &tz), [AlertKind::Arrival]);
        let leave_only = UserAlerts { leave: true, ..UserAlerts::default() };
        assert!(alerts_for(&arrival, Some(&leave_only), &tz).is_empty());
        let school = Schedule::parse(&ScheduleSpec::windows(vec![WindowSpec::weekly(
            &["mon", "tue", "wed", "thu", "fri"],
            "14:00",
            "18:00",
        )]))
        .expect("schedule");
        let kids = UserAlerts { arrive: true, hours: Some(school), ..UserAlerts::default() };
        assert_eq!(alerts_for(&arrival, Some(&kids), &tz), [AlertKind::Arrival]);
        let morning = event(ActivityKind::Arrival, "2026-11-26T07:30:00Z");
        assert!(alerts_for(&morning, Some(&kids), &tz).is_empty(), "outside the hours");
    }

    #[test]
    fn duress_is_told_to_the_emergency_channels_only_and_looks_ordinary_elsewhere() {
        let tz = berlin();
        let mut arrival = event(ActivityKind::Arrival, "2026-11-26T13:30:00Z");
        arrival.duress = true;
        let on = UserAlerts { arrive: true, ..UserAlerts::default() };
        assert_eq!(alerts_for(&arrival, Some(&on), &tz), [AlertKind::Arrival, AlertKind::Duress]);
        let channels = [channel("phone", false), channel("siren", true)];
        let at = arrival.at;
        assert_eq!(route(AlertKind::Duress, &ChannelChoice::All, &channels, &tz, at), ["siren"]);
        assert_eq!(route(AlertKind::Arrival, &ChannelChoice::All, &channels, &tz, at), ["phone", "siren"]);
        let ordinary = message(
            AlertKind::Arrival,
            Names { user: Some("Dog walker"), device: None, home: "Home", detail: None },
            tz.to_datetime(at),
        );
        assert!(!ordinary.body.to_lowercase().contains("duress"));
    }

    #[test]
    fn refusals_of_known_codes_and_lockouts_are_home_alerts() {
        let tz = berlin();
        let mut refused = event(ActivityKind::AccessDenied, "2026-11-26T13:30:00Z");
        refused.outcome = Some(Outcome::Denied);
        refused.reason = Some(DenyReason::OutsideSchedule);
        assert_eq!(alerts_for(&refused, None, &tz), [AlertKind::Denied]);
        refused.reason = Some(DenyReason::UnknownCode);
        refused.user = None;
        assert!(alerts_for(&refused, None, &tz).is_empty(), "a wrong code alone is not an alert");
        let lockout = Event { kind: ActivityKind::Lockout, user: None, ..refused.clone() };
        assert_eq!(alerts_for(&lockout, None, &tz), [AlertKind::Lockout]);
        let battery = Event { kind: ActivityKind::BatteryLow, outcome: None, reason: None, ..lockout.clone() };
        assert_eq!(alerts_for(&battery, None, &tz), [AlertKind::LockProblem]);
        let only = ChannelChoice::Only(vec!["phone".into()]);
        let channels = [channel("phone", false), channel("siren", true)];
        assert_eq!(route(AlertKind::Lockout, &only, &channels, &tz, lockout.at), ["siren"]);
        assert_eq!(route(AlertKind::Arrival, &only, &channels, &tz, lockout.at), ["phone"]);
    }

    #[test]
    fn quiet_hours_hold_back_all_but_urgent_alerts_even_past_midnight() {
        let tz = berlin();
        let night = QuietHours { start: Time::constant(22, 0, 0, 0), end: Time::constant(7, 0, 0, 0) };
        let channels = [ChannelRoute { id: "phone".into(), emergency: true, quiet: Some(night) }];
        let at = |s: &str| s.parse::<Timestamp>().expect("instant");
        // 23:30 and 06:59 in Berlin are quiet; 07:00 is not.
        for quiet in ["2026-11-26T22:30:00Z", "2026-11-27T05:59:00Z"] {
            assert!(route(AlertKind::Arrival, &ChannelChoice::All, &channels, &tz, at(quiet)).is_empty(), "{quiet}");
            assert_eq!(route(AlertKind::Duress, &ChannelChoice::All, &channels, &tz, at(quiet)), ["phone"]);
            assert_eq!(route(AlertKind::Lockout, &ChannelChoice::All, &channels, &tz, at(quiet)), ["phone"]);
            assert!(route(AlertKind::Denied, &ChannelChoice::All, &channels, &tz, at(quiet)).is_empty());
        }
        assert_eq!(
            route(AlertKind::Arrival, &ChannelChoice::All, &channels, &tz, at("2026-11-27T06:00:00Z")),
            ["phone"]
        );
        let day = QuietHours { start: Time::constant(12, 0, 0, 0), end: Time::constant(13, 0, 0, 0) };
        assert!(day.contains(Time::constant(12, 30, 0, 0)) && !day.contains(Time::constant(13, 0, 0, 0)));
    }

    #[test]
    fn a_no_show_deadline_is_wall_time_in_the_home_s_zone_across_dst() {
        let tz = TimeZone::get("America/New_York").expect("zone");
        let weekdays = NoShowRule { days: vec![0, 1, 2, 3, 4], by: Time::constant(12, 30, 0, 0) };
        let at = |s: &str| s.parse::<Timestamp>().expect("instant");
        // Friday 2026-10-30, EDT (UTC-4): 12:30 is 16:30Z.
        assert_eq!(weekdays.next_deadline(&tz, at("2026-10-30T12:00:00Z")), Some(at("2026-10-30T16:30:00Z")));
        // After Friday's: the weekend is skipped, and on Monday 2026-11-02
        // (EST since Sunday, UTC-5) 12:30 is 17:30Z, to the second.
        assert_eq!(weekdays.next_deadline(&tz, at("2026-10-30T16:30:00Z")), Some(at("2026-11-02T17:30:00Z")));
        // A rule for 02:30 on the spring-forward Sunday (2027-03-14), a
        // time that does not exist that day: 03:30 EDT.
        let night = NoShowRule { days: vec![6], by: Time::constant(2, 30, 0, 0) };
        assert_eq!(night.next_deadline(&tz, at("2027-03-13T12:00:00Z")), Some(at("2027-03-14T07:30:00Z")));
        // Arrived that morning: no alert; arrived the day before, or not at all: an alert.
        let deadline = at("2026-11-02T17:30:00Z");
        assert!(!NoShowRule::missed(&tz, deadline, Some(at("2026-11-02T15:00:00Z"))));
        assert!(NoShowRule::missed(&tz, deadline, Some(at("2026-11-01T15:00:00Z"))));
        assert!(NoShowRule::missed(&tz, deadline, None));
        // 00:30 local on that Monday is 05:30Z: the day's start counts in the zone, not UTC.
        assert!(!NoShowRule::missed(&tz, deadline, Some(at("2026-11-02T05:30:00Z"))));
        assert!(NoShowRule::missed(&tz, deadline, Some(at("2026-11-02T04:30:00Z"))));
    }

    #[test]
    fn deliveries_back_off_to_a_minute_with_jitter() {
        let ms = |attempt, jitter| delivery_delay(attempt, jitter).as_millis();
        assert_eq!((ms(1, 0.0), ms(1, 0.999_999)), (500, 999));
        assert_eq!(ms(2, 0.0), 1_000);
        assert_eq!(ms(7, 0.0), 30_000, "64 s capped at 60 s, halved");
        assert_eq!(ms(1_000, 0.0), 30_000);
        assert!(ms(1_000, 1.0) <= 60_000, "never over a minute");
        assert_eq!(ms(3, -5.0), 2_000, "a jitter out of range is clamped");
    }

    #[test]
    fn messages_name_the_user_the_door_and_the_home_s_time() {
        let wall = DateTime::constant(2026, 11, 26, 11, 42, 0, 0);
        let names = Names { user: Some("Dog walker"), device: Some("Front door"), home: "Home", detail: None };
        let arrival = message(AlertKind::Arrival, names, wall);
        assert_eq!(arrival.title, "Dog walker arrived");
        assert_eq!(arrival.body, "Dog walker arrived · Front door · 11:42");
        assert_eq!(message(AlertKind::Departure, names, wall).body, "Dog walker left · Front door · 11:42");
        assert!(message(AlertKind::Duress, names, wall).title.contains("Duress"));
        assert_eq!(AlertKind::parse("access.arrival"), Some(AlertKind::Arrival));
        assert_eq!(AlertKind::Duress.as_str(), "alarm.duress");
    }
}

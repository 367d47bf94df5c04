//! When a code works: always, in wall-clock windows that repeat every week
//! (or every 2, 3 or 4 weeks from a first date), and on listed visit days.
//!
//! Windows are judged by the home's wall clock, never by elapsed time:
//! - `days` names the day a window starts on; `start` is inclusive, `end` exclusive;
//! - an `end` earlier than `start` runs past midnight into the next day;
//! - `end` may be "24:00", the end of the day; `end == start` is refused;
//! - `every_weeks: N` with `from: DATE` keeps a window on its days in the week
//!   (Monday to Sunday) holding `from` and every Nth week after it, never
//!   before `from`; an overnight window belongs to the day it starts on;
//! - a visit is one date with a start and an end, read like a window's;
//! - in a DST gap the missing wall times never occur, so a window that lies
//!   wholly inside the gap is simply never open that night;
//! - in a DST overlap a wall time that occurs twice is inside the window both times.

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

const SECONDS_PER_DAY: u32 = 86_400;
/// More windows than any week needs; a bound keeps a decision cheap.
pub const MAX_WINDOWS: usize = 28;
/// Visit days one schedule may list: two months of irregular days.
pub const MAX_VISITS: usize = 60;
/// The longest repeat: a window every four weeks.
pub const MAX_EVERY_WEEKS: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not of the documented shape (days, times, counts).
    #[error("{0}")]
    Invalid(&'static str),
    /// Well-formed, but a window ends when it starts.
    #[error("a window's end must differ from its start")]
    EmptyWindow,
}

/// The wire form of a schedule, as the API and the store read and write it:
/// `{"always": true}`, or `{"windows": [{"days": ["mon"], "start": "11:00", "end": "14:00"}]}`
/// and/or `{"visits": [{"date": "2026-12-24", "start": "10:00", "end": "16:00"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<WindowSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<Vec<VisitSpec>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
    /// 1 to 4; more than 1 needs `from`. Absent: every week.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole_number")]
    pub every_weeks: Option<u8>,
    /// "YYYY-MM-DD": the window is kept from this date on, and its repeat
    /// counts weeks from the week holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// A small whole number, written `2` or `2.0` (a JSON Schema integer is any
/// number without a fraction); null is absent.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Option<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number from 0 to 255, or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            u8::try_from(v).map(Some).map_err(|_| E::custom("out of range"))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u8::try_from(v).map(Some).map_err(|_| E::custom("out of range"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
                // Whole and in range: the cast is exact.
                Ok(Some(v as u8))
            } else {
                Err(E::custom("not a whole number from 0 to 255"))
            }
        }
    }
    d.deserialize_option(Visitor)
}

/// One visit day: `date` "YYYY-MM-DD", `start` and `end` as in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitSpec {
    pub date: String,
    pub start: String,
    pub end: String,
}

impl ScheduleSpec {
    /// `{"always": true}`.
    pub fn always() -> Self {
        Self { always: Some(true), windows: None, visits: None }
    }

    /// Weekly windows only.
    pub fn windows(windows: Vec<WindowSpec>) -> Self {
        Self { always: None, windows: Some(windows), visits: None }
    }
}

impl WindowSpec {
    /// A window that repeats every week.
    pub fn weekly(days: &[&str], start: &str, end: &str) -> Self {
        Self {
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            start: start.to_owned(),
            end: end.to_owned(),
            every_weeks: None,
            from: None,
        }
    }
}

/// A valid schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Always,
    /// Open inside any of the windows or visits (at least one of them).
    Times {
        windows: Vec<Window>,
        visits: Vec<Visit>,
    },
}

/// One repeating window. `start` and `end` are seconds after midnight;
/// `end` may be 86 400 ("24:00").
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Window {
    days: DaySet,
    start: u32,
    end: u32,
    repeat: Option<Repeat>,
}

/// Which weeks a window keeps: the week holding `from` and every `every`th
/// week after it, from `from` on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Repeat {
    every: u8,
    from: Date,
    /// The day number of the Monday of `from`'s week, computed once.
    first_monday: i64,
}

/// One visit day.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    date: Date,
    start: u32,
    end: u32,
}

/// A set of weekdays, bit 0 = Monday.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct DaySet(u8);

pub(crate) const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl DaySet {
    fn bit(day: Weekday) -> u8 {
        1 << (day.to_monday_zero_offset() as u8)
    }

    fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }
}

impl Schedule {
    pub fn parse(spec: &ScheduleSpec) -> Result<Self, ScheduleError> {
        const SHAPE: ScheduleError = ScheduleError::Invalid(
            "a schedule is either {\"always\": true} or {\"windows\": [...]} and/or {\"visits\": [...]}",
        );
        match (spec.always, &spec.windows, &spec.visits) {
            (Some(true), None, None) => Ok(Self::Always),
            (None, windows, visits) if windows.is_some() || visits.is_some() => {
                let windows = windows.as_deref().unwrap_or_default();
                let visits = visits.as_deref().unwrap_or_default();
                if windows.is_empty() && visits.is_empty() {
                    return Err(ScheduleError::Invalid(
                        "a schedule needs at least one window or visit, or {\"always\": true}",
                    ));
                }
                if windows.len() > MAX_WINDOWS {
                    return Err(ScheduleError::Invalid("a schedule may have at most 28 windows"));
                }
                if visits.len() > MAX_VISITS {
                    return Err(ScheduleError::Invalid("a schedule may list at most 60 visits"));
                }
                Ok(Self::Times {
                    windows: windows.iter().map(Window::parse).collect::<Result<_, _>>()?,
                    visits: visits.iter().map(Visit::parse).collect::<Result<_, _>>()?,
                })
            }
            _ => Err(SHAPE),
        }
    }

    pub fn to_spec(&self) -> ScheduleSpec {
        match self {
            Self::Always => ScheduleSpec::always(),
            Self::Times { windows, visits } => ScheduleSpec {
                always: None,
                windows: (!windows.is_empty()).then(|| windows.iter().copied().map(Window::to_spec).collect()),
                visits: (!visits.is_empty()).then(|| visits.iter().copied().map(Visit::to_spec).collect()),
            },
        }
    }

    /// Whether the schedule is open at this wall-clock time of the home.
    pub fn is_open(&self, wall: DateTime) -> bool {
        match self {
            Self::Always => true,
            Self::Times { windows, visits } => {
                windows.iter().any(|w| w.is_open(wall)) || visits.iter().any(|v| v.is_open(wall))
            }
        }
    }

    /// Whether the schedule is open at an instant, seen from the home's zone.
    pub fn is_open_at(&self, tz: &TimeZone, at: Timestamp) -> bool {
        self.is_open(tz.to_datetime(at))
    }

    /// The first instant after `after` at which the schedule opens or closes
    /// (`None`: it never does, as `Always`, or a schedule whose visits are
    /// all past).
    ///
    /// Openness can only change where the wall clock reaches a window's or
    /// a visit's start or end, or jumps (a DST transition), so those instants
    /// are the candidates: every boundary of the days around `after` (both
    /// instants of a wall time that occurs twice), of the days around a
    /// window's first date, of each visit, and the zone's next transitions.
    /// A window repeats within its cycle of at most four weeks, so the days
    /// up to one cycle and a day ahead always hold its next change.
    pub fn next_change(&self, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let Self::Times { windows, visits } = self else { return None };
        let first_day = tz.to_datetime(after).date();
        let mut candidates: Vec<Timestamp> = Vec::new();
        let mut add = |day: Date, boundaries: [u32; 2]| {
            for boundary in boundaries {
                let both = tz.to_ambiguous_timestamp(day.to_datetime(wall_time(boundary % SECONDS_PER_DAY)));
                candidates.extend(both.earlier().ok());
                candidates.extend(both.later().ok());
            }
        };
        let days_from = |day: Date, range: std::ops::RangeInclusive<i64>| {
            range.filter_map(move |offset| day.checked_add(jiff::Span::new().days(offset)).ok())
        };
        let cycle_days = |window: &Window| 7 * i64::from(window.repeat.map_or(1, |r| r.every)) + 1;
        for window in windows {
            let boundaries = [window.start, window.end];
            for day in days_from(first_day, -1..=cycle_days(window)) {
                add(day, boundaries);
            }
            if let Some(repeat) = window.repeat.filter(|r| r.from > first_day) {
                for day in days_from(repeat.from, -1..=cycle_days(window)) {
                    add(day, boundaries);
                }
            }
        }
        for visit in visits {
            if visit.date.checked_add(jiff::Span::new().days(1)).is_ok_and(|next| next >= first_day) {
                for day in days_from(visit.date, 0..=1) {
                    add(day, [visit.start, visit.end]);
                }
            }
        }
        candidates.extend(tz.following(after).take(4).map(|transition| transition.timestamp()));
        candidates.retain(|candidate| *candidate > after);
        candidates.sort_unstable();
        candidates.dedup();
        let second = SignedDuration::from_secs(1);
        candidates.into_iter().find(|candidate| {
            candidate
                .checked_sub(second)
                .is_ok_and(|before| self.is_open_at(tz, *candidate) != self.is_open_at(tz, before))
        })
    }
}

pub(crate) fn wall_time(seconds: u32) -> Time {
    // Below 86 400 by construction: each part is in range.
    let part = |n: u32| i8::try_from(n).unwrap_or(0);
    Time::new(part(seconds / 3600), part(seconds % 3600 / 60), part(seconds % 60), 0).unwrap_or(Time::midnight())
}

/// Whether a span from `start` to `end` (seconds of the day; overnight when
/// `end <= start`) that may begin on the days `starts_on` says covers `wall`.
fn covers(start: u32, end: u32, wall: DateTime, starts_on: impl Fn(Date) -> bool) -> bool {
    let now = seconds_of_day(wall);
    let today = wall.date();
    if start < end {
        starts_on(today) && start <= now && now < end
    } else {
        // Overnight: from `start` on a day it begins until `end` the day after.
        (now >= start && starts_on(today)) || (now < end && today.yesterday().is_ok_and(&starts_on))
    }
}

impl Window {
    fn parse(spec: &WindowSpec) -> Result<Self, ScheduleError> {
        if spec.days.is_empty() {
            return Err(ScheduleError::Invalid("every window needs at least one day"));
        }
        let mut days = DaySet::default();
        for name in &spec.days {
            let index = DAY_NAMES
                .iter()
                .position(|d| *d == name.as_str())
                .ok_or(ScheduleError::Invalid("days are mon, tue, wed, thu, fri, sat, sun"))?;
            let bit = 1u8 << index;
            if days.0 & bit != 0 {
                return Err(ScheduleError::Invalid("a day is listed twice in one window"));
            }
            days.0 |= bit;
        }
        let (start, end) = parse_span(&spec.start, &spec.end)?;
        let every = spec.every_weeks.unwrap_or(1);
        if !(1..=MAX_EVERY_WEEKS).contains(&every) {
            return Err(ScheduleError::Invalid("every_weeks is 1, 2, 3 or 4"));
        }
        let repeat = match &spec.from {
            Some(text) => {
                let from = parse_date(text)?;
                Some(Repeat { every, from, first_monday: monday_number(from) })
            }
            None if every > 1 => {
                return Err(ScheduleError::Invalid("a window repeating every 2 to 4 weeks needs a first date (from)"));
            }
            None => None,
        };
        Ok(Self { days, start, end, repeat })
    }

    fn to_spec(self) -> WindowSpec {
        WindowSpec {
            days: DAY_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| self.days.0 & (1 << i) != 0)
                .map(|(_, d)| (*d).to_owned())
                .collect(),
            start: format_time(self.start),
            end: format_time(self.end),
            every_weeks: self.repeat.map(|r| r.every).filter(|every| *every > 1),
            from: self.repeat.map(|r| r.from.to_string()),
        }
    }

    /// Whether an occurrence of the window begins on `day`.
    fn starts_on(&self, day: Date) -> bool {
        self.days.contains(day.weekday())
            && self
                .repeat
                .is_none_or(|r| day >= r.from && (monday_number(day) - r.first_monday) / 7 % i64::from(r.every) == 0)
    }

    fn is_open(&self, wall: DateTime) -> bool {
        covers(self.start, self.end, wall, |day| self.starts_on(day))
    }

    /// How often the window repeats (1: every week), and from which date.
    pub fn repeat(&self) -> Option<(u8, Date)> {
        self.repeat.map(|r| (r.every, r.from))
    }
}

impl Visit {
    fn parse(spec: &VisitSpec) -> Result<Self, ScheduleError> {
        let date = parse_date(&spec.date)?;
        let (start, end) = parse_span(&spec.start, &spec.end)?;
        Ok(Self { date, start, end })
    }

    fn to_spec(self) -> VisitSpec {
        VisitSpec { date: self.date.to_string(), start: format_time(self.start), end: format_time(self.end) }
    }

    fn is_open(&self, wall: DateTime) -> bool {
        covers(self.start, self.end, wall, |day| day == self.date)
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.to_spec();
        write!(f, "{:?} {}-{}", spec.days, spec.start, spec.end)?;
        match self.repeat {
            Some(r) => write!(f, " every {} weeks from {}", r.every, r.from),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Visit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.date, format_time(self.start), format_time(self.end))
    }
}

fn seconds_of_day(wall: DateTime) -> u32 {
    let t = wall.time();
    // Each part is within its range, so the sum is below 86 400.
    u32::from(t.hour().unsigned_abs()) * 3600
        + u32::from(t.minute().unsigned_abs()) * 60
        + u32::from(t.second().unsigned_abs())
}

/// The number of the Monday starting `day`'s week, counted in days from
/// 1970-01-01 (proleptic Gregorian; civil-from-days after H. Hinnant).
fn monday_number(day: Date) -> i64 {
    let (y, m, d) = (i64::from(day.year()), i64::from(day.month()), i64::from(day.day()));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468 - i64::from(day.weekday().to_monday_zero_offset())
}

/// "YYYY-MM-DD", a real calendar day of the years 2000 to 2199 (the API's days).
fn parse_date(text: &str) -> Result<Date, ScheduleError> {
    crate::instant::parse_day_in_range(text)
        .ok_or(ScheduleError::Invalid("dates are YYYY-MM-DD, a real calendar day of the years 2000 to 2199"))
}

/// A start and an end that differ.
fn parse_span(start: &str, end: &str) -> Result<(u32, u32), ScheduleError> {
    let (start, end) = (parse_time(start, false)?, parse_time(end, true)?);
    if start == end { Err(ScheduleError::EmptyWindow) } else { Ok((start, end)) }
}

/// "HH:MM" or "HH:MM:SS", 24-hour; "24:00" only as an end.
pub(crate) fn parse_time(text: &str, is_end: bool) -> Result<u32, ScheduleError> {
    const BAD: ScheduleError =
        ScheduleError::Invalid("times are HH:MM or HH:MM:SS, 00:00 to 23:59:59 (an end may be 24:00)");
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(BAD);
    }
    let number = |i: usize| parts.get(i).map_or(Ok(0), |p| p.parse::<u32>().map_err(|_| BAD));
    let (h, m, s) = (number(0)?, number(1)?, number(2)?);
    if h == 24 && m == 0 && s == 0 && is_end {
        return Ok(SECONDS_PER_DAY);
    }
    if h > 23 || m > 59 || s > 59 {
        return Err(BAD);
    }
    Ok(h * 3600 + m * 60 + s)
}

pub(crate) fn format_time(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if s == 0 { format!("{h:02}:{m:02}") } else { format!("{h:02}:{m:02}:{s:02}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    fn window(days: &[&str], start: &str, end: &str) -> WindowSpec {
        WindowSpec::weekly(days, start, end)
    }

    fn every(weeks: u8, from: &str, days: &[&str], start: &str, end: &str) -> WindowSpec {
        WindowSpec { every_weeks: Some(weeks), from: Some(from.to_owned()), ..WindowSpec::weekly(days, start, end) }
    }

    fn visit(date: &str, start: &str, end: &str) -> VisitSpec {
        VisitSpec { date: date.to_owned(), start: start.to_owned(), end: end.to_owned() }
    }

    fn visits(list: Vec<VisitSpec>) -> Schedule {
        Schedule::parse(&ScheduleSpec { always: None, windows: None, visits: Some(list) }).expect("valid schedule")
    }

    fn schedule(windows: Vec<WindowSpec>) -> Schedule {
        Schedule::parse(&ScheduleSpec::windows(windows)).expect("valid schedule")
    }

    /// Whether the schedule is open at an instant, seen from a time zone.
    fn open_at(s: &Schedule, zone: &str, instant: &str) -> bool {
        let tz = TimeZone::get(zone).expect("known zone");
        let ts: Timestamp = instant.parse().expect("valid instant");
        s.is_open(tz.to_datetime(ts))
    }

    fn weekdays_11_to_14() -> Schedule {
        schedule(vec![window(&["mon", "tue", "wed", "thu", "fri"], "11:00", "14:00")])
    }

    #[test]
    fn parse_refuses_malformed_schedules() {
        let bad = [
            ScheduleSpec { always: Some(false), windows: None, visits: None },
            ScheduleSpec { always: None, windows: None, visits: None },
            ScheduleSpec { always: Some(true), windows: Some(vec![]), visits: None },
            ScheduleSpec {
                always: Some(true),
                windows: None,
                visits: Some(vec![visit("2026-12-24", "10:00", "12:00")]),
            },
            ScheduleSpec { always: None, windows: Some(vec![]), visits: Some(vec![]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("2026-12-24", "10:00", "12:00"); 61]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("2026-02-30", "10:00", "12:00")]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("2026-1-24", "10:00", "12:00")]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("+02026-12-24", "10:00", "12:00")]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("1999-12-24", "10:00", "12:00")]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("2026-12-24", "10:00", "10:00")]) },
            ScheduleSpec { always: None, windows: None, visits: Some(vec![visit("2026-12-24", "10:00", "25:00")]) },
            ScheduleSpec::windows(vec![
                every(2, "2026-12-11", &["fri"], "09:00", "12:00"),
                every(5, "2026-12-11", &["fri"], "09:00", "12:00"),
            ]),
            ScheduleSpec::windows(vec![every(0, "2026-12-11", &["fri"], "09:00", "12:00")]),
            ScheduleSpec::windows(vec![WindowSpec { every_weeks: Some(2), ..window(&["fri"], "09:00", "12:00") }]),
            ScheduleSpec::windows(vec![every(2, "11/12/2026", &["fri"], "09:00", "12:00")]),
            ScheduleSpec::windows(vec![]),
            ScheduleSpec::windows(vec![window(&[], "11:00", "12:00")]),
            ScheduleSpec::windows(vec![window(&["monday"], "11:00", "12:00")]),
            ScheduleSpec::windows(vec![window(&["mon", "mon"], "11:00", "12:00")]),
            ScheduleSpec::windows(vec![window(&["mon"], "11:00", "11:00")]),
            ScheduleSpec::windows(vec![window(&["mon"], "24:00", "11:00")]),
            ScheduleSpec::windows(vec![window(&["mon"], "11:60", "12:00")]),
            ScheduleSpec::windows(vec![window(&["mon"], "1:00", "12:00")]),
            ScheduleSpec::windows(vec![window(&["mon"], "11:00", "12:00:60")]),
            ScheduleSpec::windows(vec![window(&["mon"], "00:00", "24:00:01")]),
            ScheduleSpec::windows(vec![window(&["mon"], "+1:00", "12:00")]),
            ScheduleSpec::windows(vec![window(&["mon"], "1:00", "12:00"); 29]),
        ];
        for spec in bad {
            assert!(Schedule::parse(&spec).is_err(), "{spec:?} should be refused");
        }
    }

    #[test]
    fn spec_round_trips() {
        let spec = ScheduleSpec::windows(vec![
            window(&["mon", "fri"], "11:00", "14:00:30"),
            window(&["sun"], "22:00", "24:00"),
        ]);
        assert_eq!(Schedule::parse(&spec).map(|s| s.to_spec()), Ok(spec));
        let always = ScheduleSpec::always();
        assert_eq!(Schedule::parse(&always).map(|s| s.to_spec()), Ok(always));
        let mixed = ScheduleSpec {
            always: None,
            windows: Some(vec![
                every(2, "2026-12-11", &["fri"], "09:00", "12:00"),
                WindowSpec { from: Some("2027-01-04".into()), ..window(&["mon"], "08:00", "09:00") },
            ]),
            visits: Some(vec![visit("2026-12-24", "22:00", "02:00")]),
        };
        assert_eq!(Schedule::parse(&mixed).map(|s| s.to_spec()), Ok(mixed));
        // Every week is the default, written as such.
        let weekly =
            ScheduleSpec::windows(vec![WindowSpec { every_weeks: Some(1), ..window(&["mon"], "08:00", "09:00") }]);
        assert_eq!(
            Schedule::parse(&weekly).map(|s| s.to_spec()),
            Ok(ScheduleSpec::windows(vec![window(&["mon"], "08:00", "09:00")]))
        );
    }

    #[test]
    fn every_weeks_is_read_as_a_json_schema_integer() {
        let read = |text: &str| serde_json::from_str::<WindowSpec>(text).map(|w| w.every_weeks).ok();
        let window = r#"{"days": ["fri"], "start": "09:00", "end": "12:00", "from": "2026-12-11", "every_weeks": "#;
        assert_eq!(read(&format!("{window}2}}")), Some(Some(2)));
        assert_eq!(read(&format!("{window}2.0}}")), Some(Some(2)));
        assert_eq!(read(&format!("{window}null}}")), Some(None));
        assert_eq!(read(&format!("{window}2.5}}")), None);
        assert_eq!(read(&format!("{window}-1}}")), None);
        assert_eq!(read(&format!("{window}\"2\"}}")), None);
    }

    #[test]
    fn every_other_friday_from_a_first_date() {
        // The cleaner: every other Friday 09:00-12:00 from Friday 11 December 2026.
        let s = schedule(vec![every(2, "2026-12-11", &["fri"], "09:00", "12:00")]);
        assert!(!open_at(&s, "UTC", "2026-12-04T10:00:00Z"), "the Friday before the first date");
        assert!(!open_at(&s, "UTC", "2026-12-11T08:59:59Z"));
        assert!(open_at(&s, "UTC", "2026-12-11T09:00:00Z"));
        assert!(open_at(&s, "UTC", "2026-12-11T11:59:59Z"));
        assert!(!open_at(&s, "UTC", "2026-12-11T12:00:00Z"));
        assert!(!open_at(&s, "UTC", "2026-12-18T10:00:00Z"), "the week off");
        assert!(open_at(&s, "UTC", "2026-12-25T10:00:00Z"));
        // Across the new year and a leap day: 52 weeks on is an even week.
        assert!(open_at(&s, "UTC", "2027-12-10T10:00:00Z"));
        assert!(!open_at(&s, "UTC", "2027-12-17T10:00:00Z"));
        assert!(open_at(&s, "UTC", "2028-03-03T10:00:00Z"));
        // The first date mid-week counts its whole week: from Wednesday the
        // 9th, that Friday is in, not the Monday before it.
        let midweek = schedule(vec![every(3, "2026-12-09", &["mon", "fri"], "09:00", "12:00")]);
        assert!(!open_at(&midweek, "UTC", "2026-12-07T10:00:00Z"));
        assert!(open_at(&midweek, "UTC", "2026-12-11T10:00:00Z"));
        assert!(!open_at(&midweek, "UTC", "2026-12-14T10:00:00Z"));
        assert!(!open_at(&midweek, "UTC", "2026-12-21T10:00:00Z"));
        assert!(open_at(&midweek, "UTC", "2026-12-28T10:00:00Z"));
    }

    #[test]
    fn an_overnight_repeat_belongs_to_the_day_it_starts() {
        // Every other Sunday night 22:00-06:00 from Sunday 13 December 2026:
        // the Monday morning after the 13th is in, the one after the 20th is not.
        let s = schedule(vec![every(2, "2026-12-13", &["sun"], "22:00", "06:00")]);
        assert!(open_at(&s, "Europe/Berlin", "2026-12-14T04:59:59Z")); // Mon 05:59:59 CET
        assert!(!open_at(&s, "Europe/Berlin", "2026-12-14T05:00:00Z"));
        assert!(!open_at(&s, "Europe/Berlin", "2026-12-21T03:00:00Z"));
        assert!(open_at(&s, "Europe/Berlin", "2026-12-27T21:00:00Z")); // Sun 22:00 CET
    }

    #[test]
    fn visits_open_on_their_date_only() {
        let s = visits(vec![visit("2026-12-24", "10:00", "16:00"), visit("2026-12-31", "22:00", "02:00")]);
        assert!(!open_at(&s, "Europe/London", "2026-12-24T09:59:59Z"));
        assert!(open_at(&s, "Europe/London", "2026-12-24T10:00:00Z"));
        assert!(!open_at(&s, "Europe/London", "2026-12-24T16:00:00Z"));
        assert!(!open_at(&s, "Europe/London", "2026-12-17T12:00:00Z"), "a visit does not repeat");
        assert!(open_at(&s, "Europe/London", "2027-01-01T01:59:59Z"), "overnight into the new year");
        assert!(!open_at(&s, "Europe/London", "2027-01-01T02:00:00Z"));
        assert_eq!(next_change(&s, "Europe/London", "2026-12-01T00:00:00Z"), "2026-12-24T10:00:00Z");
        assert_eq!(next_change(&s, "Europe/London", "2026-12-24T16:00:00Z"), "2026-12-31T22:00:00Z");
        assert_eq!(next_change(&s, "Europe/London", "2027-01-01T02:00:00Z"), "never");
    }

    #[test]
    fn a_visit_and_a_repeat_across_daylight_saving_time() {
        // New York falls back on Sunday 1 November 2026: 01:00-01:59 occurs twice.
        let visit_night = visits(vec![visit("2026-11-01", "01:15", "01:45")]);
        assert!(open_at(&visit_night, "America/New_York", "2026-11-01T05:20:00Z")); // 01:20 EDT
        assert!(open_at(&visit_night, "America/New_York", "2026-11-01T06:20:00Z")); // 01:20 EST
        assert_eq!(next_change(&visit_night, "America/New_York", "2026-11-01T05:45:00Z"), "2026-11-01T06:15:00Z");
        // Every fourth Sunday 02:30-04:00 from 1 March 2026; the fifth week on
        // is 29 March, Berlin's spring gap: it opens as the clock jumps to 03:00.
        let s = schedule(vec![every(4, "2026-03-01", &["sun"], "02:30", "04:00")]);
        assert_eq!(next_change(&s, "Europe/Berlin", "2026-03-01T03:00:00Z"), "2026-03-29T01:00:00Z");
        assert_eq!(next_change(&s, "Europe/Berlin", "2026-03-29T01:00:00Z"), "2026-03-29T02:00:00Z");
        assert_eq!(next_change(&s, "Europe/Berlin", "2026-03-29T02:00:00Z"), "2026-04-26T00:30:00Z");
        // A first date months ahead: nothing opens before it.
        let later = schedule(vec![every(2, "2027-06-04", &["fri"], "09:00", "12:00")]);
        assert_eq!(next_change(&later, "UTC", "2026-12-07T00:00:00Z"), "2027-06-04T09:00:00Z");
    }

    #[test]
    fn boundaries_to_the_second() {
        let s = weekdays_11_to_14();
        // 2026-11-26 is a Thursday.
        assert!(!open_at(&s, "UTC", "2026-11-26T10:59:59Z"));
        assert!(open_at(&s, "UTC", "2026-11-26T11:00:00Z"));
        assert!(open_at(&s, "UTC", "2026-11-26T13:59:59Z"));
        assert!(!open_at(&s, "UTC", "2026-11-26T14:00:00Z"));
        // Saturday.
        assert!(!open_at(&s, "UTC", "2026-11-28T12:00:00Z"));
    }

    #[test]
    fn judged_in_the_home_time_zone() {
        let s = weekdays_11_to_14();
        // 16:30 UTC is 11:30 in New York (EST) and 17:30 in Berlin (CET).
        assert!(open_at(&s, "America/New_York", "2026-11-26T16:30:00Z"));
        assert!(!open_at(&s, "Europe/Berlin", "2026-11-26T16:30:00Z"));
    }

    #[test]
    fn overnight_windows_cross_midnight_month_and_year() {
        let s = schedule(vec![window(&["sat"], "22:00", "06:00")]);
        // Saturday 31 Oct 2026 → Sunday 1 Nov: last day of a month.
        assert!(!open_at(&s, "UTC", "2026-10-31T21:59:59Z"));
        assert!(open_at(&s, "UTC", "2026-10-31T22:00:00Z"));
        assert!(open_at(&s, "UTC", "2026-11-01T05:59:59Z"));
        assert!(!open_at(&s, "UTC", "2026-11-01T06:00:00Z"));
        // Not Sunday night.
        assert!(!open_at(&s, "UTC", "2026-11-01T23:00:00Z"));
        // Thursday 31 Dec 2026 → Friday 1 Jan 2027: last day of a year.
        let new_year = schedule(vec![window(&["thu"], "23:00", "01:30")]);
        assert!(open_at(&new_year, "Europe/Berlin", "2026-12-31T22:30:00Z")); // 23:30 local
        assert!(open_at(&new_year, "Europe/Berlin", "2027-01-01T00:29:59Z")); // 01:29:59 local, Friday
        assert!(!open_at(&new_year, "Europe/Berlin", "2027-01-01T00:30:00Z"));
    }

    #[test]
    fn leap_day() {
        // 29 Feb 2028 is a Tuesday; its overnight window ends on Wednesday 1 March.
        let s = schedule(vec![window(&["tue"], "20:00", "02:00")]);
        assert!(open_at(&s, "UTC", "2028-02-29T20:00:00Z"));
        assert!(open_at(&s, "UTC", "2028-03-01T01:59:59Z"));
        assert!(!open_at(&s, "UTC", "2028-03-01T02:00:00Z"));
        let leap_monday_night = schedule(vec![window(&["mon"], "23:00", "01:00")]);
        // Monday 28 Feb 2028 23:30 → Tuesday 29 Feb 00:30.
        assert!(open_at(&leap_monday_night, "UTC", "2028-02-29T00:30:00Z"));
    }

    #[test]
    fn whole_day_with_24_00() {
        let s = schedule(vec![window(&["sun"], "00:00", "24:00")]);
        assert!(open_at(&s, "UTC", "2026-11-29T00:00:00Z"));
        assert!(open_at(&s, "UTC", "2026-11-29T23:59:59Z"));
        assert!(!open_at(&s, "UTC", "2026-11-30T00:00:00Z"));
    }

    #[test]
    fn new_york_dst_start_gap() {
        // Sunday 8 March 2026: 02:00 EST jumps to 03:00 EDT.
        let in_gap = schedule(vec![window(&["sun"], "02:00", "02:30")]);
        assert!(!open_at(&in_gap, "America/New_York", "2026-03-08T06:59:59Z")); // 01:59:59 EST
        assert!(!open_at(&in_gap, "America/New_York", "2026-03-08T07:00:00Z")); // 03:00 EDT
        let across = schedule(vec![window(&["sun"], "01:30", "03:30")]);
        assert!(open_at(&across, "America/New_York", "2026-03-08T06:59:59Z")); // 01:59:59 EST
        assert!(open_at(&across, "America/New_York", "2026-03-08T07:29:59Z")); // 03:29:59 EDT
        assert!(!open_at(&across, "America/New_York", "2026-03-08T07:30:00Z")); // 03:30 EDT
    }

    #[test]
    fn new_york_dst_end_overlap_counts_both_times() {
        // Sunday 1 Nov 2026: 02:00 EDT falls back to 01:00 EST; 01:00–01:59 occurs twice.
        let s = schedule(vec![window(&["sun"], "01:15", "01:45")]);
        assert!(open_at(&s, "America/New_York", "2026-11-01T05:20:00Z")); // 01:20 EDT
        assert!(!open_at(&s, "America/New_York", "2026-11-01T05:50:00Z")); // 01:50 EDT
        assert!(open_at(&s, "America/New_York", "2026-11-01T06:20:00Z")); // 01:20 EST
        assert!(!open_at(&s, "America/New_York", "2026-11-01T06:45:00Z")); // 01:45 EST
    }

    #[test]
    fn berlin_dst_start_and_end() {
        // Sunday 29 March 2026: 02:00 CET jumps to 03:00 CEST.
        let s = schedule(vec![window(&["sun"], "02:00", "03:00")]);
        assert!(!open_at(&s, "Europe/Berlin", "2026-03-29T00:59:59Z")); // 01:59:59 CET
        assert!(!open_at(&s, "Europe/Berlin", "2026-03-29T01:00:00Z")); // 03:00 CEST
        // Sunday 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:xx occurs twice.
        assert!(open_at(&s, "Europe/Berlin", "2026-10-25T00:30:00Z")); // 02:30 CEST
        assert!(open_at(&s, "Europe/Berlin", "2026-10-25T01:30:00Z")); // 02:30 CET
        assert!(!open_at(&s, "Europe/Berlin", "2026-10-25T02:00:00Z")); // 03:00 CET
        // An overnight window across the short night lasts one hour less.
        let night = schedule(vec![window(&["sat"], "22:00", "06:00")]);
        assert!(open_at(&night, "Europe/Berlin", "2026-03-29T03:59:59Z")); // 05:59:59 CEST
        assert!(!open_at(&night, "Europe/Berlin", "2026-03-29T04:00:00Z")); // 06:00 CEST
    }

    fn next_change(s: &Schedule, zone: &str, after: &str) -> String {
        let tz = TimeZone::get(zone).expect("known zone");
        let after: Timestamp = after.parse().expect("valid instant");
        s.next_change(&tz, after).map_or("never".to_owned(), |t| t.to_string())
    }

    #[test]
    fn next_change_finds_the_next_opening_and_closing_to_the_second() {
        let s = weekdays_11_to_14();
        // 2026-11-26 is a Thursday.
        assert_eq!(next_change(&s, "UTC", "2026-11-26T10:00:00Z"), "2026-11-26T11:00:00Z");
        assert_eq!(next_change(&s, "UTC", "2026-11-26T10:59:59Z"), "2026-11-26T11:00:00Z");
        assert_eq!(next_change(&s, "UTC", "2026-11-26T11:00:00Z"), "2026-11-26T14:00:00Z");
        // Friday's close, then Monday's opening over the weekend.
        assert_eq!(next_change(&s, "UTC", "2026-11-27T14:00:00Z"), "2026-11-30T11:00:00Z");
        // In the home's zone: 11:00 in New York is 16:00 UTC in winter.
        assert_eq!(next_change(&s, "America/New_York", "2026-11-26T12:00:00Z"), "2026-11-26T16:00:00Z");
        assert_eq!(next_change(&Schedule::Always, "UTC", "2026-11-26T12:00:00Z"), "never");
        let overnight = schedule(vec![window(&["sat"], "22:00", "06:00")]);
        assert_eq!(next_change(&overnight, "UTC", "2026-10-31T12:00:00Z"), "2026-10-31T22:00:00Z");
        assert_eq!(next_change(&overnight, "UTC", "2026-10-31T22:00:00Z"), "2026-11-01T06:00:00Z");
        assert_eq!(next_change(&overnight, "UTC", "2026-11-01T06:00:00Z"), "2026-11-07T22:00:00Z");
        // Two windows that touch are one opening.
        let touching = schedule(vec![window(&["mon"], "09:00", "12:00"), window(&["mon"], "12:00", "15:00")]);
        assert_eq!(next_change(&touching, "UTC", "2026-11-30T10:00:00Z"), "2026-11-30T15:00:00Z");
    }

    #[test]
    fn next_change_across_daylight_saving_time() {
        // Berlin springs forward on 2026-03-29: 02:00 CET becomes 03:00 CEST
        // (01:00 UTC). A window from 02:30 opens when the clock jumps past it.
        let spring = schedule(vec![window(&["sun"], "02:30", "04:00")]);
        assert_eq!(next_change(&spring, "Europe/Berlin", "2026-03-29T00:00:00Z"), "2026-03-29T01:00:00Z");
        assert_eq!(next_change(&spring, "Europe/Berlin", "2026-03-29T01:00:00Z"), "2026-03-29T02:00:00Z");
        // Berlin falls back on 2026-10-25: 03:00 CEST becomes 02:00 CET
        // (01:00 UTC). 01:00-02:30 is open, closes at the first 02:30, opens
        // again when the clock goes back to 02:00, and closes at the second 02:30.
        let autumn = schedule(vec![window(&["sun"], "01:00", "02:30")]);
        assert_eq!(next_change(&autumn, "Europe/Berlin", "2026-10-24T22:00:00Z"), "2026-10-24T23:00:00Z");
        assert_eq!(next_change(&autumn, "Europe/Berlin", "2026-10-24T23:00:00Z"), "2026-10-25T00:30:00Z");
        assert_eq!(next_change(&autumn, "Europe/Berlin", "2026-10-25T00:30:00Z"), "2026-10-25T01:00:00Z");
        assert_eq!(next_change(&autumn, "Europe/Berlin", "2026-10-25T01:00:00Z"), "2026-10-25T01:30:00Z");
        // A window wholly inside the spring gap never opens that night: the next change is a week on.
        let in_gap = schedule(vec![window(&["sun"], "02:10", "02:50")]);
        assert_eq!(next_change(&in_gap, "Europe/Berlin", "2026-03-28T12:00:00Z"), "2026-04-05T00:10:00Z");
    }

    proptest! {
        #[test]
        fn a_window_is_open_exactly_when_the_wall_clock_says_so(
            start in 0u32..86_400, end in 0u32..=86_400, day in 0usize..7,
            instant in 1_700_000_000i64..1_900_000_000,
            zone in prop::sample::select(vec!["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham"]),
        ) {
            prop_assume!(start != end);
            let spec = window(&[DAY_NAMES[day]], &format_time(start), &format_time(end));
            let s = schedule(vec![spec]);
            let tz = TimeZone::get(zone).expect("known zone");
            let wall = tz.to_datetime(Timestamp::from_second(instant).expect("in range"));
            let now = seconds_of_day(wall);
            let today = wall.weekday().to_monday_zero_offset() as usize;
            let yesterday = (today + 6) % 7;
            let expected = if start < end {
                today == day && start <= now && now < end
            } else {
                (today == day && now >= start) || (yesterday == day && now < end)
            };
            prop_assert_eq!(s.is_open(wall), expected);
        }

        #[test]
        fn over_any_week_a_window_is_open_for_exactly_its_length(
            start_min in 0u32..1440, end_min in 0u32..=1440, day in 0usize..7, week_offset in 0i64..520,
        ) {
            prop_assume!(start_min != end_min);
            let s = schedule(vec![window(&[DAY_NAMES[day]], &format_time(start_min * 60), &format_time(end_min * 60))]);
            let week_start = 1_704_067_200 + week_offset * 7 * 86_400; // a Monday 00:00 UTC
            let open_minutes = (0..7 * 1440)
                .filter(|m| {
                    let ts = Timestamp::from_second(week_start + m * 60).expect("in range");
                    s.is_open(TimeZone::UTC.to_datetime(ts))
                })
                .count() as u32;
            let length = if start_min < end_min { end_min - start_min } else { 1440 - start_min + end_min };
            prop_assert_eq!(open_minutes, length);
        }

        #[test]
        fn nothing_changes_before_the_next_change(
            start in 0u32..86_400, end in 0u32..=86_400, days in 1u8..128,
            instant in 1_700_000_000i64..1_900_000_000, samples in prop::collection::vec(0.0f64..1.0, 16),
            zone in prop::sample::select(vec!["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham"]),
        ) {
            prop_assume!(start != end);
            let names: Vec<&str> = (0..7).filter(|i| days & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect();
            let s = schedule(vec![window(&names, &format_time(start), &format_time(end))]);
            let tz = TimeZone::get(zone).expect("known zone");
            let after = Timestamp::from_second(instant).expect("in range");
            let open_after = s.is_open_at(&tz, after);
            match s.next_change(&tz, after) {
                None => {
                    // Only a schedule open all week never changes.
                    for hour in 0..24 * 8 {
                        let t = Timestamp::from_second(instant + hour * 3600).expect("in range");
                        prop_assert_eq!(s.is_open_at(&tz, t), open_after);
                    }
                }
                Some(change) => {
                    prop_assert!(change > after);
                    prop_assert!(change.as_second() - instant <= 8 * 86_400);
                    prop_assert_ne!(s.is_open_at(&tz, change), open_after);
                    let span = (change.as_second() - instant) as f64;
                    for f in samples {
                        let t = Timestamp::from_second(instant + (f * span) as i64).expect("in range");
                        if t < change {
                            prop_assert_eq!(s.is_open_at(&tz, t), open_after, "changed at {} before {}", t, change);
                        }
                    }
                }
            }
        }

        #[test]
        fn a_repeating_window_or_visit_is_open_exactly_when_the_calendar_says_so(
            start in 0u32..86_400, end in 0u32..=86_400, days in 1u8..128, weeks in 1u8..=4,
            from_offset in -60i64..60, instant in 1_700_000_000i64..1_900_000_000, as_visit in any::<bool>(),
            zone in prop::sample::select(vec!["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham"]),
        ) {
            prop_assume!(start != end);
            let tz = TimeZone::get(zone).expect("known zone");
            let wall = tz.to_datetime(Timestamp::from_second(instant).expect("in range"));
            let from = wall.date().checked_add(jiff::Span::new().days(from_offset)).expect("in range");
            let names: Vec<&str> = (0..7).filter(|i| days & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect();
            let (start_text, end_text) = (format_time(start), format_time(end));
            let s = if as_visit {
                visits(vec![visit(&from.to_string(), &start_text, &end_text)])
            } else {
                schedule(vec![every(weeks, &from.to_string(), &names, &start_text, &end_text)])
            };
            // An independent reading: jiff's calendar arithmetic, not the schedule's day numbers.
            let starts_on = |day: jiff::civil::Date| {
                if as_visit {
                    return day == from;
                }
                let monday_of = |d: jiff::civil::Date| {
                    d.checked_sub(jiff::Span::new().days(i64::from(d.weekday().to_monday_zero_offset()))).expect("in range")
                };
                let repeat = weeks;
                let weeks = monday_of(from).until((jiff::Unit::Day, monday_of(day))).expect("in range").get_days() / 7;
                names.contains(&DAY_NAMES[day.weekday().to_monday_zero_offset() as usize])
                    && day >= from
                    && weeks % i32::from(repeat) == 0
            };
            let now = seconds_of_day(wall);
            let today = wall.date();
            let yesterday = today.yesterday().expect("in range");
            let expected = if start < end {
                starts_on(today) && start <= now && now < end
            } else {
                (starts_on(today) && now >= start) || (starts_on(yesterday) && now < end)
            };
            prop_assert_eq!(s.is_open(wall), expected);
        }

        #[test]
        fn nothing_changes_before_the_next_change_of_repeats_and_visits(
            start in 0u32..86_400, end in 0u32..=86_400, days in 1u8..128, weeks in 1u8..=4,
            from_offset in -60i64..60, visit_offset in -3i64..40, with_window in any::<bool>(),
            instant in 1_700_000_000i64..1_900_000_000, samples in prop::collection::vec(0.0f64..1.0, 24),
            zone in prop::sample::select(vec!["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham"]),
        ) {
            prop_assume!(start != end);
            let tz = TimeZone::get(zone).expect("known zone");
            let after = Timestamp::from_second(instant).expect("in range");
            let day = tz.to_datetime(after).date();
            let shifted = |offset: i64| day.checked_add(jiff::Span::new().days(offset)).expect("in range").to_string();
            let names: Vec<&str> = (0..7).filter(|i| days & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect();
            let (start_text, end_text) = (format_time(start), format_time(end));
            let spec = ScheduleSpec {
                always: None,
                windows: with_window.then(|| vec![every(weeks, &shifted(from_offset), &names, &start_text, &end_text)]),
                visits: Some(vec![visit(&shifted(visit_offset), &format_time(end % 86_400), &format_time(start.max(1)))])
                    .filter(|v| v[0].start != v[0].end),
            };
            prop_assume!(spec.windows.is_some() || spec.visits.is_some());
            let s = Schedule::parse(&spec).expect("valid schedule");
            let open_after = s.is_open_at(&tz, after);
            let horizon = match s.next_change(&tz, after) {
                None => 90 * 86_400,
                Some(change) => {
                    prop_assert!(change > after);
                    prop_assert_ne!(s.is_open_at(&tz, change), open_after);
                    change.as_second() - instant
                }
            };
            // Every hour up to the change (or 90 days) and random seconds in between.
            let hours = (0..horizon / 3600).map(|h| instant + h * 3600);
            let random = samples.iter().map(|f| instant + (f * horizon as f64) as i64);
            for second in hours.chain(random) {
                let t = Timestamp::from_second(second).expect("in range");
                if second < instant + horizon {
                    prop_assert_eq!(s.is_open_at(&tz, t), open_after, "changed at {} before the next change", t);
                }
            }
        }
    }
}

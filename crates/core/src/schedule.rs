//! When a code works: always, or in weekly wall-clock windows.
//!
//! Windows are judged by the home's wall clock, never by elapsed time:
//! - `days` names the day a window starts on; `start` is inclusive, `end` exclusive;
//! - an `end` earlier than `start` runs past midnight into the next day;
//! - `end` may be "24:00", the end of the day; `end == start` is refused;
//! - in a DST gap the missing wall times never occur, so a window that lies
//!   wholly inside the gap is simply never open that night;
//! - in a DST overlap a wall time that occurs twice is inside the window both times.

use std::fmt;

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

const SECONDS_PER_DAY: u32 = 86_400;
/// More windows than any week needs; a bound keeps a decision cheap.
pub const MAX_WINDOWS: usize = 28;

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
/// `{"always": true}` or `{"windows": [{"days": ["mon"], "start": "11:00", "end": "14:00"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<WindowSpec>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

/// A valid schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Always,
    Windows(Vec<Window>),
}

/// One weekly window. `start` and `end` are seconds after midnight;
/// `end` may be 86 400 ("24:00").
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Window {
    days: DaySet,
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
        match (spec.always, &spec.windows) {
            (Some(true), None) => Ok(Self::Always),
            (None, Some(windows)) => {
                if windows.is_empty() {
                    return Err(ScheduleError::Invalid("a schedule needs at least one window, or {\"always\": true}"));
                }
                if windows.len() > MAX_WINDOWS {
                    return Err(ScheduleError::Invalid("a schedule may have at most 28 windows"));
                }
                windows.iter().map(Window::parse).collect::<Result<_, _>>().map(Self::Windows)
            }
            _ => Err(ScheduleError::Invalid("a schedule is either {\"always\": true} or {\"windows\": [...]}")),
        }
    }

    pub fn to_spec(&self) -> ScheduleSpec {
        match self {
            Self::Always => ScheduleSpec { always: Some(true), windows: None },
            Self::Windows(windows) => {
                ScheduleSpec { always: None, windows: Some(windows.iter().copied().map(Window::to_spec).collect()) }
            }
        }
    }

    /// Whether the schedule is open at this wall-clock time of the home.
    pub fn is_open(&self, wall: DateTime) -> bool {
        match self {
            Self::Always => true,
            Self::Windows(windows) => windows.iter().any(|w| w.is_open(wall)),
        }
    }

    /// Whether the schedule is open at an instant, seen from the home's zone.
    pub fn is_open_at(&self, tz: &TimeZone, at: Timestamp) -> bool {
        self.is_open(tz.to_datetime(at))
    }

    /// The first instant after `after` at which the schedule opens or closes
    /// (`None`: it never does, as `Always`).
    ///
    /// Openness can only change where the wall clock reaches a window's start
    /// or end, or jumps (a DST transition), so those instants are the
    /// candidates: every boundary of the days around `after` (both instants
    /// of a wall time that occurs twice), and the zone's next transitions.
    /// A week's windows repeat, so nine days of candidates always hold the
    /// next change of a schedule that changes at all.
    pub fn next_change(&self, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let Self::Windows(windows) = self else { return None };
        let first_day = tz.to_datetime(after).date();
        let mut candidates: Vec<Timestamp> = Vec::new();
        for offset in -1..=8 {
            let Ok(day) = first_day.checked_add(jiff::Span::new().days(offset)) else { continue };
            for window in windows {
                for boundary in [window.start, window.end % SECONDS_PER_DAY] {
                    let wall = day.to_datetime(wall_time(boundary));
                    let both = tz.to_ambiguous_timestamp(wall);
                    candidates.extend(both.earlier().ok());
                    candidates.extend(both.later().ok());
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
        let start = parse_time(&spec.start, false)?;
        let end = parse_time(&spec.end, true)?;
        if start == end {
            return Err(ScheduleError::EmptyWindow);
        }
        Ok(Self { days, start, end })
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
        }
    }

    fn is_open(&self, wall: DateTime) -> bool {
        let now = seconds_of_day(wall);
        let today = wall.weekday();
        if self.start < self.end {
            self.days.contains(today) && self.start <= now && now < self.end
        } else {
            // Overnight: from `start` on a listed day until `end` the day after.
            (self.days.contains(today) && now >= self.start) || (self.days.contains(today.previous()) && now < self.end)
        }
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.to_spec();
        write!(f, "{:?} {}-{}", spec.days, spec.start, spec.end)
    }
}

fn seconds_of_day(wall: DateTime) -> u32 {
    let t = wall.time();
    // Each part is within its range, so the sum is below 86 400.
    u32::from(t.hour().unsigned_abs()) * 3600
        + u32::from(t.minute().unsigned_abs()) * 60
        + u32::from(t.second().unsigned_abs())
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
        WindowSpec { days: days.iter().map(|d| (*d).to_owned()).collect(), start: start.into(), end: end.into() }
    }

    fn schedule(windows: Vec<WindowSpec>) -> Schedule {
        Schedule::parse(&ScheduleSpec { always: None, windows: Some(windows) }).expect("valid schedule")
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
            ScheduleSpec { always: Some(false), windows: None },
            ScheduleSpec { always: None, windows: None },
            ScheduleSpec { always: Some(true), windows: Some(vec![]) },
            ScheduleSpec { always: None, windows: Some(vec![]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&[], "11:00", "12:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["monday"], "11:00", "12:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon", "mon"], "11:00", "12:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "11:00", "11:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "24:00", "11:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "11:60", "12:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "1:00", "12:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "11:00", "12:00:60")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "00:00", "24:00:01")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "+1:00", "12:00")]) },
            ScheduleSpec { always: None, windows: Some(vec![window(&["mon"], "1:00", "12:00"); 29]) },
        ];
        for spec in bad {
            assert!(Schedule::parse(&spec).is_err(), "{spec:?} should be refused");
        }
    }

    #[test]
    fn spec_round_trips() {
        let spec = ScheduleSpec {
            always: None,
            windows: Some(vec![window(&["mon", "fri"], "11:00", "14:00:30"), window(&["sun"], "22:00", "24:00")]),
        };
        assert_eq!(Schedule::parse(&spec).map(|s| s.to_spec()), Ok(spec));
        let always = ScheduleSpec { always: Some(true), windows: None };
        assert_eq!(Schedule::parse(&always).map(|s| s.to_spec()), Ok(always));
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
    }
}

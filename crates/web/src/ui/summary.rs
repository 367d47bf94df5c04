//! Plain-words summaries of a user's access and schedule for the Users screen.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use keyward_app::UserView;
use keyward_core::Bound;

const DAYS: [(&str, &str); 7] =
    [("mon", "Mon"), ("tue", "Tue"), ("wed", "Wed"), ("thu", "Thu"), ("fri", "Fri"), ("sat", "Sat"), ("sun", "Sun")];

/// "Mon–Fri 11:00–14:00", consecutive days joined by a dash.
fn days(names: &[String]) -> String {
    let indexes: Vec<usize> =
        DAYS.iter().enumerate().filter(|(_, d)| names.iter().any(|n| n == d.0)).map(|(i, _)| i).collect();
    if indexes.len() == DAYS.len() {
        return "Every day".to_owned();
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for i in indexes {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    runs.iter()
        .map(|&(a, b)| match b - a {
            0 => DAYS[a].1.to_owned(),
            1 => format!("{}, {}", DAYS[a].1, DAYS[b].1),
            _ => format!("{}–{}", DAYS[a].1, DAYS[b].1),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A schedule's windows and visit days in words ("Mon–Fri 11:00–14:00",
/// "Fri 09:00–12:00 every 2 weeks from 11 Dec 2026", "24 Dec 2026
/// 10:00–16:00"), or "At all times".
pub fn schedule(spec: &keyward_core::ScheduleSpec) -> Vec<String> {
    if spec.always == Some(true) {
        return vec!["At all times".to_owned()];
    }
    // "HH:MM" strings compare as times: an earlier end runs into the next day.
    let hours = |start: &str, end: &str| {
        let next_day = if end < start { " (next day)" } else { "" };
        format!("{start}–{end}{next_day}")
    };
    let windows = spec.windows.iter().flatten().map(|w| {
        let from = w.from.as_deref().map(written_day);
        let repeat = match (w.every_weeks.filter(|n| *n > 1), from) {
            (Some(n), Some(from)) => format!(" every {n} weeks from {from}"),
            (None, Some(from)) => format!(" from {from}"),
            (_, None) => String::new(),
        };
        format!("{} {}{repeat}", days(&w.days), hours(&w.start, &w.end))
    });
    let visits = spec.visits.iter().flatten().map(|v| format!("{} {}", written_day(&v.date), hours(&v.start, &v.end)));
    windows.chain(visits).collect()
}

/// "2026-12-11" as "Fri 11 Dec 2026" (as given, should it not be a date).
fn written_day(text: &str) -> String {
    text.parse::<Date>().map_or_else(|_| text.to_owned(), |d| d.strftime("%a %-d %b %Y").to_string())
}

/// The first day the code works, in the home's zone: the day given, or the
/// day of the instant given.
pub fn first_day(user: &UserView, tz: &TimeZone) -> Option<Date> {
    user.valid_from.map(|b| match b {
        Bound::Day(day) => day,
        Bound::At(t) => tz.to_datetime(t).date(),
    })
}

/// The last day the code works (inclusive), in the home's zone: the day
/// given, or the day of the last instant before an exclusive end.
pub fn last_day(user: &UserView, tz: &TimeZone) -> Option<Date> {
    user.valid_until.map(|b| match b {
        Bound::Day(day) => day,
        Bound::At(t) => tz.to_datetime(t.checked_sub(jiff::SignedDuration::from_nanos(1)).unwrap_or(t)).date(),
    })
}

/// When the code works, in the home's time zone.
pub fn when(user: &UserView, tz: &TimeZone) -> String {
    let mut parts = schedule(&user.schedule);
    let date = |d: Date| d.strftime("%-d %b %Y").to_string();
    match (first_day(user, tz), last_day(user, tz)) {
        (Some(from), Some(until)) => parts.push(format!("{} – {}", date(from), date(until))),
        (Some(from), None) => parts.push(format!("from {}", date(from))),
        (None, Some(until)) => parts.push(format!("until {}", date(until))),
        (None, None) => {}
    }
    if let Some(max) = user.max_uses {
        let left = max.saturating_sub(user.uses);
        parts.push(if left == 1 { "1 use left".to_owned() } else { format!("{left} uses left") });
    }
    parts.join(" · ")
}

pub fn notify(user: &UserView) -> &'static str {
    match (user.notify.arrive, user.notify.leave) {
        (true, true) => "Arrival, departure",
        (true, false) => "Arrival",
        (false, true) => "Departure",
        (false, false) => "—",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_ranges() {
        let names = |d: &[&str]| d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(days(&names(&["mon", "tue", "wed", "thu", "fri"])), "Mon–Fri");
        assert_eq!(days(&names(&["sat", "sun"])), "Sat, Sun");
        assert_eq!(days(&names(&["mon", "tue", "wed", "thu", "fri", "sat", "sun"])), "Every day");
        assert_eq!(days(&names(&["mon", "wed", "thu", "fri", "sun"])), "Mon, Wed–Fri, Sun");
    }

    #[test]
    fn repeats_and_visit_days_in_words() {
        use keyward_core::{ScheduleSpec, VisitSpec, WindowSpec};
        let spec = ScheduleSpec {
            always: None,
            windows: Some(vec![
                WindowSpec {
                    every_weeks: Some(2),
                    from: Some("2026-12-11".into()),
                    ..WindowSpec::weekly(&["fri"], "09:00", "12:00")
                },
                WindowSpec { from: Some("2027-01-04".into()), ..WindowSpec::weekly(&["mon"], "22:00", "02:00") },
            ]),
            visits: Some(vec![VisitSpec { date: "2026-12-24".into(), start: "10:00".into(), end: "16:00".into() }]),
        };
        assert_eq!(
            schedule(&spec),
            [
                "Fri 09:00–12:00 every 2 weeks from Fri 11 Dec 2026",
                "Mon 22:00–02:00 (next day) from Mon 4 Jan 2027",
                "Thu 24 Dec 2026 10:00–16:00",
            ]
        );
        assert_eq!(schedule(&ScheduleSpec::always()), ["At all times"]);
    }
}

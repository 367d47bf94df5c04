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

/// A schedule's windows in words ("Mon–Fri 11:00–14:00"), or "At all times".
pub fn schedule(spec: &keyward_core::ScheduleSpec) -> Vec<String> {
    match &spec.windows {
        Some(windows) => windows
            .iter()
            .map(|w| {
                // "HH:MM" strings compare as times: an earlier end runs into the next day.
                let next_day = if w.end < w.start { " (next day)" } else { "" };
                format!("{} {}–{}{next_day}", days(&w.days), w.start, w.end)
            })
            .collect(),
        None => vec!["At all times".to_owned()],
    }
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
}

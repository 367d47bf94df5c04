//! The instants the API takes: RFC 3339 date-times of the years 2000 to
//! 2199, such as `2026-12-05T09:00:00Z` or `2026-12-05T10:00:00.5+01:00`.
//!
//! One strict grammar, stated once as a regular expression (the API's schema
//! carries it) and checked here by hand: every text the expression matches
//! is a real instant (no 30 February, no hour 24), and nothing else is
//! taken. A looser parser would take texts the schema calls invalid, and a
//! client generated from the schema could not know.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::Offset;

/// The grammar: a date of 2000–2199 (leap days included), a time to the
/// second with up to nine decimals, and `Z` or an offset of up to ±23:59.
pub const PATTERN: &str = concat!(
    "^(?:2[01][0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:20(?:0[048]|[2468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))-02-29)",
    "[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
);

/// The instant `text` names, if it is of the grammar.
pub fn parse(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i32, |n, d| d.is_ascii_digit().then(|| n * 10 + i32::from(d - b'0')))
    };
    let at = |i: usize, expected: &[u8]| b.get(i).is_some_and(|c| expected.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(2000..=2199).contains(&year) || !(1..=12).contains(&month) || day < 1 || day > days_in(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i32;
    if at(i, b".") {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = number(i + 1, digits)? * 10i32.pow(9 - digits as u32);
        i += 1 + digits;
    }
    let offset_seconds = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (number(i + 1, 2)?, number(i + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let civil = DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    Offset::from_seconds(offset_seconds).ok()?.to_timestamp(civil).ok()
}

fn days_in(year: i32, month: i32) -> i32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        let t = |s: &str| s.parse::<Timestamp>().expect("jiff reads it");
        assert_eq!(parse("2026-12-05T09:00:00Z"), Some(t("2026-12-05T09:00:00Z")));
        assert_eq!(parse("2026-12-05t10:00:00.5+01:00"), Some(t("2026-12-05T09:00:00.5Z")));
        assert_eq!(parse("2000-02-29T00:00:00-00:30"), Some(t("2000-02-29T00:30:00Z")));
        assert_eq!(parse("2199-12-31T23:59:59.123456789z"), Some(t("2199-12-31T23:59:59.123456789Z")));
        for bad in [
            "2100-02-29T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T09:00:60Z",
            "2026-12-05T09:00Z",
            "2026-12-05 09:00:00Z",
            "2026-12-05T09:00:00",
            "2026-12-05T09:00:00+0100",
            "2026-12-05T09:00:00+24:00",
            "2026-12-05T09:00:00.Z",
            "2026-12-05T09:00:00.1234567890Z",
            "2026-12-05T09:00:00Z ",
            "+2026-12-05T09:00:00Z",
            "２026-12-05T09:00:00Z",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    fn matches(text: &str) -> bool {
        regex::Regex::new(PATTERN).expect("a regex").is_match(text)
    }

    proptest::proptest! {
        #[test]
        fn the_pattern_and_the_parser_agree(
            text in "2[01][0-9]{2}-[01][0-9]-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,10})?([Zz]|[+-][0-2][0-9]:[0-6][0-9]|)"
        ) {
            proptest::prop_assert_eq!(matches(&text), parse(&text).is_some(), "{}", text);
        }

        #[test]
        fn every_text_of_the_pattern_is_the_instant_jiff_reads(text in PATTERN.trim_start_matches('^').trim_end_matches('$')) {
            let ours = parse(&text);
            proptest::prop_assert!(ours.is_some(), "{}", text);
            proptest::prop_assert_eq!(ours, text.parse::<Timestamp>().ok(), "{}", text);
        }
    }
}

/// A calendar day as the API and the forms write it, "2026-12-05", and
/// nothing else (jiff alone would also read a date with a time).
pub fn parse_day(text: &str) -> Option<jiff::civil::Date> {
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shape.then(|| text.parse().ok()).flatten()
}

/// Whether a day is of the years the API takes, 2000 to 2199 (as its instants).
pub fn day_in_range(day: jiff::civil::Date) -> bool {
    (2000..=2199).contains(&day.year())
}

/// A day as [`parse_day`] reads it, of the years the API takes.
pub fn parse_day_in_range(text: &str) -> Option<jiff::civil::Date> {
    parse_day(text).filter(|day| day_in_range(*day))
}

#[cfg(test)]
mod day_tests {
    use super::parse_day;

    #[test]
    fn a_day_is_written_one_way() {
        assert_eq!(parse_day("2026-12-05").map(|d| d.to_string()).as_deref(), Some("2026-12-05"));
        for not_a_day in ["2026-12-05T10:00", "2026-2-5", "20261205", "2026-02-30", "", "２０２６-12-05"] {
            assert_eq!(parse_day(not_a_day), None, "{not_a_day}");
        }
    }
}

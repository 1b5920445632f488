//! KQL's text forms of times: datetime literals and answers, timespans as Log Analytics
//! prints them (`1.02:03:04.5000000`), and the API's ISO 8601 `timespan` parameter.

use crate::reads::TimeRange;
use crate::time::{civil_from_days, parse_instant};

const NS_PER_S: i64 = 1_000_000_000;

/// An ISO 8601 instant; without an offset it is UTC, as in KQL (`2026-12-01 10:00`).
pub fn parse_datetime(text: &str) -> Option<i64> {
    if let Some(ns) = parse_instant(text) {
        return Some(ns);
    }
    let with_seconds = if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.to_owned()
    };
    parse_instant(&format!("{with_seconds}Z"))
}

/// `2026-12-01T10:00:00Z`, with as many fraction digits as the value needs.
pub fn format_datetime(ns: i64) -> String {
    let seconds = ns.div_euclid(NS_PER_S);
    let fraction = ns.rem_euclid(NS_PER_S);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60,
        fraction_digits(fraction, 9)
    )
}

/// `.25` for a quarter second (of `digits` digits at most), nothing for none.
fn fraction_digits(fraction_ns: i64, digits: usize) -> String {
    if fraction_ns == 0 {
        return String::new();
    }
    let text = format!("{fraction_ns:09}");
    let text = text[..digits.min(9)].trim_end_matches('0');
    if text.is_empty() {
        String::new()
    } else {
        format!(".{text}")
    }
}

/// `[-][d.]hh:mm:ss[.fffffff]`, as Log Analytics answers timespans.
pub fn format_timespan(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    let total_s = ns / NS_PER_S as u64;
    let fraction = ns % NS_PER_S as u64;
    let days = total_s / 86_400;
    let day_prefix = if days > 0 {
        format!("{days}.")
    } else {
        String::new()
    };
    let ticks = if fraction > 0 {
        format!(".{:07}", fraction / 100)
    } else {
        String::new()
    };
    format!(
        "{sign}{day_prefix}{:02}:{:02}:{:02}{ticks}",
        total_s % 86_400 / 3_600,
        total_s % 3_600 / 60,
        total_s % 60
    )
}

/// An ISO 8601 duration such as `PT1H`, `P7D`, `PT1H30M`, `PT0.5S`, in nanoseconds.
pub fn parse_iso_duration(text: &str) -> Option<i64> {
    let rest = text.strip_prefix(['P', 'p'])?;
    let (date_part, time_part) = match rest.find(['T', 't']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let mut total: i64 = 0;
    let mut any = false;
    for (part, units) in [
        (date_part, &[('W', 604_800.0), ('D', 86_400.0)][..]),
        (
            time_part.unwrap_or(""),
            &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)][..],
        ),
    ] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let seconds = units
                .iter()
                .find(|(unit, _)| c.eq_ignore_ascii_case(unit))
                .map(|(_, s)| *s)?;
            let amount: f64 = number.parse().ok()?;
            number.clear();
            let ns = amount * seconds * NS_PER_S as f64;
            if !ns.is_finite() || ns >= i64::MAX as f64 {
                return None;
            }
            total = total.checked_add(ns.round() as i64)?;
            any = true;
        }
        if !number.is_empty() {
            return None;
        }
    }
    if time_part == Some("") {
        return None;
    }
    any.then_some(total)
}

/// The Log Analytics `timespan`: a duration back from now (`PT1H`), `start/end`,
/// `start/duration` or `duration/end`.
pub fn parse_timespan(text: &str, now_ns: i64) -> Option<TimeRange> {
    let (from_ns, to_ns) = match text.split_once('/') {
        None => (now_ns.checked_sub(parse_iso_duration(text)?)?, now_ns),
        Some((start, end)) => match (parse_datetime(start), parse_datetime(end)) {
            (Some(from), Some(to)) => (from, to),
            (Some(from), None) => (from, from.checked_add(parse_iso_duration(end)?)?),
            (None, Some(to)) => (to.checked_sub(parse_iso_duration(start)?)?, to),
            (None, None) => return None,
        },
    };
    (from_ns < to_ns).then_some(TimeRange { from_ns, to_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: i64 = 1_795_341_600 * NS_PER_S; // 2026-11-22T10:00:00Z

    #[test]
    fn datetimes_parse_without_an_offset_and_print_back() {
        assert_eq!(parse_datetime("2026-11-22 10:00"), Some(BASE));
        assert_eq!(parse_datetime("2026-11-22T10:00:00"), Some(BASE));
        assert_eq!(format_datetime(BASE), "2026-11-22T10:00:00Z");
        assert_eq!(
            format_datetime(BASE + 250_000_000),
            "2026-11-22T10:00:00.25Z"
        );
        assert_eq!(parse_datetime(&format_datetime(BASE + 7)), Some(BASE + 7));
    }

    #[test]
    fn timespans_print_as_log_analytics_does() {
        assert_eq!(format_timespan(300 * NS_PER_S), "00:05:00");
        assert_eq!(
            format_timespan(93_784 * NS_PER_S + 500_000_000),
            "1.02:03:04.5000000"
        );
        assert_eq!(format_timespan(-NS_PER_S), "-00:00:01");
    }

    #[test]
    fn iso_durations_and_intervals() {
        assert_eq!(parse_iso_duration("PT1H"), Some(3_600 * NS_PER_S));
        assert_eq!(parse_iso_duration("P1DT30M"), Some(88_200 * NS_PER_S));
        assert_eq!(parse_iso_duration("PT0.5S"), Some(NS_PER_S / 2));
        for bad in ["P", "PT", "1H", "PT1X", "PT1", "P1H"] {
            assert_eq!(parse_iso_duration(bad), None, "{bad}");
        }
        let range = parse_timespan("2026-11-22T10:00:00Z/PT1H", 0).expect("ok");
        assert_eq!(range.to_ns - range.from_ns, 3_600 * NS_PER_S);
        let back = parse_timespan("PT6H", BASE).expect("ok");
        assert_eq!(back.from_ns, BASE - 6 * 3_600 * NS_PER_S);
        assert_eq!(parse_timespan("2026-11-23/2026-11-22", 0), None);
    }
}

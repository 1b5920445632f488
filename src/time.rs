//! Times in query parameters: RFC 3339 / ISO 8601 instants (`2026-11-22T10:00:00Z`,
//! `2026-11-22T10:00:00.250+01:00`, `2026-11-22`) and relative spans back from now (`90s`,
//! `15m`, `1h`, `7d`), as Application Insights' `ago()` reads them.

const NS_PER_S: i64 = 1_000_000_000;
pub const MINUTE_NS: i64 = 60 * NS_PER_S;

/// The minute a timestamp falls in (its start).
pub fn minute_of(timestamp_ns: i64) -> i64 {
    // Saturating: flooring a time near `i64::MIN` must not overflow (client times are
    // bounded before they get here; this keeps the arithmetic total anyway).
    timestamp_ns.div_euclid(MINUTE_NS).saturating_mul(MINUTE_NS)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A relative span like `15m`, in ns.
pub fn parse_span(text: &str) -> Option<i64> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(unit_at);
    let amount: i64 = digits.parse().ok()?;
    let unit_s = match unit {
        "ms" => return amount.checked_mul(1_000_000),
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    amount.checked_mul(unit_s)?.checked_mul(NS_PER_S)
}

/// An instant, or a relative span back from `now_ns`.
pub fn parse_time(text: &str, now_ns: i64) -> Option<i64> {
    if let Some(span) = parse_span(text) {
        return now_ns.checked_sub(span);
    }
    parse_instant(text)
}

fn number(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let digits = text.get(range)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// RFC 3339 with a `Z` or `±hh:mm` offset, optional fraction; or a bare date (midnight UTC).
pub fn parse_instant(text: &str) -> Option<i64> {
    let year = number(text, 0..4)?;
    let month = number(text, 5..7)?;
    let day = number(text, 8..10)?;
    if text.get(4..5)? != "-" || text.get(7..8)? != "-" || !(1..=12).contains(&month) {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if text.len() == 10 {
        return days.checked_mul(86_400 * NS_PER_S);
    }
    if !matches!(text.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let hour = number(text, 11..13)?;
    let minute = number(text, 14..16)?;
    let second = number(text, 17..19)?;
    if text.get(13..14)? != ":" || text.get(16..17)? != ":" || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction_ns = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value: i64 = fraction[..digits].parse().ok()?;
        fraction_ns = value * 10i64.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hours = number(rest, 1..3)?;
            let minutes = number(rest, 4..6)?;
            if rest.len() != 6 || rest.get(3..4)? != ":" || hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3_600 + minutes * 60)
        }
    };
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_s;
    seconds.checked_mul(NS_PER_S)?.checked_add(fraction_ns)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// RFC 3339 in UTC with milliseconds, for answers.
pub fn format_instant(ns: i64) -> String {
    let seconds = ns.div_euclid(NS_PER_S);
    let millis = ns.rem_euclid(NS_PER_S) / 1_000_000;
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_in_every_documented_form() {
        let base = 1_795_341_600 * NS_PER_S; // 2026-11-22T10:00:00Z
        assert_eq!(parse_instant("2026-11-22T10:00:00Z"), Some(base));
        assert_eq!(parse_instant("2026-11-22T11:00:00+01:00"), Some(base));
        assert_eq!(
            parse_instant("2026-11-22T10:00:00.25Z"),
            Some(base + 250_000_000)
        );
        assert_eq!(
            parse_instant("2026-11-22"),
            Some(base - 10 * 3_600 * NS_PER_S)
        );
        assert_eq!(
            format_instant(base + 250_000_000),
            "2026-11-22T10:00:00.250Z"
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-11-22T25:00:00Z",
            "2026-11-22T10:00:00",
            "2026-11-22T10:00:00+1:00",
            "now",
            "'; DROP TABLE requests --",
            "2026-11-22T10:00:00.Z",
            "２０２６-11-22",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn relative_spans_count_back_from_now() {
        let now = 10_000 * NS_PER_S;
        assert_eq!(parse_time("1h", now), Some(now - 3_600 * NS_PER_S));
        assert_eq!(parse_time("90s", now), Some(now - 90 * NS_PER_S));
        assert_eq!(parse_time("500ms", now), Some(now - 500_000_000));
        assert_eq!(parse_time("1y", now), None);
        assert_eq!(parse_time("99999999999999999999d", now), None);
        assert_eq!(parse_time("-1h", now), None);
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 10_957, 20_414, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}

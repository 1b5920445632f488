//! Query parameters of the APIs tracehouse speaks for other tools (Tempo, Jaeger): their
//! clients send parameters we do not use, so unknown ones are ignored rather than refused,
//! and their values come in those tools' own forms (Go durations, Unix seconds or µs).

use std::collections::HashMap;

use super::ApiError;
use crate::reads::TimeRange;

/// The query string's parameters; the last of a repeated one wins, as in Go's `Get`.
pub fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A Go duration (`100ms`, `1.5s`, `1m30s`, `250us`) in nanoseconds; a bare number is taken
/// in `bare_unit_ns`.
pub fn go_duration_ns(text: &str, bare_unit_ns: f64) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(number) = text.parse::<f64>() {
        return to_ns(number * bare_unit_ns);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest.get(..number_len)?.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3_600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    to_ns(total)
}

fn to_ns(ns: f64) -> Option<i64> {
    (0.0..9.2e18).contains(&ns).then_some(ns.round() as i64)
}

/// `minDuration`/`maxDuration` (Go durations; bare numbers in `bare_unit_ns`) as TraceQL
/// conditions on `duration`.
pub fn duration_conditions(
    params: &HashMap<String, String>,
    bare_unit_ns: f64,
) -> Result<Vec<String>, ApiError> {
    let mut conditions = Vec::new();
    for (name, op) in [("minDuration", ">="), ("maxDuration", "<=")] {
        if let Some(text) = params.get(name).filter(|t| !t.is_empty()) {
            let ns = go_duration_ns(text, bare_unit_ns)
                .ok_or_else(|| ApiError::invalid(name, &format!("{text:?} is not a duration")))?;
            conditions.push(format!("duration {op} {ns}ns"));
        }
    }
    Ok(conditions)
}

/// An integer parameter, or `default` when absent.
pub fn integer(
    params: &HashMap<String, String>,
    name: &str,
    default: i64,
) -> Result<i64, ApiError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::invalid(name, &format!("{text:?} is not an integer"))),
    }
}

/// `start`/`end` in units of `unit_ns` (seconds for Tempo, µs for Jaeger), defaulting to
/// the `default_span_ns` before now.
pub fn range(
    params: &HashMap<String, String>,
    unit_ns: i64,
    default_span_ns: i64,
    now_ns: i64,
) -> Result<TimeRange, ApiError> {
    let scaled = |name: &str, default_ns: i64| -> Result<i64, ApiError> {
        match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(default_ns),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .and_then(|v| v.checked_mul(unit_ns))
                .ok_or_else(|| ApiError::invalid(name, &format!("{text:?} is not a time"))),
        }
    };
    let to_ns = scaled("end", now_ns)?;
    let from_ns = scaled("start", to_ns.saturating_sub(default_span_ns))?;
    // Tempo's `end` is a whole second: the range includes it.
    let to_ns = to_ns.saturating_add(unit_ns.min(1_000_000_000));
    if from_ns >= to_ns {
        return Err(ApiError::invalid("start", "must be before end"));
    }
    Ok(TimeRange { from_ns, to_ns })
}

/// `key=value` pairs separated by whitespace, as logfmt writes them (Tempo's legacy `tags=`):
/// a value may be quoted, with `\"` and `\\` escapes, to hold spaces. Answers the first part
/// that is not a pair when one is not.
pub fn logfmt_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let end_of_key = rest.find(['=', ' ', '\t']).unwrap_or(rest.len());
        let key = &rest[..end_of_key];
        if key.is_empty() || !rest[end_of_key..].starts_with('=') {
            let part = rest.split_whitespace().next().unwrap_or(rest);
            return Err(part.to_owned());
        }
        rest = &rest[end_of_key + 1..];
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut closed = None;
            while let Some((at, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = Some(at + 1);
                        break;
                    }
                    '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
                    c => value.push(c),
                }
            }
            let Some(after) = closed else {
                return Err(format!("{key}={}", rest));
            };
            rest = &quoted[after..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value.push_str(&rest[..end]);
            rest = &rest[end..];
        }
        pairs.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_grafana_writes_them() {
        assert_eq!(go_duration_ns("100ms", 1e6), Some(100_000_000));
        assert_eq!(go_duration_ns("1.5s", 1e6), Some(1_500_000_000));
        assert_eq!(go_duration_ns("1m30s", 1e6), Some(90_000_000_000));
        assert_eq!(go_duration_ns("250us", 1e6), Some(250_000));
        assert_eq!(go_duration_ns("7", 1e6), Some(7_000_000));
        assert_eq!(go_duration_ns("5parsecs", 1e6), None);
        assert_eq!(go_duration_ns("-5s", 1e6), None);
        assert_eq!(go_duration_ns("", 1e6), None);
    }

    #[test]
    fn ranges_in_the_callers_unit() {
        let params = query_map(Some("start=100&end=200"));
        let range = range(&params, 1_000_000_000, 0, 0).expect("range");
        assert_eq!(range.from_ns, 100_000_000_000);
        assert_eq!(range.to_ns, 201_000_000_000);
        let bad = query_map(Some("start=300&end=200"));
        assert!(super::range(&bad, 1_000_000_000, 0, 0).is_err());
        let junk = query_map(Some("start=x"));
        assert!(super::range(&junk, 1_000, 0, 10).is_err());
    }

    #[test]
    fn logfmt_pairs_take_quoted_values_with_spaces() {
        let pairs =
            logfmt_pairs(r#" service.name="rag-api" name="POST /chat" code=200 q="a \"b\"""#);
        assert_eq!(
            pairs.expect("pairs"),
            vec![
                ("service.name".to_owned(), "rag-api".to_owned()),
                ("name".to_owned(), "POST /chat".to_owned()),
                ("code".to_owned(), "200".to_owned()),
                ("q".to_owned(), r#"a "b""#.to_owned()),
            ]
        );
        assert_eq!(logfmt_pairs("").expect("empty"), vec![]);
        assert_eq!(logfmt_pairs("a=1 oops").expect_err("not a pair"), "oops");
        assert_eq!(logfmt_pairs("=1").expect_err("no key"), "=1");
        assert!(logfmt_pairs(r#"a="open"#).is_err());
    }
}

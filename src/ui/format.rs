//! What the pages share: the parameters of a view's URL, and numbers as people read them.

use crate::api::ApiError;
use crate::api::params::{ParamSpec, Params};

/// The quick time ranges of the picker, as `from` values.
pub const RANGES: [&str; 5] = ["15m", "1h", "6h", "24h", "7d"];

/// A view's query string, parsed and kept so links can carry it on.
pub struct Query {
    pairs: Vec<(String, String)>,
    pub params: Params,
}

impl Query {
    /// Parses a view's query string. Fields a form left empty (`severity=`) mean "not given".
    pub fn parse(raw: Option<&str>, specs: &[ParamSpec]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let given = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        // Pages read percentiles from the rollups: fast over a week, within 2.3 % of exact.
        let params = Params::parse(Some(&given), specs, crate::clock::now_ns())?
            .with_default_percentiles(crate::reads::Percentiles::Binned);
        Ok(Query { pairs, params })
    }

    /// This query with `key=value` added when it does not give `key` (a view's own default,
    /// such as a chart's interval, that links need not carry).
    pub fn or_default(self, key: &str, value: &str, specs: &[ParamSpec]) -> Result<Self, ApiError> {
        if self.params.get(key).is_some() {
            return Ok(self);
        }
        let raw = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.pairs)
            .append_pair(key, value)
            .finish();
        Query::parse(Some(&raw), specs)
    }

    /// The range's `from` as given, `1h` by default.
    pub fn from(&self) -> &str {
        self.params.get("from").unwrap_or("1h")
    }

    /// `path` with this query's time range only: what moving to another view keeps (filters
    /// belong to the view they were set in; a column of one table may not exist in another's).
    pub fn range_link(&self, path: &str, changes: &[(&str, Option<&str>)]) -> String {
        let range = self
            .pairs
            .iter()
            .filter(|(key, _)| matches!(key.as_str(), "from" | "to"))
            .map(|(key, value)| (key.as_str(), value.as_str()));
        url(path, range, changes)
    }

    /// The parameters every view shares (range, table, filters), as given.
    pub fn shared(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .filter(|(key, _)| is_shared(key))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// `path` with this query's range and filters, the `changes` applied (`None` removes a
    /// parameter). Only the parameters every view shares travel: range, table and filters.
    pub fn link(&self, path: &str, changes: &[(&str, Option<&str>)]) -> String {
        // Only the span views know `table`; the text views keep their text (`q`) across ranges.
        let takes_table = matches!(path, "/performance" | "/samples");
        let takes_text = matches!(path, "/logs" | "/query");
        let kept = self
            .shared()
            .filter(|(key, _)| *key != "table" || takes_table)
            .chain(
                self.pairs
                    .iter()
                    .filter(|(key, _)| key == "q" && takes_text)
                    .map(|(key, value)| (key.as_str(), value.as_str())),
            );
        url(path, kept, changes)
    }
}

/// `path?query` from the `kept` pairs a change does not name, then the changes (`None` drops).
fn url<'a>(
    path: &str,
    kept: impl Iterator<Item = (&'a str, &'a str)>,
    changes: &[(&str, Option<&str>)],
) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in kept {
        if !changes.iter().any(|(name, _)| *name == key) {
            serializer.append_pair(key, value);
        }
    }
    for (name, value) in changes {
        if let Some(value) = value {
            serializer.append_pair(name, value);
        }
    }
    let query = serializer.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

fn is_shared(key: &str) -> bool {
    matches!(key, "from" | "to" | "table") || key.starts_with("filter.") || key.starts_with("dim.")
}

/// A duration as people read it: `850 ms`, `7.70 s`, `2.5 min`.
pub fn duration(ms: f64) -> String {
    if !ms.is_finite() {
        "–".to_owned()
    } else if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1_000.0)
    } else {
        format!("{:.1} min", ms / 60_000.0)
    }
}

/// A chart interval as people say it: `30 s`, `5 min`, `3 h`.
pub fn interval(seconds: u32) -> String {
    match seconds {
        s if s < 60 || s % 60 != 0 => format!("{s} s"),
        s if s < 3_600 || s % 3_600 != 0 => format!("{} min", s / 60),
        s => format!("{} h", s / 3_600),
    }
}

/// US dollars: cents from a dollar up, four decimals below (a call costs fractions of a cent).
pub fn usd(dollars: f64) -> String {
    if dollars >= 1.0 {
        format!("${dollars:.2}")
    } else {
        format!("${dollars:.4}")
    }
}

/// A share as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::FROM;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0.5), "0.50 ms");
        assert_eq!(duration(850.4), "850 ms");
        assert_eq!(duration(7_700.0), "7.70 s");
        assert_eq!(duration(150_000.0), "2.5 min");
        assert_eq!(duration(f64::NAN), "–");
        assert_eq!(interval(30), "30 s");
        assert_eq!(interval(300), "5 min");
        assert_eq!(interval(10_800), "3 h");
        assert_eq!(interval(90), "90 s");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(0.00075), "$0.0008");
    }

    #[test]
    fn links_carry_the_range_and_filters_but_not_the_view_state() {
        let specs = [FROM, crate::api::params::FILTER, crate::api::params::LIMIT];
        let query =
            Query::parse(Some("from=6h&filter.role=chat-api&limit=5"), &specs).expect("parses");
        assert_eq!(
            query.link("/samples", &[("band", Some("p95-p99"))]),
            "/samples?from=6h&filter.role=chat-api&band=p95-p99"
        );
        assert_eq!(
            query.link("/performance", &[("from", Some("15m"))]),
            "/performance?filter.role=chat-api&from=15m"
        );
        assert_eq!(query.from(), "6h");
        let dependencies = Query::parse(
            Some("table=dependencies&from=1h"),
            &[FROM, crate::api::params::TABLE],
        )
        .expect("parses");
        assert_eq!(dependencies.link("/logs", &[]), "/logs?from=1h");
        assert_eq!(query.range_link("/map", &[]), "/map?from=6h");
        assert_eq!(
            dependencies.link("/samples", &[]),
            "/samples?table=dependencies&from=1h"
        );
    }
}

//! Query-string parameters: each endpoint declares the parameters it takes ([`ParamSpec`]),
//! which drives both validation (anything else is a 400 naming it) and the OpenAPI document.

use std::collections::HashMap;

use super::ApiError;
use crate::reads::{AppScope, Column, Filter, Percentiles, Selection, Source, TimeRange};
use crate::time::{parse_span, parse_time};

#[derive(Debug, Clone, Copy)]
pub enum ParamType {
    String,
    Integer,
    Number,
}

/// One accepted parameter. A `name` ending in `.` is a prefix: `filter.` takes `filter.role`.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamType,
    pub description: &'static str,
}

pub const fn param(name: &'static str, kind: ParamType, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        description,
    }
}

pub const FROM: ParamSpec = param(
    "from",
    ParamType::String,
    "start of the range: ISO 8601 (`2026-11-22T10:00:00Z`) or a span back from now (`1h`, `15m`, `7d`); default `to` minus 1 hour",
);
pub const TO: ParamSpec = param(
    "to",
    ParamType::String,
    "end of the range (exclusive), same forms as `from`; default now",
);
pub const LIMIT: ParamSpec = param("limit", ParamType::Integer, "most rows returned");
pub const CURSOR: ParamSpec = param(
    "cursor",
    ParamType::String,
    "`next_cursor` of the previous page",
);
pub const TABLE: ParamSpec = param(
    "table",
    ParamType::String,
    "`requests` (default) or `dependencies`",
);
pub const INTERVAL: ParamSpec = param(
    "interval",
    ParamType::String,
    "bucket width for a time series (`1m`, `5m`, `1h`); none for totals",
);
pub const FILTER: ParamSpec = param(
    "filter.",
    ParamType::String,
    "`filter.<column>=<value>`: keep rows whose column equals the value (columns as for `group_by`)",
);
pub const PERCENTILES: ParamSpec = param(
    "percentiles",
    ParamType::String,
    "`exact` (nearest-rank over every stored duration; the API's default) or `binned` (from the per-minute rollups where they answer: within 2.3 % of exact, much faster over long ranges; the web UI's default)",
);
pub const DIMENSION: ParamSpec = param(
    "dim.",
    ParamType::String,
    "`dim.<key>=<value>`: keep rows whose customDimensions key equals the value",
);

/// The longest range a query may cover.
const MAX_RANGE_NS: i64 = 400 * 86_400 * 1_000_000_000;
/// Most buckets a time series may have.
pub const MAX_BUCKETS: i64 = 10_000;
/// Most `filter.*` and `dim.*` conditions in one request: each becomes a condition in the
/// store's query, and thousands of them make queries the stores cannot plan or finish.
pub const MAX_FILTERS: usize = 20;

pub struct Params {
    values: HashMap<String, String>,
    now_ns: i64,
    /// What `percentiles` means when not given.
    default_percentiles: Percentiles,
}

impl Params {
    /// Parses a raw query string, refusing parameters the endpoint does not take and repeats.
    pub fn parse(raw: Option<&str>, specs: &[ParamSpec], now_ns: i64) -> Result<Self, ApiError> {
        let mut values = HashMap::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let known = specs.iter().any(|spec| {
                if let Some(prefix) = spec.name.strip_suffix('.') {
                    key.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .is_some_and(|rest| !rest.is_empty())
                } else {
                    spec.name == key
                }
            });
            if !known {
                return Err(ApiError::invalid(
                    &key,
                    "is not a parameter of this endpoint",
                ));
            }
            if values.insert(key.to_string(), value.to_string()).is_some() {
                return Err(ApiError::invalid(&key, "is given more than once"));
            }
        }
        Ok(Params {
            values,
            now_ns,
            default_percentiles: Percentiles::Exact,
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// These parameters with another default for `percentiles` (the UI reads binned ones).
    pub fn with_default_percentiles(mut self, default: Percentiles) -> Self {
        self.default_percentiles = default;
        self
    }

    pub fn percentiles(&self) -> Result<Percentiles, ApiError> {
        match self.get("percentiles") {
            None => Ok(self.default_percentiles),
            Some("exact") => Ok(Percentiles::Exact),
            Some("binned") => Ok(Percentiles::Binned),
            Some(_) => Err(ApiError::invalid(
                "percentiles",
                "must be `exact` or `binned`",
            )),
        }
    }

    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    pub fn range(&self) -> Result<TimeRange, ApiError> {
        let time = |name: &str| -> Result<Option<i64>, ApiError> {
            self.get(name)
                .map(|text| {
                    parse_time(text, self.now_ns).ok_or_else(|| {
                        ApiError::invalid(
                            name,
                            "must be ISO 8601 (2026-11-22T10:00:00Z) or a span like 1h",
                        )
                    })
                })
                .transpose()
        };
        let to_ns = time("to")?.unwrap_or(self.now_ns);
        let from_ns = match time("from")? {
            Some(from) => from,
            None => to_ns.saturating_sub(3_600_000_000_000),
        };
        if from_ns >= to_ns {
            return Err(ApiError::invalid("from", "must be before `to`"));
        }
        if to_ns
            .checked_sub(from_ns)
            .is_none_or(|span| span > MAX_RANGE_NS)
        {
            return Err(ApiError::invalid("from", "range is longer than 400 days"));
        }
        Ok(TimeRange { from_ns, to_ns })
    }

    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    "limit",
                    &format!("must be a whole number from 1 to {max}"),
                )),
            },
        }
    }

    /// `interval`, checked so the range has at most [`MAX_BUCKETS`] buckets.
    pub fn interval_s(&self, range: TimeRange) -> Result<Option<u32>, ApiError> {
        let Some(text) = self.get("interval") else {
            return Ok(None);
        };
        let span = parse_span(text)
            .filter(|ns| *ns >= 1_000_000_000 && ns % 1_000_000_000 == 0)
            .ok_or_else(|| {
                ApiError::invalid("interval", "must be whole seconds like 30s, 5m or 1h")
            })?;
        if (range.to_ns - range.from_ns) / span > MAX_BUCKETS {
            return Err(ApiError::invalid(
                "interval",
                &format!("gives more than {MAX_BUCKETS} buckets over this range"),
            ));
        }
        u32::try_from(span / 1_000_000_000)
            .map(Some)
            .map_err(|_| ApiError::invalid("interval", "is too long"))
    }

    pub fn table(&self) -> Result<Source, ApiError> {
        match self.get("table").unwrap_or("requests") {
            "requests" => Ok(Source::Requests),
            "dependencies" => Ok(Source::Dependencies),
            _ => Err(ApiError::invalid(
                "table",
                "must be `requests` or `dependencies`",
            )),
        }
    }

    /// Group-by columns from a comma-separated `group_by`, each valid for `source`.
    pub fn group_by(&self, source: Source, default: &[Column]) -> Result<Vec<Column>, ApiError> {
        let Some(text) = self.get("group_by") else {
            return Ok(default.to_vec());
        };
        let mut columns = Vec::new();
        for name in text.split(',').filter(|n| !n.is_empty()) {
            let column = Column::from_api_name(name)
                .filter(|c| source.has(*c))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "group_by",
                        &format!("has unknown column {name:?} for {}", source.table()),
                    )
                })?;
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        if columns.len() > 5 {
            return Err(ApiError::invalid("group_by", "takes at most 5 columns"));
        }
        Ok(columns)
    }

    /// The `filter.*` and `dim.*` conditions.
    pub fn filters(&self, source: Source) -> Result<Vec<Filter>, ApiError> {
        self.filters_on(source.table(), |column| source.has(column))
    }

    /// The `filter.*` (on the columns `has` allows of `table`) and `dim.*` conditions.
    pub fn filters_on(
        &self,
        table: &str,
        has: impl Fn(Column) -> bool,
    ) -> Result<Vec<Filter>, ApiError> {
        let mut filters = Vec::new();
        let mut keys: Vec<&String> = self.values.keys().collect();
        keys.sort();
        for key in keys {
            let value = self.values[key].clone();
            let is_filter = key.starts_with("filter.") || key.starts_with("dim.");
            if is_filter && filters.len() == MAX_FILTERS {
                return Err(ApiError::invalid(
                    key,
                    &format!(
                        "is one filter too many: at most {MAX_FILTERS} filter.* and dim.* conditions per request"
                    ),
                ));
            }
            if let Some(name) = key.strip_prefix("filter.") {
                let column = Column::from_api_name(name)
                    .filter(|c| has(*c))
                    .ok_or_else(|| {
                        ApiError::invalid(key, &format!("names no column of {table}"))
                    })?;
                if column == Column::Success && !matches!(value.as_str(), "true" | "false") {
                    return Err(ApiError::invalid(key, "must be true or false"));
                }
                filters.push(Filter::Equals(column, value));
            } else if let Some(dimension) = key.strip_prefix("dim.") {
                filters.push(Filter::Dimension(dimension.to_owned(), value));
            }
        }
        Ok(filters)
    }

    /// The rows of `source` these parameters select, of the apps in `scope`.
    pub fn selection(&self, source: Source, scope: &AppScope) -> Result<Selection, ApiError> {
        Ok(Selection {
            source,
            range: self.range()?,
            scope: scope.clone(),
            filters: self.filters(source)?,
        })
    }

    /// A non-negative finite number of milliseconds.
    pub fn millis(&self, name: &str) -> Result<Option<f64>, ApiError> {
        self.get(name)
            .map(|text| {
                text.parse::<f64>()
                    .ok()
                    .filter(|ms| ms.is_finite() && *ms >= 0.0)
                    .ok_or_else(|| {
                        ApiError::invalid(name, "must be a non-negative number of milliseconds")
                    })
            })
            .transpose()
    }
}

/// An opaque page cursor: the sort key and id of the last row, base64url.
pub fn encode_cursor(key: &str, id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}:{id}"))
}

/// The `(key, id)` of a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::invalid("cursor", "is not a cursor this API returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (key, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((key.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::analysis::PERFORMANCE_PARAMS;
    use crate::api::insights::MAP_PARAMS;

    proptest::proptest! {
        /// Query strings a fuzzer would send: every parse either fails with a 400 naming a
        /// parameter or gives values every accessor can read without panicking.
        #[test]
        fn arbitrary_query_strings_never_panic(raw in "[a-z_.=&%0-9A-Z:+-]{0,80}") {
            for specs in [PERFORMANCE_PARAMS, MAP_PARAMS] {
                if let Ok(params) = Params::parse(Some(&raw), specs, 1_795_362_940_000_000_000) {
                    let _ = params.range();
                    let _ = params.selection(Source::Requests, &AppScope::All);
                    let _ = params.group_by(Source::Dependencies, &[]);
                    let _ = params.limit(100, 1_000);
                    let _ = params.interval_s(TimeRange { from_ns: 0, to_ns: 3_600_000_000_000 });
                    let _ = params.millis("min_ms");
                }
            }
        }
    }
}

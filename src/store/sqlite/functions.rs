//! SQL functions the KQL planner's SQLite statements call, each with the meaning its
//! ClickHouse counterpart has: UTF-8 case mapping, strict number parsing, `has` terms,
//! regular expressions (Rust's `regex`, RE2 syntax like ClickHouse), nearest-rank percentiles
//! and `arg_max`/`arg_min`.

use std::cmp::Ordering;

use regex::Regex;
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Error, Result};

use crate::reads::tabular::has_term;

const FLAGS: FunctionFlags = FunctionFlags::SQLITE_UTF8.union(FunctionFlags::SQLITE_DETERMINISTIC);

fn text_of(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null | ValueRef::Blob(_) => None,
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(x) => Some(real_text(x)),
        ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// The shortest text that reads back as `x` (`1` for 1.0), as ClickHouse prints floats.
fn real_text(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        x.to_string()
    }
}

fn user_error(message: String) -> Error {
    Error::UserFunctionError(message.into())
}

pub fn register(connection: &Connection) -> Result<()> {
    // The series a metric point belongs to, as an integer: metric reads sort by it.
    connection.create_scalar_function("series_key", -1, FLAGS, |ctx| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for i in 0..ctx.len() {
            text_of(ctx.get_raw(i)).hash(&mut hasher);
        }
        Ok(hasher.finish() as i64)
    })?;
    // Two rollup rows' fine buckets added up (`src/store/sqlite/rollups.rs`).
    connection.create_scalar_function("rollup_buckets_merge", 2, FLAGS, |ctx| {
        let mut merged = crate::reads::binned::Partial::default();
        for i in 0..2 {
            if let ValueRef::Blob(bytes) = ctx.get_raw(i) {
                merged.add_encoded_buckets(bytes);
            }
        }
        Ok(merged.encode_buckets())
    })?;
    connection.create_scalar_function("kql_lower", 1, FLAGS, |ctx| {
        Ok(text_of(ctx.get_raw(0)).map(|t| t.to_lowercase()))
    })?;
    connection.create_scalar_function("kql_upper", 1, FLAGS, |ctx| {
        Ok(text_of(ctx.get_raw(0)).map(|t| t.to_uppercase()))
    })?;
    connection.create_scalar_function("kql_tolong", 1, FLAGS, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(n) => Some(n),
            ValueRef::Real(x) if x.is_finite() => Some(x.trunc() as i64),
            other => text_of(other).and_then(|t| t.parse::<i64>().ok()),
        })
    })?;
    connection.create_scalar_function("kql_todouble", 1, FLAGS, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(n) => Some(n as f64),
            ValueRef::Real(x) => Some(x),
            other => text_of(other).and_then(|t| t.parse::<f64>().ok()),
        })
    })?;
    connection
        .create_scalar_function("kql_real_text", 1, FLAGS, |ctx| Ok(text_of(ctx.get_raw(0))))?;
    // Bundled SQLite is built without its math functions.
    connection.create_scalar_function("kql_floor", 1, FLAGS, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(n) => Some(n as f64),
            ValueRef::Real(x) => Some(x.floor()),
            _ => None,
        })
    })?;
    connection.create_scalar_function("kql_has", 2, FLAGS, |ctx| {
        let text = text_of(ctx.get_raw(0)).unwrap_or_default();
        let term = text_of(ctx.get_raw(1)).unwrap_or_default();
        Ok(has_term(&text, &term))
    })?;
    connection.create_scalar_function("kql_regex", 2, FLAGS, |ctx| {
        let pattern = ctx.get_or_create_aux(1, |value| {
            Regex::new(&text_of(value).unwrap_or_default()).map_err(|e| user_error(e.to_string()))
        })?;
        Ok(text_of(ctx.get_raw(0)).is_some_and(|text| pattern.is_match(&text)))
    })?;
    connection.create_scalar_function("kql_extract", 3, FLAGS, |ctx| {
        let pattern = ctx.get_or_create_aux(0, |value| {
            Regex::new(&text_of(value).unwrap_or_default()).map_err(|e| user_error(e.to_string()))
        })?;
        let group = usize::try_from(ctx.get::<i64>(1)?).unwrap_or(0);
        let text = text_of(ctx.get_raw(2)).unwrap_or_default();
        Ok(pattern
            .captures(&text)
            .and_then(|captures| captures.get(group))
            .map_or_else(String::new, |m| m.as_str().to_owned()))
    })?;
    connection.create_scalar_function("kql_split", 2, FLAGS, |ctx| {
        let Some(text) = text_of(ctx.get_raw(0)) else {
            return Ok(None);
        };
        let delimiter = text_of(ctx.get_raw(1)).unwrap_or_default();
        let parts: Vec<&str> = if delimiter.is_empty() {
            vec![text.as_str()]
        } else {
            text.split(delimiter.as_str()).collect()
        };
        Ok(Some(serde_json::to_string(&parts).unwrap_or_default()))
    })?;
    connection.create_aggregate_function("kql_percentile", 2, FLAGS, Percentile)?;
    connection.create_aggregate_function("kql_arg_max", 2, FLAGS, ArgExtreme(Ordering::Greater))?;
    connection.create_aggregate_function("kql_arg_min", 2, FLAGS, ArgExtreme(Ordering::Less))?;
    Ok(())
}

/// Numbers compared as numbers, text as text; nulls never win.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Integer(x), Value::Real(y)) => (*x as f64).partial_cmp(y),
        (Value::Real(x), Value::Integer(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Real(x), Value::Real(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Nearest rank: the smallest value whose rank reaches `ceil(level × count)`, as ClickHouse's
/// `quantileExactWeighted` with every weight 1.
struct Percentile;

#[derive(Default)]
struct Values {
    values: Vec<Value>,
    level: f64,
}

impl Aggregate<Values, Value> for Percentile {
    fn init(&self, _: &mut Context<'_>) -> Result<Values> {
        Ok(Values::default())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Values) -> Result<()> {
        acc.level = ctx.get::<f64>(1)?;
        let value: Value = ctx.get::<Value>(0)?;
        if matches!(value, Value::Integer(_) | Value::Real(_)) {
            acc.values.push(value);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Values>) -> Result<Value> {
        let Some(mut acc) = acc.filter(|acc| !acc.values.is_empty()) else {
            return Ok(Value::Null);
        };
        acc.values
            .sort_by(|a, b| compare(a, b).unwrap_or(Ordering::Equal));
        let count = acc.values.len();
        let rank = ((count as f64 * acc.level).ceil() as usize).clamp(1, count);
        Ok(acc.values.swap_remove(rank - 1))
    }
}

/// `arg_max(value, by)`: `value` of the first row with the largest `by`.
struct ArgExtreme(Ordering);

impl Aggregate<Option<(Value, Value)>, Value> for ArgExtreme {
    fn init(&self, _: &mut Context<'_>) -> Result<Option<(Value, Value)>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<(Value, Value)>) -> Result<()> {
        let by: Value = ctx.get::<Value>(1)?;
        if by == Value::Null {
            return Ok(());
        }
        let wins = match acc {
            None => true,
            Some((best, _)) => compare(&by, best) == Some(self.0),
        };
        if wins {
            *acc = Some((by, ctx.get::<Value>(0)?));
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Option<(Value, Value)>>) -> Result<Value> {
        Ok(acc.flatten().map_or(Value::Null, |(_, value)| value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one<T: rusqlite::types::FromSql>(sql: &str) -> T {
        let connection = Connection::open_in_memory().expect("ok");
        register(&connection).expect("ok");
        connection.query_row(sql, [], |row| row.get(0)).expect("ok")
    }

    #[test]
    fn functions_mean_what_their_clickhouse_counterparts_do() {
        assert_eq!(one::<String>("SELECT kql_lower('ÄBC')"), "äbc");
        assert_eq!(one::<Option<i64>>("SELECT kql_tolong('12x')"), None);
        assert_eq!(one::<Option<i64>>("SELECT kql_tolong('500')"), Some(500));
        assert_eq!(one::<String>("SELECT kql_real_text(100.0)"), "100");
        assert!(one::<bool>("SELECT kql_has('POST /chat', 'chat')"));
        assert!(!one::<bool>("SELECT kql_has('chatbot', 'chat')"));
        assert_eq!(
            one::<String>("SELECT kql_extract('id=(\\d+)', 1, 'x id=42 y')"),
            "42"
        );
        assert_eq!(
            one::<String>("SELECT kql_split('a,b', ',')"),
            "[\"a\",\"b\"]"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank_and_arg_max_picks_the_row() {
        let values = "(SELECT 1 AS v, 'a' AS n UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, 'c' UNION ALL SELECT 4, 'd')";
        assert_eq!(
            one::<i64>(&format!("SELECT kql_percentile(v, 0.5) FROM {values}")),
            2
        );
        assert_eq!(
            one::<i64>(&format!("SELECT kql_percentile(v, 0.51) FROM {values}")),
            3
        );
        assert_eq!(
            one::<i64>(&format!("SELECT kql_percentile(v, 1.0) FROM {values}")),
            4
        );
        assert_eq!(
            one::<String>(&format!("SELECT kql_arg_max(n, v) FROM {values}")),
            "d"
        );
        assert_eq!(
            one::<String>(&format!("SELECT kql_arg_min(n, v) FROM {values}")),
            "a"
        );
        assert_eq!(
            one::<Option<i64>>("SELECT kql_percentile(v, 0.5) FROM (SELECT 1 AS v) WHERE v = 0"),
            None
        );
    }
}

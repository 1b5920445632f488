//! A query's answer: cells read back as their KQL types, in the Log Analytics API's shape
//! (`{"tables": [{"name": "PrimaryResult", "columns", "rows"}]}`), as an aligned text table
//! or as CSV.

use serde_json::{Value, json};

use super::types::KqlType;
use super::values::{format_datetime, format_timespan};
use super::{MAX_ROWS, PlannedQuery};
use crate::reads::tabular::Cell;

#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    pub columns: Vec<(String, KqlType)>,
    pub rows: Vec<Vec<Value>>,
    /// More rows matched than [`MAX_ROWS`] (or than [`MAX_ANSWER_BYTES`] hold); the first
    /// ones are here.
    pub truncated: bool,
    pub visualization: Option<String>,
}

/// Most bytes of JSON an answer's rows take: 30,000 rows of wide bags could otherwise be
/// gigabytes in one response.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

impl ResultTable {
    pub fn new(planned: &PlannedQuery, rows: Vec<Vec<Cell>>) -> Self {
        let mut truncated = rows.len() > MAX_ROWS;
        let mut bytes = 0usize;
        let mut answer = Vec::with_capacity(rows.len().min(MAX_ROWS));
        for row in rows.into_iter().take(MAX_ROWS) {
            let row: Vec<Value> = row
                .into_iter()
                .zip(&planned.columns)
                .map(|(cell, (_, ty))| value(cell, *ty))
                .collect();
            bytes = bytes.saturating_add(row.iter().map(json_size).sum::<usize>());
            if bytes > MAX_ANSWER_BYTES {
                truncated = true;
                break;
            }
            answer.push(row);
        }
        let rows = answer;
        ResultTable {
            columns: planned.columns.clone(),
            rows,
            truncated,
            visualization: planned.visualization.clone(),
        }
    }

    pub fn to_json(&self) -> Value {
        let columns: Vec<Value> = self
            .columns
            .iter()
            .map(|(name, ty)| json!({ "name": name, "type": ty.name() }))
            .collect();
        let mut body = json!({
            "tables": [{ "name": "PrimaryResult", "columns": columns, "rows": self.rows }],
            "truncated": self.truncated,
        });
        if let Some(visualization) = &self.visualization {
            body["render"] = json!({ "visualization": visualization });
        }
        body
    }

    /// Columns padded to their widest value, a header and a rule.
    pub fn to_text(&self) -> String {
        let header: Vec<String> = self.columns.iter().map(|(name, _)| name.clone()).collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(plain).collect())
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|row| row.get(i).map_or(0, |cell| cell.chars().count()))
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |values: &[String]| -> String {
            values
                .iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let mut out = line(&header);
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        out.push('\n');
        for row in &cells {
            out.push_str(&line(row));
            out.push('\n');
        }
        if self.truncated {
            out.push_str(&format!("(first {MAX_ROWS} rows; more matched)\n"));
        }
        out
    }

    /// RFC 4180 CSV with a header row.
    pub fn to_csv(&self) -> String {
        let field = |text: String| {
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text
            }
        };
        let mut out = self
            .columns
            .iter()
            .map(|(name, _)| field(name.clone()))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str("\r\n");
        for row in &self.rows {
            out.push_str(
                &row.iter()
                    .map(|v| field(plain(v)))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        out
    }
}

/// About the bytes a value takes as JSON (strings by length, without escapes).
fn json_size(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len() + 3,
        Value::Array(items) => items.iter().map(json_size).sum::<usize>() + 2,
        Value::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() + 4 + json_size(v))
                .sum::<usize>()
                + 2
        }
        _ => 8,
    }
}

/// A cell as text: strings bare, nulls empty, the rest as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A cell as the JSON the Log Analytics API gives a value of `ty`.
pub fn value(cell: Cell, ty: KqlType) -> Value {
    match (ty, cell) {
        (KqlType::String, Cell::Null) => Value::String(String::new()),
        (_, Cell::Null) => Value::Null,
        (KqlType::Bool, Cell::Int(n)) => Value::Bool(n != 0),
        (KqlType::Bool, Cell::Real(x)) => Value::Bool(x != 0.0),
        (KqlType::Datetime, Cell::Int(ns)) => Value::String(format_datetime(ns)),
        (KqlType::Timespan, Cell::Int(ns)) => Value::String(format_timespan(ns)),
        (KqlType::Datetime | KqlType::Timespan, Cell::Real(x)) if x.is_finite() => {
            value(Cell::Int(x as i64), ty)
        }
        (KqlType::Int | KqlType::Long, Cell::Real(x)) if x.is_finite() => json!(x as i64),
        (_, Cell::Int(n)) if ty.is_numeric() && !ty.is_integer() => json!(n as f64),
        (_, Cell::Int(n)) => json!(n),
        (_, Cell::Real(x)) if x.is_finite() => json!(x),
        (_, Cell::Real(_)) => Value::Null,
        (KqlType::String, Cell::Json(Value::String(text))) | (_, Cell::Text(text)) => {
            Value::String(text)
        }
        (_, Cell::Json(json)) => json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_stop_at_the_byte_limit_and_say_so() {
        let planned = PlannedQuery {
            statement: crate::reads::tabular::TabularStatement {
                sql: String::new(),
                params: Vec::new(),
                shapes: vec![crate::reads::tabular::CellShape::Text],
            },
            columns: vec![("Message".into(), KqlType::String)],
            visualization: None,
        };
        let wide = "x".repeat(1 << 20);
        let rows: Vec<Vec<Cell>> = (0..100).map(|_| vec![Cell::Text(wide.clone())]).collect();
        let table = ResultTable::new(&planned, rows);
        assert!(table.truncated);
        assert_eq!(table.rows.len(), MAX_ANSWER_BYTES / ((1 << 20) + 3));
        let small = ResultTable::new(&planned, vec![vec![Cell::Text("a".into())]]);
        assert!(!small.truncated && small.rows.len() == 1);
    }

    #[test]
    fn cells_read_back_as_their_kql_types() {
        assert_eq!(value(Cell::Int(1), KqlType::Bool), json!(true));
        assert_eq!(
            value(Cell::Int(1_795_341_600_000_000_000), KqlType::Datetime),
            json!("2026-11-22T10:00:00Z")
        );
        assert_eq!(
            value(Cell::Int(300_000_000_000), KqlType::Timespan),
            json!("00:05:00")
        );
        assert_eq!(value(Cell::Int(3), KqlType::Real), json!(3.0));
        assert_eq!(value(Cell::Null, KqlType::String), json!(""));
        assert_eq!(value(Cell::Real(f64::NAN), KqlType::Real), Value::Null);
    }
}

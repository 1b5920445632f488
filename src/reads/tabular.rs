//! A tabular read: one SQL statement planned by a query language (KQL), its bound values, and
//! how each result column reads back. A leaf beneath the stores (which run it) and the planner
//! (which writes it), so neither imports the other.

/// The SQL a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    ClickHouse,
}

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Real(f64),
}

/// How a result column is read back from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellShape {
    Int,
    Real,
    Text,
    /// 0 or 1.
    Bool,
    /// A JSON value: SQLite's JSON text, ClickHouse's arrays.
    Json,
    /// A property bag: SQLite's JSON object text, ClickHouse's `(keys, values)` tuple.
    Bag,
}

/// A statement whose tables are written `{requests}`; each store puts its qualified names
/// there. Every value is in `params`, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularStatement {
    pub sql: String,
    pub params: Vec<Param>,
    pub shapes: Vec<CellShape>,
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Json(serde_json::Value),
}

impl Cell {
    /// A JSON value read back as the column's shape.
    pub fn from_json(value: serde_json::Value, shape: CellShape) -> Cell {
        use serde_json::Value;
        match (shape, value) {
            (_, Value::Null) => Cell::Null,
            (CellShape::Int | CellShape::Bool, Value::Number(n)) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => n
                    .as_u64()
                    .map(|u| Cell::Int(i64::try_from(u).unwrap_or(i64::MAX)))
                    .unwrap_or_else(|| Cell::Real(n.as_f64().unwrap_or(f64::NAN))),
            },
            (CellShape::Int | CellShape::Bool, Value::String(s)) => {
                s.parse().map_or(Cell::Null, Cell::Int)
            }
            (CellShape::Int | CellShape::Bool, Value::Bool(b)) => Cell::Int(i64::from(b)),
            (CellShape::Real, Value::Number(n)) => Cell::Real(n.as_f64().unwrap_or(f64::NAN)),
            (CellShape::Real, Value::String(s)) => Cell::Real(parse_real(&s)),
            (CellShape::Text, Value::String(s)) => Cell::Text(s),
            (CellShape::Text, other) => Cell::Text(other.to_string()),
            (CellShape::Bag, Value::Array(parts)) => Cell::Json(bag_from_columns(parts)),
            (CellShape::Bag | CellShape::Json, Value::String(s)) => {
                Cell::Json(serde_json::from_str(&s).unwrap_or(Value::String(s)))
            }
            (_, other) => Cell::Json(other),
        }
    }
}

/// ClickHouse's text for special floats (`nan`, `inf`, `-inf`) and plain numbers.
fn parse_real(text: &str) -> f64 {
    match text {
        "nan" | "-nan" => f64::NAN,
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// `[[keys…], [values…]]` as one JSON object.
fn bag_from_columns(parts: Vec<serde_json::Value>) -> serde_json::Value {
    let mut parts = parts.into_iter();
    let (Some(serde_json::Value::Array(keys)), Some(serde_json::Value::Array(values))) =
        (parts.next(), parts.next())
    else {
        return serde_json::Value::Null;
    };
    let object = keys
        .into_iter()
        .zip(values)
        .map(|(key, value)| match key {
            serde_json::Value::String(key) => (key, value),
            other => (other.to_string(), value),
        })
        .collect();
    serde_json::Value::Object(object)
}

/// A character that is part of a term for KQL's `has`: terms are runs of ASCII letters and
/// digits, so `has "chat"` matches `POST /chat?x` but not `chatbot`.
fn is_term_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Whether `term` occurs in `text` as a whole term (both already in the case compared).
pub fn has_term(text: &str, term: &str) -> bool {
    if term.is_empty() {
        return true;
    }
    let mut from = 0;
    while let Some(found) = text[from..].find(term) {
        let start = from + found;
        let end = start + term.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_term_char) && !after.is_some_and(is_term_char) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The same test as [`has_term`] as a regular expression (RE2 and Rust's `regex` read it
/// alike), for databases that match with regular expressions.
pub fn has_term_pattern(term: &str) -> String {
    if term.is_empty() {
        return String::new();
    }
    format!("(^|[^a-zA-Z0-9]){}($|[^a-zA-Z0-9])", regex::escape(term))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn has_matches_whole_terms_only() {
        for (text, term, expected) in [
            ("POST /chat?x=1", "chat", true),
            ("chatbot", "chat", false),
            ("a chat", "chat", true),
            ("the chat_x", "chat", true),
            ("x", "", true),
            ("", "a", false),
            ("é chat é", "chat", true),
        ] {
            assert_eq!(has_term(text, term), expected, "{text:?} has {term:?}");
            let pattern = regex::Regex::new(&has_term_pattern(term)).expect("ok");
            assert_eq!(pattern.is_match(text), expected, "{text:?} ~ {term:?}");
        }
    }

    #[test]
    fn clickhouse_bags_read_back_as_objects() {
        let cell = Cell::from_json(json!([["a", "b"], ["1", "x"]]), CellShape::Bag);
        assert_eq!(cell, Cell::Json(json!({"a": "1", "b": "x"})));
        let sqlite = Cell::from_json(json!("{\"a\":\"1\"}"), CellShape::Bag);
        assert_eq!(sqlite, Cell::Json(json!({"a": "1"})));
    }

    #[test]
    fn quoted_and_special_numbers_read_back() {
        assert_eq!(
            Cell::from_json(json!("123"), CellShape::Int),
            Cell::Int(123)
        );
        assert!(matches!(
            Cell::from_json(json!("nan"), CellShape::Real),
            Cell::Real(x) if x.is_nan()
        ));
        assert_eq!(Cell::from_json(json!(null), CellShape::Text), Cell::Null);
    }
}

//! SQL text with its bound values, built in text order so placeholders and values never drift
//! apart. Only planner-made text (aliases, function names, constants of closed sets) is
//! written into the SQL; everything from the query arrives as a parameter.

use crate::reads::tabular::{Dialect, Param};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Fragment {
    pub fn text(sql: impl Into<String>) -> Self {
        Fragment {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// One placeholder, typed the way both stores compute with it.
    pub fn param(param: Param, dialect: Dialect) -> Self {
        let sql = match (&param, dialect) {
            (Param::Int(_), Dialect::ClickHouse) => "toInt64(?)",
            (Param::Real(_), Dialect::ClickHouse) => "toFloat64(?)",
            _ => "?",
        };
        Fragment {
            sql: sql.to_owned(),
            params: vec![param],
        }
    }

    /// This text with one more bound value (a bare `?`, where [`Fragment::param`] would type it).
    pub fn with(mut self, param: Param) -> Fragment {
        self.params.push(param);
        self
    }

    pub fn push_str(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    pub fn push(&mut self, other: Fragment) -> &mut Self {
        self.sql.push_str(&other.sql);
        self.params.extend(other.params);
        self
    }

    /// `{}` in `template` replaced by the parts, in order.
    pub fn template(template: &str, parts: Vec<Fragment>) -> Fragment {
        let mut out = Fragment::default();
        let mut parts = parts.into_iter();
        let mut pieces = template.split("{}");
        if let Some(first) = pieces.next() {
            out.push_str(first);
        }
        for piece in pieces {
            if let Some(part) = parts.next() {
                out.push(part);
            }
            out.push_str(piece);
        }
        out
    }

    /// The parts joined by `separator`.
    pub fn join(parts: impl IntoIterator<Item = Fragment>, separator: &str) -> Fragment {
        let mut out = Fragment::default();
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                out.push_str(separator);
            }
            out.push(part);
        }
        out
    }
}

/// Every row counted, as a KQL `long` (ClickHouse's `count()` is a UInt64).
pub fn count_rows(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::ClickHouse => "toInt64(count())",
        Dialect::Sqlite => "count(*)",
    }
}

/// `value AS alias`.
pub fn aliased(value: Fragment, alias: &str) -> Fragment {
    let mut out = value;
    out.push_str(" AS ");
    out.push_str(alias);
    out
}

/// `f(a, b)` as a fragment.
pub fn call(name: &str, args: Vec<Fragment>) -> Fragment {
    let mut out = Fragment::text(format!("{name}("));
    out.push(Fragment::join(args, ", "));
    out.push_str(")");
    out
}

/// The dialect's lower-casing: ClickHouse's UTF-8 aware one, or the function the SQLite store
/// registers with the same meaning (SQLite's own `lower` is ASCII only).
pub fn lower(value: Fragment, dialect: Dialect) -> Fragment {
    match dialect {
        Dialect::ClickHouse => call("lowerUTF8", vec![value]),
        Dialect::Sqlite => call("kql_lower", vec![value]),
    }
}

/// A text value with nulls read as the empty string, as KQL strings never are null.
pub fn text_or_empty(value: Fragment, dialect: Dialect) -> Fragment {
    match dialect {
        Dialect::ClickHouse => call("ifNull", vec![value, Fragment::text("''")]),
        Dialect::Sqlite => call("COALESCE", vec![value, Fragment::text("''")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_values_in_placeholder_order() {
        let a = Fragment::param(Param::Int(1), Dialect::Sqlite);
        let b = Fragment::param(Param::Text("x".into()), Dialect::Sqlite);
        let joined = Fragment::template("f({}) = g({})", vec![a, b]);
        assert_eq!(joined.sql, "f(?) = g(?)");
        assert_eq!(joined.params, vec![Param::Int(1), Param::Text("x".into())]);
    }
}

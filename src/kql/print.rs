//! Queries back to KQL text, in one canonical form that parses to the same AST: parentheses
//! only where precedence needs them (so the text nests no deeper than the query did), strings
//! double-quoted, timespans in their largest exact unit.

use super::ast::*;
use super::values::format_datetime;

pub fn query(query: &Query) -> String {
    let mut out = String::new();
    for statement in &query.lets {
        let value = match &statement.value {
            LetValue::Scalar(expr) => self::expr(expr),
            LetValue::Tabular(tabular) => self::tabular(tabular),
        };
        out.push_str(&format!("let {} = {value};\n", ident(&statement.name.name)));
    }
    out.push_str(&tabular(&query.body));
    out
}

pub fn tabular(tabular: &Tabular) -> String {
    let mut out = match &tabular.source {
        Source::Table(name) => ident(&name.name),
        Source::Union(legs) => format!("union {}", union_legs(legs)),
        Source::Print(list) => format!("print {}", named_list(list)),
    };
    for operator in &tabular.operators {
        out.push_str("\n| ");
        out.push_str(&self::operator(operator));
    }
    out
}

fn union_legs(legs: &[Tabular]) -> String {
    legs.iter()
        .map(|leg| match (&leg.source, leg.operators.is_empty()) {
            (Source::Table(name), true) => ident(&name.name),
            _ => format!("({})", tabular(leg)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn operator(operator: &Operator) -> String {
    match operator {
        Operator::Where(e) => format!("where {}", expr(e)),
        Operator::Project(list) => format!("project {}", named_list(list)),
        Operator::Extend(list) => format!("extend {}", named_list(list)),
        Operator::ProjectAway(names) => format!(
            "project-away {}",
            names
                .iter()
                .map(|n| wildcard(&n.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Operator::ProjectRename(pairs) => format!(
            "project-rename {}",
            pairs
                .iter()
                .map(|(new, old)| format!("{} = {}", ident(&new.name), ident(&old.name)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Operator::Summarize { aggregates, by } => {
            let mut out = "summarize".to_owned();
            if !aggregates.is_empty() {
                out.push(' ');
                out.push_str(&named_list(aggregates));
            }
            if !by.is_empty() {
                out.push_str(" by ");
                out.push_str(&named_list(by));
            }
            out
        }
        Operator::Sort(keys) => format!(
            "sort by {}",
            keys.iter().map(sort_key).collect::<Vec<_>>().join(", ")
        ),
        Operator::Top { count, key } => format!("top {} by {}", expr(count), sort_key(key)),
        Operator::Take(count) => format!("take {}", expr(count)),
        Operator::Count => "count".to_owned(),
        Operator::Distinct(names) if names.is_empty() => "distinct *".to_owned(),
        Operator::Distinct(names) => format!("distinct {}", idents(names)),
        Operator::Join { kind, right, on } => format!(
            "join kind={} ({}) on {}",
            kind.name(),
            tabular(right),
            on.iter()
                .map(|key| match key {
                    JoinKey::Same(name) => ident(&name.name),
                    JoinKey::Pair { left, right } => format!(
                        "$left.{} == $right.{}",
                        ident(&left.name),
                        ident(&right.name)
                    ),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Operator::Union(legs) => format!("union {}", union_legs(legs)),
        Operator::Render(name) => format!("render {}", ident(&name.name)),
    }
}

fn sort_key(key: &SortKey) -> String {
    format!(
        "{} {} nulls {}",
        expr(&key.expr),
        if key.descending { "desc" } else { "asc" },
        if key.nulls_first { "first" } else { "last" }
    )
}

fn idents(names: &[Ident]) -> String {
    names
        .iter()
        .map(|n| ident(&n.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn named_list(list: &[NamedExpr]) -> String {
    list.iter()
        .map(|item| match &item.name {
            Some(name) => format!("{} = {}", ident(&name.name), expr(&item.expr)),
            None => expr(&item.expr),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Words that cannot stand as a plain column name.
const RESERVED: [&str; 14] = [
    "and", "or", "by", "on", "in", "between", "true", "false", "asc", "desc", "nulls", "let",
    "matches", "contains",
];

/// A name as an identifier where it reads as one, else `['quoted']`.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !RESERVED.contains(&name)
        && !matches!(name, "datetime" | "timespan" | "time" | "dynamic");
    if plain {
        name.to_owned()
    } else {
        format!("[{}]", string(name))
    }
}

/// `project-away` names keep their `*` wildcards.
fn wildcard(name: &str) -> String {
    if name.contains('*') {
        name.to_owned()
    } else {
        ident(name)
    }
}

pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn timespan(ns: i64) -> String {
    const UNITS: [(i64, &str); 6] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "microsecond"),
    ];
    for (size, unit) in UNITS {
        if ns % size == 0 {
            return format!("{}{unit}", ns / size);
        }
    }
    if ns % 100 == 0 {
        format!("{}tick", ns / 100)
    } else {
        format!("{}ms", ns as f64 / 1e6)
    }
}

fn literal(literal: &Literal) -> String {
    match literal {
        Literal::Bool(b) => b.to_string(),
        Literal::Long(n) => n.to_string(),
        Literal::Real(x) => format!("{x:?}"),
        Literal::String(s) => string(s),
        Literal::Timespan(ns) => timespan(*ns),
        Literal::Datetime(ns) => format!("datetime({})", format_datetime(*ns)),
    }
}

/// How tightly an expression binds, as the parser reads it: `or` 1, `and` 2, comparisons and
/// string predicates 3, `+ -` 4, `* / %` 5, unary minus 6, everything else 7.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Binary { op, .. } => match op {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
            _ => 3,
        },
        Expr::In { .. } | Expr::Between { .. } => 3,
        Expr::Negate(..) => 6,
        _ => 7,
    }
}

/// `expr` where an operand of precedence `at_least` is expected, in parentheses only when it
/// binds less tightly: the printed text nests no deeper than what was parsed.
fn operand(expr: &Expr, at_least: u8) -> String {
    if precedence(expr) < at_least {
        format!("({})", self::expr(expr))
    } else {
        self::expr(expr)
    }
}

pub fn expr(expr: &Expr) -> String {
    match expr {
        Expr::Literal(value, _) => literal(value),
        Expr::Column(name) => ident(&name.name),
        Expr::Star(_) => "*".to_owned(),
        // Function names are plain identifiers (the parser reads only those as calls), even
        // the words that cannot name a column (`in(…)`).
        Expr::Call { name, args } => format!(
            "{}({})",
            name.name,
            args.iter().map(self::expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Binary {
            op, left, right, ..
        } => {
            let level = precedence(expr);
            // Left-associative, except comparisons, which take one of each side.
            let (left_at, right_at) = if level == 3 {
                (4, 4)
            } else {
                (level, level + 1)
            };
            format!(
                "{} {} {}",
                operand(left, left_at),
                op.spelling(),
                operand(right, right_at)
            )
        }
        Expr::Negate(inner, _) => format!("-{}", operand(inner, 6)),
        Expr::Member { base, name } => format!("{}.{}", operand(base, 7), ident(&name.name)),
        Expr::Index { base, index } => format!("{}[{}]", operand(base, 7), self::expr(index)),
        Expr::In {
            expr,
            list,
            negated,
            case_insensitive,
            ..
        } => format!(
            "{} {}in{} ({})",
            operand(expr, 4),
            if *negated { "!" } else { "" },
            if *case_insensitive { "~" } else { "" },
            list.iter().map(self::expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Between {
            expr,
            low,
            high,
            negated,
            ..
        } => format!(
            "{} {}between ({} .. {})",
            operand(expr, 4),
            if *negated { "!" } else { "" },
            operand(low, 4),
            operand(high, 4)
        ),
    }
}

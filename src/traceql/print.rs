//! The query as text again; parsing what this prints gives the same query.

use std::fmt::Write;

use super::lexer::is_name_char;
use super::{Field, FieldExpr, Literal, Scope, SpansetExpr};

pub fn query(expr: &SpansetExpr) -> String {
    match expr {
        SpansetExpr::Filter(filter) => match &filter.expr {
            None => "{}".to_owned(),
            Some(expr) => format!("{{ {} }}", field_expr(expr)),
        },
        SpansetExpr::And(left, right) => {
            format!("{} && {}", spanset_operand(left), spanset_operand(right))
        }
        SpansetExpr::Or(left, right) => {
            format!("{} || {}", spanset_operand(left), spanset_operand(right))
        }
    }
}

fn spanset_operand(expr: &SpansetExpr) -> String {
    match expr {
        SpansetExpr::Filter(_) => query(expr),
        _ => format!("({})", query(expr)),
    }
}

pub fn field_expr(expr: &FieldExpr) -> String {
    let operand = |expr: &FieldExpr| match expr {
        FieldExpr::Compare(_) => field_expr(expr),
        _ => format!("({})", field_expr(expr)),
    };
    match expr {
        FieldExpr::And(left, right) => format!("{} && {}", operand(left), operand(right)),
        FieldExpr::Or(left, right) => format!("{} || {}", operand(left), operand(right)),
        FieldExpr::Compare(c) => format!(
            "{} {} {}",
            field(&c.field),
            c.op.symbol(),
            literal(&c.value)
        ),
    }
}

pub fn field(field: &Field) -> String {
    match field {
        Field::Intrinsic(intrinsic) => intrinsic.name().to_owned(),
        Field::Attribute { scope, name } => {
            let prefix = match scope {
                Scope::Resource => "resource.",
                Scope::Span => "span.",
                Scope::Any => ".",
            };
            if !name.is_empty() && name.chars().all(is_name_char) {
                format!("{prefix}{name}")
            } else {
                format!("{prefix}{}", string(name))
            }
        }
    }
}

pub fn literal(value: &Literal) -> String {
    match value {
        Literal::String(s) => string(s),
        Literal::Int(i) => i.to_string(),
        // `{:?}` keeps a fraction or exponent, so the text reads back as a float.
        Literal::Float(f) => format!("{f:?}"),
        Literal::Duration(ns) => format!("{ns}ns"),
        Literal::Bool(b) => b.to_string(),
        Literal::Status(status) => status.name().to_owned(),
        Literal::Kind(kind) => kind.name().to_owned(),
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
            c if c.is_control() && (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

//! TraceQL, Tempo's trace query language: the subset Grafana's search form writes and
//! operators type by hand — spanset filters `{ … }` with `&&`/`||` inside and between them,
//! the span and trace intrinsics, `resource.`/`span.`/unscoped attributes and the comparison
//! and regex operators. A parser of our own with positions in its errors, a printer (print
//! and parse again is the identity) and an evaluator over rebuilt spans. Pure. Everything
//! else TraceQL has (pipelines, aggregates, structural operators) is refused by name.

pub mod eval;
mod lexer;
pub mod parser;
pub mod print;

use std::fmt;

use crate::model::otel_span::{SpanKind, SpanStatus};

pub use parser::parse;

/// A column (from 1) in the query text.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Pos(pub u32);

/// Positions say where a node was written, not what it means.
impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

/// Spansets and how they combine: a trace matches `{A} && {B}` when some span matches `A` and
/// some span matches `B`.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    Filter(SpansetFilter),
    And(Box<SpansetExpr>, Box<SpansetExpr>),
    Or(Box<SpansetExpr>, Box<SpansetExpr>),
}

/// `{ expr }`; `{}` matches every span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpansetFilter {
    pub expr: Option<FieldExpr>,
    pub pos: Pos,
}

/// A condition on one span (and the trace it is in).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    And(Box<FieldExpr>, Box<FieldExpr>),
    Or(Box<FieldExpr>, Box<FieldExpr>),
    Compare(Comparison),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub field: Field,
    pub op: CompareOp,
    pub value: Literal,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Intrinsic(Intrinsic),
    Attribute { scope: Scope, name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    TraceDuration,
    RootName,
    RootServiceName,
}

impl Intrinsic {
    /// The unscoped spelling, then the scoped one (`span:name`, `trace:rootName`).
    pub const ALL: [(Intrinsic, &'static str, &'static str); 8] = [
        (Intrinsic::Name, "name", "span:name"),
        (Intrinsic::Status, "status", "span:status"),
        (
            Intrinsic::StatusMessage,
            "statusMessage",
            "span:statusMessage",
        ),
        (Intrinsic::Kind, "kind", "span:kind"),
        (Intrinsic::Duration, "duration", "span:duration"),
        (Intrinsic::TraceDuration, "traceDuration", "trace:duration"),
        (Intrinsic::RootName, "rootName", "trace:rootName"),
        (
            Intrinsic::RootServiceName,
            "rootServiceName",
            "trace:rootService",
        ),
    ];

    pub fn name(self) -> &'static str {
        Intrinsic::ALL
            .iter()
            .find(|(i, _, _)| *i == self)
            .map_or("name", |(_, name, _)| name)
    }

    /// Whether the intrinsic is the trace's rather than the span's.
    pub fn is_trace_level(self) -> bool {
        matches!(
            self,
            Intrinsic::TraceDuration | Intrinsic::RootName | Intrinsic::RootServiceName
        )
    }
}

/// Where an attribute is looked up: `resource.x`, `span.x`, or `.x` (span first, then
/// resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Resource,
    Span,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Regex,
    NotRegex,
}

impl CompareOp {
    pub const ALL: [(CompareOp, &'static str); 8] = [
        (CompareOp::Eq, "="),
        (CompareOp::Ne, "!="),
        (CompareOp::Ge, ">="),
        (CompareOp::Le, "<="),
        (CompareOp::Gt, ">"),
        (CompareOp::Lt, "<"),
        (CompareOp::Regex, "=~"),
        (CompareOp::NotRegex, "!~"),
    ];

    pub fn symbol(self) -> &'static str {
        CompareOp::ALL
            .iter()
            .find(|(op, _)| *op == self)
            .map_or("=", |(_, s)| s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Bool(bool),
    Status(SpanStatus),
    Kind(SpanKind),
}

/// A query that cannot run, and where in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TraceQlError {
    pub message: String,
    /// Column (from 1).
    pub column: u32,
    pub unsupported: bool,
}

impl fmt::Display for TraceQlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceQL column {}: ", self.column)?;
        if self.unsupported {
            write!(f, "not supported: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl TraceQlError {
    pub fn syntax(pos: Pos, message: impl Into<String>) -> Self {
        TraceQlError {
            message: message.into(),
            column: pos.0,
            unsupported: false,
        }
    }

    pub fn unsupported(pos: Pos, message: impl Into<String>) -> Self {
        TraceQlError {
            message: message.into(),
            column: pos.0,
            unsupported: true,
        }
    }
}

#[cfg(test)]
mod tests;

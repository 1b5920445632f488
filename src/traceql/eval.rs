//! Which spans of a trace a query matches. A span without the attribute a comparison names
//! never matches it, `!=` included, as in Tempo; strings compare as text, numbers as numbers,
//! regexes match the whole value.

use std::collections::{BTreeSet, HashMap};

use regex::Regex;

use super::{CompareOp, Comparison, Field, FieldExpr, Intrinsic, Literal, Scope, SpansetExpr};
use crate::query::otlp_trace::{TraceSpan, Value};

/// Largest compiled regex program accepted (the default is 10 MiB).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Regexes are anchored: `=~"a|b"` means the whole value is `a` or `b`.
pub fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// What the trace-level intrinsics read.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFacts {
    pub root_name: String,
    pub root_service_name: String,
    pub duration_ns: i64,
}

impl TraceFacts {
    /// The root is the span without a parent (else the earliest); the duration runs from the
    /// first start to the last end.
    pub fn of(spans: &[TraceSpan]) -> TraceFacts {
        let root = spans
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .min_by_key(|s| s.start_ns)
            .or_else(|| spans.iter().min_by_key(|s| s.start_ns));
        let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
        TraceFacts {
            root_name: root.map(|s| s.name.clone()).unwrap_or_default(),
            root_service_name: root
                .map(|s| s.service_name().to_owned())
                .unwrap_or_default(),
            duration_ns: end.saturating_sub(start),
        }
    }
}

/// A query with its regexes compiled once.
pub struct Matcher<'q> {
    query: &'q SpansetExpr,
    regexes: HashMap<&'q str, Regex>,
}

impl<'q> Matcher<'q> {
    /// Fails only on a regex the parser would have refused.
    pub fn new(query: &'q SpansetExpr) -> Result<Self, regex::Error> {
        let mut regexes = HashMap::new();
        let mut patterns = Vec::new();
        collect_patterns(query, &mut patterns);
        for pattern in patterns {
            if !regexes.contains_key(pattern) {
                regexes.insert(pattern, compile_regex(pattern)?);
            }
        }
        Ok(Matcher { query, regexes })
    }

    /// Indices of the spans the query matched, in order; empty when the trace does not match.
    pub fn matches(&self, spans: &[TraceSpan]) -> Vec<usize> {
        let facts = TraceFacts::of(spans);
        self.spanset(self.query, spans, &facts)
            .into_iter()
            .collect()
    }

    fn spanset(
        &self,
        expr: &SpansetExpr,
        spans: &[TraceSpan],
        facts: &TraceFacts,
    ) -> BTreeSet<usize> {
        match expr {
            SpansetExpr::Filter(filter) => spans
                .iter()
                .enumerate()
                .filter(|(_, span)| {
                    filter
                        .expr
                        .as_ref()
                        .is_none_or(|e| self.field(e, span, facts))
                })
                .map(|(i, _)| i)
                .collect(),
            SpansetExpr::And(left, right) => {
                let left = self.spanset(left, spans, facts);
                if left.is_empty() {
                    return left;
                }
                let right = self.spanset(right, spans, facts);
                if right.is_empty() {
                    return right;
                }
                left.union(&right).copied().collect()
            }
            SpansetExpr::Or(left, right) => {
                let mut left = self.spanset(left, spans, facts);
                left.extend(self.spanset(right, spans, facts));
                left
            }
        }
    }

    fn field(&self, expr: &FieldExpr, span: &TraceSpan, facts: &TraceFacts) -> bool {
        match expr {
            FieldExpr::And(l, r) => self.field(l, span, facts) && self.field(r, span, facts),
            FieldExpr::Or(l, r) => self.field(l, span, facts) || self.field(r, span, facts),
            FieldExpr::Compare(c) => self.compare(c, span, facts),
        }
    }

    fn compare(&self, c: &Comparison, span: &TraceSpan, facts: &TraceFacts) -> bool {
        match &c.field {
            Field::Intrinsic(intrinsic) => match intrinsic {
                Intrinsic::Name => self.text(c, &span.name),
                Intrinsic::StatusMessage => self.text(c, &span.status_message),
                Intrinsic::RootName => self.text(c, &facts.root_name),
                Intrinsic::RootServiceName => self.text(c, &facts.root_service_name),
                Intrinsic::Duration => duration(c, span.duration_ns()),
                Intrinsic::TraceDuration => duration(c, facts.duration_ns),
                Intrinsic::Status => match c.value {
                    Literal::Status(status) => equality(c.op, span.status == status),
                    _ => false,
                },
                Intrinsic::Kind => match c.value {
                    Literal::Kind(kind) => equality(c.op, span.kind == kind),
                    _ => false,
                },
            },
            Field::Attribute { scope, name } => {
                let find = |attributes: &'_ [(String, Value)]| {
                    attributes
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let found = match scope {
                    Scope::Span => find(&span.attributes),
                    Scope::Resource => find(&span.resource),
                    Scope::Any => find(&span.attributes).or_else(|| find(&span.resource)),
                };
                found.is_some_and(|value| self.attribute(c, &value))
            }
        }
    }

    fn text(&self, c: &Comparison, actual: &str) -> bool {
        let Literal::String(expected) = &c.value else {
            return false;
        };
        match c.op {
            CompareOp::Regex | CompareOp::NotRegex => {
                let matched = self
                    .regexes
                    .get(expected.as_str())
                    .is_some_and(|r| r.is_match(actual));
                matched == (c.op == CompareOp::Regex)
            }
            op => ordered(op, actual.cmp(expected.as_str())),
        }
    }

    fn attribute(&self, c: &Comparison, value: &Value) -> bool {
        match &c.value {
            Literal::String(_) => self.text(c, &value.text()),
            Literal::Int(i) => number(c.op, value.number(), *i as f64),
            Literal::Float(f) => number(c.op, value.number(), *f),
            Literal::Bool(b) => equality(c.op, value.text() == b.to_string()),
            _ => false,
        }
    }
}

fn equality(op: CompareOp, equal: bool) -> bool {
    match op {
        CompareOp::Eq => equal,
        CompareOp::Ne => !equal,
        _ => false,
    }
}

fn ordered(op: CompareOp, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
        CompareOp::Regex | CompareOp::NotRegex => false,
    }
}

fn number(op: CompareOp, actual: Option<f64>, expected: f64) -> bool {
    actual
        .and_then(|a| a.partial_cmp(&expected))
        .is_some_and(|ordering| ordered(op, ordering))
}

fn duration(c: &Comparison, actual_ns: i64) -> bool {
    match c.value {
        Literal::Duration(expected) => ordered(c.op, actual_ns.cmp(&expected)),
        _ => false,
    }
}

fn collect_patterns<'q>(expr: &'q SpansetExpr, out: &mut Vec<&'q str>) {
    fn fields<'q>(expr: &'q FieldExpr, out: &mut Vec<&'q str>) {
        match expr {
            FieldExpr::And(l, r) | FieldExpr::Or(l, r) => {
                fields(l, out);
                fields(r, out);
            }
            FieldExpr::Compare(c) => {
                if let (CompareOp::Regex | CompareOp::NotRegex, Literal::String(p)) =
                    (c.op, &c.value)
                {
                    out.push(p);
                }
            }
        }
    }
    match expr {
        SpansetExpr::Filter(filter) => {
            if let Some(e) = &filter.expr {
                fields(e, out);
            }
        }
        SpansetExpr::And(l, r) | SpansetExpr::Or(l, r) => {
            collect_patterns(l, out);
            collect_patterns(r, out);
        }
    }
}

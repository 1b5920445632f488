//! KQL, the query language of Log Analytics and Application Insights: a lexer and a
//! recursive-descent parser of our own into a typed AST, and one planner that writes a single
//! SQL statement for SQLite or ClickHouse. Pure: the store runs the statement, and
//! [`result`] turns its cells into the Log Analytics answer.

mod aggregates;
mod arithmetic;
pub mod ast;
mod container_tables;
mod expr;
mod functions;
mod join;
pub mod lexer;
mod operators;
mod parse_expr;
mod parse_operators;
pub mod parser;
mod plan;
pub mod print;
pub mod result;
pub mod run;
mod sql;
pub mod tables;
mod text_functions;
mod time_range;
pub mod types;
mod union;
pub mod values;

use std::fmt;

use ast::Pos;
pub use result::ResultTable;
use tables::Registry;
use types::KqlType;

use crate::reads::tabular::{Dialect, TabularStatement};
use crate::reads::{AppScope, TimeRange};

/// Most rows an answer holds; a query that has more is cut and flagged `truncated`.
pub const MAX_ROWS: usize = 30_000;
/// The range a query reads when neither it nor the request says: the last 24 hours.
pub const DEFAULT_RANGE_NS: i64 = 24 * 3_600 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Syntax,
    Semantic,
    NotSupported,
}

impl ErrorCode {
    /// The code in the API's error body.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Syntax => "SyntaxError",
            ErrorCode::Semantic => "SemanticError",
            ErrorCode::NotSupported => "NotSupported",
        }
    }
}

/// A query that cannot run, with where in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct KqlError {
    pub code: ErrorCode,
    pub message: String,
    pub pos: Pos,
}

impl fmt::Display for KqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.pos)?;
        if self.code == ErrorCode::NotSupported {
            write!(f, "not supported: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl KqlError {
    pub fn syntax(pos: Pos, message: impl Into<String>) -> Self {
        KqlError {
            code: ErrorCode::Syntax,
            message: message.into(),
            pos,
        }
    }

    pub fn semantic(pos: Pos, message: impl Into<String>) -> Self {
        KqlError {
            code: ErrorCode::Semantic,
            message: message.into(),
            pos,
        }
    }

    pub fn unsupported(pos: Pos, what: impl Into<String>) -> Self {
        KqlError {
            code: ErrorCode::NotSupported,
            message: what.into(),
            pos,
        }
    }
}

/// What a query asks, besides its text.
#[derive(Debug, Clone)]
pub struct QueryContext<'a> {
    pub dialect: Dialect,
    pub now_ns: i64,
    pub scope: &'a AppScope,
    /// The request's `timespan`, applied to every table the query reads.
    pub timespan: Option<TimeRange>,
    pub registry: &'a Registry,
}

/// A query ready to run: the statement, and the columns its rows will have.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    pub statement: TabularStatement,
    pub columns: Vec<(String, KqlType)>,
    /// What `render` asked for.
    pub visualization: Option<String>,
}

pub fn parse(text: &str, registry: &Registry) -> Result<ast::Query, KqlError> {
    parser::parse(text, &|name| registry.get(name).is_some())
}

/// Parses and plans a query.
pub fn plan(text: &str, ctx: &QueryContext<'_>) -> Result<PlannedQuery, KqlError> {
    let query = parse(text, ctx.registry)?;
    let mut planner = plan::Planner::new(ctx, DEFAULT_RANGE_NS);
    planner.mentioned = mentioned_names(text);
    let relation = planner.query(&query)?;
    let columns = relation
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect();
    let statement = planner.finish(relation, MAX_ROWS);
    Ok(PlannedQuery {
        statement,
        columns,
        visualization: planner.visualization.take(),
    })
}

/// The identifiers and strings of the query text (what could name a column), or `None` when
/// a `*` may stand for every column.
fn mentioned_names(text: &str) -> Option<std::collections::HashSet<String>> {
    use lexer::Token;
    let tokens = lexer::tokenize(text).ok()?;
    let mut names = std::collections::HashSet::new();
    for (i, lexeme) in tokens.iter().enumerate() {
        match &lexeme.token {
            // `*` as an argument or after `distinct` (not a multiplication).
            Token::Punct("*") => {
                let before = i.checked_sub(1).map(|b| &tokens[b].token);
                if matches!(before, None | Some(Token::Punct("(" | ",")))
                    || matches!(before, Some(Token::Ident(word)) if word == "distinct")
                {
                    return None;
                }
            }
            Token::Ident(name) | Token::Str(name) => {
                // `Name1` is the right side's `Name` after a join: it needs `Name` read.
                names.insert(
                    name.trim_end_matches(|c: char| c.is_ascii_digit())
                        .to_owned(),
                );
                names.insert(name.clone());
            }
            _ => {}
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests;

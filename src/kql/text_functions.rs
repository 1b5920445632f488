//! The string functions that take more than a value: `substring` (characters from 0) and
//! `extract` (a regular expression's capture group).

use super::KqlError;
use super::ast::{Expr, Literal, Pos};
use super::expr::{Typed, constant_text};
use super::functions::{arguments, three};
use super::plan::Planner;
use super::sql::{Fragment, call};
use super::types::KqlType;
use crate::reads::tabular::{Dialect, Param};

impl Planner<'_> {
    /// `substring(text, start[, length])`, counting characters from 0.
    pub(super) fn substring(&mut self, typed: &[Typed], pos: Pos) -> Result<Typed, KqlError> {
        let (text, start, length) = match typed {
            [text, start] => (text.clone(), start.clone(), None),
            [text, start, length] => (text.clone(), start.clone(), Some(length.clone())),
            _ => {
                return Err(arguments(
                    pos,
                    "substring",
                    "a string, a start and a length",
                ));
            }
        };
        if !start.ty.is_integer() || length.as_ref().is_some_and(|l| !l.ty.is_integer()) {
            return Err(arguments(pos, "substring", "whole-number start and length"));
        }
        let text = self.text(text, pos, "substring")?;
        let from = Fragment::template("({} + 1)", vec![start.sql]);
        // A negative length is none (SQLite would count backwards, ClickHouse from the end).
        let length = length.map_or_else(
            || Fragment::text("1000000000"),
            |l| {
                Fragment::template(
                    "(CASE WHEN {} < 0 THEN 0 ELSE {} END)",
                    vec![l.sql.clone(), l.sql],
                )
            },
        );
        let function = match self.dialect {
            Dialect::ClickHouse => "substringUTF8",
            Dialect::Sqlite => "substr",
        };
        Ok(Typed::new(
            call(function, vec![text, from, length]),
            KqlType::String,
        ))
    }

    /// `extract(regex, group, text)`: the group's text of the first match, or empty.
    pub(super) fn extract(
        &mut self,
        typed: &[Typed],
        args: &[Expr],
        pos: Pos,
    ) -> Result<Typed, KqlError> {
        let [pattern, group, text] = three(typed, pos, "extract")?;
        let pattern_text = constant_text(&pattern)
            .ok_or_else(|| arguments(pos, "extract", "a constant regular expression"))?;
        let compiled = regex::Regex::new(&pattern_text).map_err(|e| {
            KqlError::semantic(
                pos,
                format!("invalid regular expression {pattern_text:?}: {e}"),
            )
        })?;
        let _ = group;
        let group_number = match args.get(1).and_then(|arg| self.constant(arg)) {
            Some(Literal::Long(n)) => n,
            _ => return Err(arguments(pos, "extract", "a constant capture group number")),
        };
        let groups = i64::try_from(compiled.captures_len()).unwrap_or(0) - 1;
        if group_number < 0 || group_number > groups {
            return Err(KqlError::semantic(
                pos,
                format!("extract(): the pattern has no capture group {group_number}"),
            ));
        }
        let text = self.text(text, pos, "extract")?;
        let d = self.dialect;
        let sql = match d {
            // ClickHouse's extract() gives the first group, or the whole match without groups.
            Dialect::ClickHouse if group_number == 0 => call(
                "extract",
                vec![
                    text,
                    Fragment::param(Param::Text(format!("({pattern_text})")), d),
                ],
            ),
            Dialect::ClickHouse if group_number == 1 => call(
                "extract",
                vec![text, Fragment::param(Param::Text(pattern_text), d)],
            ),
            // Later groups (18.16 has no extractGroups): the whole text replaced by the group
            // of its first match (a lazy prefix finds the first), where it matches at all.
            Dialect::ClickHouse if group_number <= 9 => Fragment::template(
                &format!(
                    "if(match({{}}, {{}}), replaceRegexpOne({{}}, {{}}, '\\\\{group_number}'), '')"
                ),
                vec![
                    text.clone(),
                    Fragment::param(Param::Text(pattern_text.clone()), d),
                    text,
                    Fragment::param(Param::Text(format!("(?s)^.*?(?:{pattern_text}).*$")), d),
                ],
            ),
            Dialect::ClickHouse => {
                return Err(KqlError::unsupported(
                    pos,
                    "extract() of a capture group above 9 on ClickHouse",
                ));
            }
            Dialect::Sqlite => call(
                "kql_extract",
                vec![
                    Fragment::param(Param::Text(pattern_text), d),
                    Fragment::param(Param::Int(group_number), d),
                    text,
                ],
            ),
        };
        Ok(Typed::new(sql, KqlType::String))
    }
}

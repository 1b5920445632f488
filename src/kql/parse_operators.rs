//! The arguments of the tabular operators that take more than an expression list:
//! `summarize … by`, sort keys, `project-away` wildcards, `project-rename` and `join`.

use super::KqlError;
use super::ast::*;
use super::lexer::Token;
use super::parser::Parser;

impl Parser<'_> {
    pub(super) fn names(&mut self, what: &str) -> Result<Vec<Ident>, KqlError> {
        let mut names = vec![self.ident(what)?];
        while self.eat_punct(",") {
            names.push(self.ident(what)?);
        }
        Ok(names)
    }

    /// Column names for `project-away`, where `Prop*` matches by prefix.
    pub(super) fn wildcard_names(&mut self) -> Result<Vec<Ident>, KqlError> {
        let mut names = Vec::new();
        loop {
            let mut ident = if self.at_punct("*") {
                Ident {
                    name: String::new(),
                    pos: self.pos(),
                }
            } else {
                self.ident("a column after 'project-away'")?
            };
            while self.at_punct("*") && (ident.name.is_empty() || self.touches_previous()) {
                self.advance();
                ident.name.push('*');
                if matches!(self.peek(), Token::Ident(_)) && self.touches_previous() {
                    let more = self.ident("a column")?;
                    ident.name.push_str(&more.name);
                }
            }
            names.push(ident);
            if !self.eat_punct(",") {
                return Ok(names);
            }
        }
    }

    pub(super) fn renames(&mut self) -> Result<Vec<(Ident, Ident)>, KqlError> {
        let mut pairs = Vec::new();
        loop {
            let new = self.ident("a new column name after 'project-rename'")?;
            self.expect_punct("=", "after the new name")?;
            let old = self.ident("the column to rename")?;
            pairs.push((new, old));
            if !self.eat_punct(",") {
                return Ok(pairs);
            }
        }
    }

    pub(super) fn summarize(&mut self) -> Result<Operator, KqlError> {
        let aggregates = if self.at_word("by") {
            Vec::new()
        } else {
            self.named_list("an aggregation after 'summarize'")?
        };
        let by = if self.eat_word("by") {
            self.named_list("a column after 'by'")?
        } else {
            Vec::new()
        };
        if aggregates.is_empty() && by.is_empty() {
            return Err(self.expected("an aggregation or 'by' after 'summarize'"));
        }
        Ok(Operator::Summarize { aggregates, by })
    }

    pub(super) fn sort_keys(&mut self) -> Result<Vec<SortKey>, KqlError> {
        let mut keys = vec![self.sort_key()?];
        while self.eat_punct(",") {
            keys.push(self.sort_key()?);
        }
        Ok(keys)
    }

    pub(super) fn sort_key(&mut self) -> Result<SortKey, KqlError> {
        let expr = self.expr()?;
        let descending = if self.eat_word("asc") {
            false
        } else {
            self.eat_word("desc");
            true
        };
        let nulls_first = if self.eat_word("nulls") {
            if self.eat_word("first") {
                true
            } else {
                self.expect_word("last", "after 'nulls'")?;
                false
            }
        } else {
            !descending
        };
        Ok(SortKey {
            expr,
            descending,
            nulls_first,
        })
    }

    pub(super) fn join(&mut self) -> Result<Operator, KqlError> {
        let mut kind = JoinKind::InnerUnique;
        while matches!(self.peek(), Token::Ident(_))
            && matches!(self.lexeme(1).token, Token::Punct("="))
        {
            let option = self.ident("a join option")?;
            self.advance();
            if option.name != "kind" {
                return Err(KqlError::unsupported(
                    option.pos,
                    format!("join option `{}`", option.name),
                ));
            }
            let value = self.ident("a join kind after 'kind='")?;
            kind = JoinKind::ALL
                .iter()
                .find(|(_, name)| *name == value.name)
                .map(|(kind, _)| *kind)
                .ok_or_else(|| {
                    KqlError::unsupported(value.pos, format!("join kind `{}`", value.name))
                })?;
        }
        self.expect_punct("(", "before the right side of the join")?;
        let right = self.tabular()?;
        self.expect_punct(")", "after the right side of the join")?;
        self.expect_word("on", "after the right side of the join")?;
        let mut on = vec![self.join_key()?];
        while self.eat_punct(",") {
            on.push(self.join_key()?);
        }
        Ok(Operator::Join { kind, right, on })
    }

    /// `Key` or `$left.A == $right.B` (either order).
    pub(super) fn join_key(&mut self) -> Result<JoinKey, KqlError> {
        if !self.at_word("$left") && !self.at_word("$right") {
            return Ok(JoinKey::Same(self.ident("a column after 'on'")?));
        }
        let (first_side, first) = self.side_column()?;
        self.expect_punct("==", "between the join's columns")?;
        let (second_side, second) = self.side_column()?;
        match (first_side.as_str(), second_side.as_str()) {
            ("$left", "$right") => Ok(JoinKey::Pair {
                left: first,
                right: second,
            }),
            ("$right", "$left") => Ok(JoinKey::Pair {
                left: second,
                right: first,
            }),
            _ => Err(KqlError::syntax(
                first.pos,
                "a join condition compares a $left column with a $right column",
            )),
        }
    }

    pub(super) fn side_column(&mut self) -> Result<(String, Ident), KqlError> {
        let side = self.ident("$left or $right")?;
        if side.name != "$left" && side.name != "$right" {
            return Err(KqlError::syntax(side.pos, "expected $left or $right"));
        }
        self.expect_punct(".", "after $left or $right")?;
        Ok((side.name, self.ident("a column name")?))
    }
}

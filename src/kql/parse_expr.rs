//! Expressions, by precedence: `or`, `and`, comparisons and string predicates, `+ -`,
//! `* / %`, unary minus, then member access and indexing on a primary.

use super::KqlError;
use super::ast::*;
use super::lexer::Token;
use super::parser::Parser;

impl Parser<'_> {
    pub(super) fn expr(&mut self) -> Result<Expr, KqlError> {
        self.nested(|p| p.or())
    }

    fn or(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.and()?;
        let mut chain = 0;
        while self.at_word("or") {
            self.chain_link(&mut chain)?;
            let pos = self.advance().pos;
            let right = self.and()?;
            left = binary(BinaryOp::Or, left, right, pos);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.comparison()?;
        let mut chain = 0;
        while self.at_word("and") {
            self.chain_link(&mut chain)?;
            let pos = self.advance().pos;
            let right = self.comparison()?;
            left = binary(BinaryOp::And, left, right, pos);
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, KqlError> {
        let left = self.additive()?;
        let pos = self.pos();
        for (op, symbol) in BinaryOp::SYMBOLS.iter().take(9) {
            if self.eat_punct(symbol) {
                let right = self.additive()?;
                return Ok(binary(*op, left, right, pos));
            }
        }
        if self.at_punct("=") {
            return Err(KqlError::syntax(
                pos,
                "'=' names a column; compare with '=='",
            ));
        }
        let negated = self.at_punct("!") && self.adjacent(1);
        let word = match &self.lexeme(usize::from(negated)).token {
            Token::Ident(word) => word.clone(),
            _ => return Ok(left),
        };
        if word == "in" || word == "between" {
            return self.in_or_between(left, negated, &word, pos);
        }
        if word == "matches" && !negated {
            self.advance();
            self.expect_word("regex", "after 'matches'")?;
            let right = self.additive()?;
            let op = StringOp {
                test: StringTest::MatchesRegex,
                case_sensitive: true,
                negated: false,
            };
            return Ok(binary(BinaryOp::Text(op), left, right, pos));
        }
        let Some(op) = string_op(&word, negated) else {
            return Ok(left);
        };
        if negated {
            self.advance();
        }
        self.advance();
        let right = self.additive()?;
        Ok(binary(BinaryOp::Text(op), left, right, pos))
    }

    /// `x in (a, b)`, `x !in~ (…)`, `x between (lo .. hi)`.
    fn in_or_between(
        &mut self,
        expr: Expr,
        negated: bool,
        word: &str,
        pos: Pos,
    ) -> Result<Expr, KqlError> {
        if negated {
            self.advance();
        }
        self.advance();
        let expr = Box::new(expr);
        if word == "between" {
            self.expect_punct("(", "after 'between'")?;
            let low = Box::new(self.additive()?);
            self.expect_punct("..", "between the bounds of 'between'")?;
            let high = Box::new(self.additive()?);
            self.expect_punct(")", "after the bounds of 'between'")?;
            return Ok(Expr::Between {
                expr,
                low,
                high,
                negated,
                pos,
            });
        }
        let case_insensitive = self.at_punct("~") && self.touches_previous();
        if case_insensitive {
            self.advance();
        }
        self.expect_punct("(", "after 'in'")?;
        let mut list = vec![self.expr()?];
        while self.eat_punct(",") {
            list.push(self.expr()?);
        }
        self.expect_punct(")", "after the list of 'in'")?;
        Ok(Expr::In {
            expr,
            list,
            negated,
            case_insensitive,
            pos,
        })
    }

    fn additive(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.multiplicative()?;
        let mut chain = 0;
        loop {
            self.chain_link(&mut chain)?;
            let pos = self.pos();
            let op = if self.eat_punct("+") {
                BinaryOp::Add
            } else if self.eat_punct("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.multiplicative()?;
            left = binary(op, left, right, pos);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.unary()?;
        let mut chain = 0;
        loop {
            self.chain_link(&mut chain)?;
            let pos = self.pos();
            let op = if self.eat_punct("*") {
                BinaryOp::Mul
            } else if self.eat_punct("/") {
                BinaryOp::Div
            } else if self.eat_punct("%") {
                BinaryOp::Mod
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = binary(op, left, right, pos);
        }
    }

    fn unary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        if self.eat_punct("-") {
            return self.nested(|p| Ok(Expr::Negate(Box::new(p.unary()?), pos)));
        }
        self.eat_punct("+");
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, KqlError> {
        let mut expr = self.primary()?;
        let mut chain = 0;
        loop {
            self.chain_link(&mut chain)?;
            if self.eat_punct(".") {
                let name = self.ident("a property name after '.'")?;
                expr = Expr::Member {
                    base: Box::new(expr),
                    name,
                };
            } else if self.at_punct("[") {
                self.advance();
                let index = self.expr()?;
                self.expect_punct("]", "after the index")?;
                expr = Expr::Index {
                    base: Box::new(expr),
                    index: Box::new(index),
                };
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        match self.peek().clone() {
            Token::Long(n) => {
                self.advance();
                Ok(Expr::Literal(Literal::Long(n), pos))
            }
            Token::Real(x) => {
                self.advance();
                Ok(Expr::Literal(Literal::Real(x), pos))
            }
            Token::Str(s) => {
                self.advance();
                Ok(Expr::Literal(Literal::String(s), pos))
            }
            Token::Timespan(ns) => {
                self.advance();
                Ok(Expr::Literal(Literal::Timespan(ns), pos))
            }
            Token::Punct("(") => {
                self.advance();
                let inner = self.expr()?;
                self.expect_punct(")", "to close '('")?;
                Ok(inner)
            }
            Token::Punct("*") => {
                self.advance();
                Ok(Expr::Star(pos))
            }
            Token::Punct("[") => Ok(Expr::Column(self.ident("a column")?)),
            Token::Ident(name) => {
                if name == "true" || name == "false" {
                    self.advance();
                    return Ok(Expr::Literal(Literal::Bool(name == "true"), pos));
                }
                if !matches!(self.lexeme(1).token, Token::Punct("(")) {
                    return Ok(Expr::Column(self.ident("a column")?));
                }
                match name.as_str() {
                    "datetime" => self.datetime_literal(),
                    "timespan" | "time" => self.timespan_literal(),
                    "dynamic" | "pack" | "bag_pack" | "pack_array" => Err(KqlError::unsupported(
                        pos,
                        format!("dynamic literals (`{name}`)"),
                    )),
                    _ => self.call(),
                }
            }
            _ => Err(self.expected("an expression")),
        }
    }

    fn call(&mut self) -> Result<Expr, KqlError> {
        let name = self.ident("a function name")?;
        self.expect_punct("(", "after the function name")?;
        let mut args = Vec::new();
        if !self.eat_punct(")") {
            loop {
                args.push(self.expr()?);
                if self.eat_punct(")") {
                    break;
                }
                self.expect_punct(",", "or ')' after a function argument")?;
            }
        }
        Ok(Expr::Call { name, args })
    }

    /// `datetime(2026-12-01)`, `datetime(2026-12-01 10:00:00)`, `datetime("…")`: an ISO 8601
    /// instant in UTC (the lexer reads the unquoted form as one string).
    fn datetime_literal(&mut self) -> Result<Expr, KqlError> {
        let pos = self.advance().pos;
        self.advance();
        let Token::Str(text) = self.peek().clone() else {
            return Err(self.expected("a datetime such as 2026-12-01T10:00:00Z"));
        };
        self.advance();
        self.expect_punct(")", "after the datetime")?;
        let ns = super::values::parse_datetime(text.trim()).ok_or_else(|| {
            KqlError::syntax(
                pos,
                format!("'{text}' is not a datetime (e.g. 2026-12-01T10:00:00Z)"),
            )
        })?;
        Ok(Expr::Literal(Literal::Datetime(ns), pos))
    }

    /// `timespan(5m)`, `time(1.5h)`.
    fn timespan_literal(&mut self) -> Result<Expr, KqlError> {
        let pos = self.advance().pos;
        self.advance();
        let Token::Timespan(ns) = self.peek().clone() else {
            return Err(self.expected("a timespan such as 5m"));
        };
        self.advance();
        self.expect_punct(")", "after the timespan")?;
        Ok(Expr::Literal(Literal::Timespan(ns), pos))
    }
}

fn binary(op: BinaryOp, left: Expr, right: Expr, pos: Pos) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
        pos,
    }
}

/// `contains`, `!has_cs`, `startswith`, … (`negated` when `!` came first).
fn string_op(word: &str, negated: bool) -> Option<StringOp> {
    let (base, case_sensitive) = match word.strip_suffix("_cs") {
        Some(base) => (base, true),
        None => (word, false),
    };
    let (base, negated) = match base.strip_prefix("not") {
        Some(rest) if !negated && rest == "contains" => (rest, true),
        _ => (base, negated),
    };
    let test = StringTest::WORDS
        .iter()
        .find(|(_, name)| *name == base)
        .map(|(test, _)| *test)?;
    Some(StringOp {
        test,
        case_sensitive,
        negated,
    })
}

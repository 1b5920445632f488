//! Recursive descent from tokens to [`Query`]: statements and tabular operators here,
//! expressions in [`super::parse_expr`]. Every error names its position and what was expected.

use super::KqlError;
use super::ast::*;
use super::lexer::{Lexeme, Token, tokenize};

/// How deep expressions and subqueries may nest, counting each link of an operator chain
/// (`a and b and c` is two deep): far beyond real queries, and well within the stack of a
/// debug build's thread for the parser and the planner, which both recurse per level.
pub const MAX_DEPTH: usize = 100;

/// Most tabular operators in one query: each wraps the SQL before it, so thousands of them
/// make statements that cost more to build and send than any answer is worth.
pub const MAX_OPERATORS: usize = 300;

/// Operators KQL has that tracehouse does not run (yet): named in the error, not "unexpected".
const UNSUPPORTED_OPERATORS: [&str; 22] = [
    "mv-expand",
    "mv-apply",
    "parse",
    "parse-where",
    "parse-kv",
    "make-series",
    "evaluate",
    "lookup",
    "as",
    "invoke",
    "sample",
    "sample-distinct",
    "search",
    "facet",
    "fork",
    "getschema",
    "serialize",
    "top-nested",
    "top-hitters",
    "partition",
    "scan",
    "project-reorder",
];

/// Parses a whole query. `is_table` says which names are tables, so `let x = requests;` is
/// known to be tabular.
pub fn parse(text: &str, is_table: &dyn Fn(&str) -> bool) -> Result<Query, KqlError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        index: 0,
        depth: 0,
        operators: 0,
        tabular_lets: Vec::new(),
        is_table,
    };
    parser.query()
}

pub(super) struct Parser<'a> {
    tokens: Vec<Lexeme>,
    index: usize,
    pub(super) depth: usize,
    operators: usize,
    tabular_lets: Vec<String>,
    is_table: &'a dyn Fn(&str) -> bool,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> &Token {
        &self.lexeme(0).token
    }

    pub(super) fn lexeme(&self, ahead: usize) -> &Lexeme {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.index + ahead).min(last)]
    }

    pub(super) fn pos(&self) -> Pos {
        self.lexeme(0).pos
    }

    pub(super) fn advance(&mut self) -> Lexeme {
        let lexeme = self.lexeme(0).clone();
        if self.index < self.tokens.len() - 1 {
            self.index += 1;
        }
        lexeme
    }

    /// The current token is the identifier `word` (any case for keywords KQL spells so).
    pub(super) fn at_word(&self, word: &str) -> bool {
        matches!(self.peek(), Token::Ident(name) if name == word)
    }

    pub(super) fn at_punct(&self, punct: &str) -> bool {
        matches!(self.peek(), Token::Punct(p) if *p == punct)
    }

    /// The token `ahead` starts exactly where the one before it ends (`project-away`, `!has`).
    pub(super) fn adjacent(&self, ahead: usize) -> bool {
        ahead > 0 && self.lexeme(ahead).start == self.lexeme(ahead - 1).end
    }

    /// The current token starts exactly where the one just read ends.
    pub(super) fn touches_previous(&self) -> bool {
        self.index > 0 && self.tokens[self.index].start == self.tokens[self.index - 1].end
    }

    pub(super) fn eat_punct(&mut self, punct: &str) -> bool {
        let found = self.at_punct(punct);
        if found {
            self.advance();
        }
        found
    }

    pub(super) fn eat_word(&mut self, word: &str) -> bool {
        let found = self.at_word(word);
        if found {
            self.advance();
        }
        found
    }

    pub(super) fn expect_punct(&mut self, punct: &str, context: &str) -> Result<(), KqlError> {
        if self.eat_punct(punct) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{punct}' {context}")))
        }
    }

    pub(super) fn expect_word(&mut self, word: &str, context: &str) -> Result<(), KqlError> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{word}' {context}")))
        }
    }

    /// "expected X" at the current token, saying what was found.
    pub(super) fn expected(&self, what: &str) -> KqlError {
        let found = match self.peek() {
            Token::End => "the end of the query".to_owned(),
            Token::Ident(name) => format!("'{name}'"),
            Token::Str(_) => "a string".to_owned(),
            Token::Long(n) => format!("'{n}'"),
            Token::Real(x) => format!("'{x}'"),
            Token::Timespan(_) => "a timespan".to_owned(),
            Token::Punct(p) => format!("'{p}'"),
        };
        KqlError::syntax(self.pos(), format!("expected {what}, found {found}"))
    }

    /// A column or other name: an identifier or `['any text']`.
    pub(super) fn ident(&mut self, what: &str) -> Result<Ident, KqlError> {
        let pos = self.pos();
        match self.peek().clone() {
            Token::Ident(name) => {
                self.advance();
                Ok(Ident { name, pos })
            }
            Token::Punct("[") if matches!(self.lexeme(1).token, Token::Str(_)) => {
                self.advance();
                let Token::Str(name) = self.advance().token else {
                    return Err(self.expected(what));
                };
                self.expect_punct("]", "after the quoted name")?;
                Ok(Ident { name, pos })
            }
            _ => Err(self.expected(what)),
        }
    }

    /// One more link of a left-deep chain (`a + b + c`, `x.a.b`): each makes the tree one
    /// level deeper, so a chain counts against the depth limit like nesting does.
    pub(super) fn chain_link(&self, links: &mut usize) -> Result<(), KqlError> {
        *links += 1;
        if self.depth + *links / 2 >= MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok(())
    }

    fn too_deep(&self) -> KqlError {
        KqlError::syntax(
            self.pos(),
            format!("the query nests deeper than {MAX_DEPTH} levels"),
        )
    }

    pub(super) fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, KqlError>,
    ) -> Result<T, KqlError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.too_deep());
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn query(&mut self) -> Result<Query, KqlError> {
        let mut lets = Vec::new();
        while self.at_word("let") {
            self.advance();
            let name = self.ident("a name after 'let'")?;
            self.expect_punct("=", "after the let name")?;
            let value = if self.let_is_tabular() {
                self.tabular_lets.push(name.name.clone());
                LetValue::Tabular(self.tabular()?)
            } else {
                LetValue::Scalar(self.expr()?)
            };
            self.expect_punct(";", "after the let statement")?;
            lets.push(Let { name, value });
        }
        let body = self.tabular()?;
        self.eat_punct(";");
        if *self.peek() != Token::End {
            return Err(self.expected("'|' or the end of the query"));
        }
        Ok(Query { lets, body })
    }

    /// A let's value is tabular when it pipes, or starts with a table, a tabular let, `union`
    /// or `print`.
    fn let_is_tabular(&self) -> bool {
        let mut depth = 0usize;
        for ahead in 0.. {
            match &self.lexeme(ahead).token {
                Token::End => break,
                Token::Punct("(" | "[" | "{") => depth += 1,
                Token::Punct(")" | "]" | "}") => depth = depth.saturating_sub(1),
                Token::Punct(";") if depth == 0 => break,
                Token::Punct("|") if depth == 0 => return true,
                _ => {}
            }
        }
        match self.peek() {
            Token::Ident(name) => {
                name == "union"
                    || name == "print"
                    || (self.is_table)(name)
                    || self.tabular_lets.contains(name)
            }
            _ => false,
        }
    }

    pub(super) fn tabular(&mut self) -> Result<Tabular, KqlError> {
        self.nested(|p| {
            let source = p.source()?;
            let mut operators = Vec::new();
            while p.eat_punct("|") {
                p.operators += 1;
                if p.operators > MAX_OPERATORS {
                    return Err(KqlError::syntax(
                        p.pos(),
                        format!("the query has more than {MAX_OPERATORS} operators"),
                    ));
                }
                operators.push(p.operator()?);
            }
            Ok(Tabular { source, operators })
        })
    }

    fn source(&mut self) -> Result<Source, KqlError> {
        if self.eat_punct("(") {
            let inner = self.tabular()?;
            self.expect_punct(")", "after the subquery")?;
            return Ok(if inner.operators.is_empty() {
                inner.source
            } else {
                Source::Union(vec![inner])
            });
        }
        if self.eat_word("union") {
            return Ok(Source::Union(self.union_legs()?));
        }
        if self.eat_word("print") {
            return Ok(Source::Print(
                self.named_list("an expression after 'print'")?,
            ));
        }
        if self.at_word("datatable") || self.at_word("range") || self.at_word("find") {
            return Err(self.unsupported_here());
        }
        Ok(Source::Table(self.ident("a table name")?))
    }

    fn unsupported_here(&self) -> KqlError {
        let name = match self.peek() {
            Token::Ident(name) => name.clone(),
            _ => String::new(),
        };
        KqlError::unsupported(self.pos(), format!("operator `{name}`"))
    }

    /// `T1, (T2 | where …), …` after `union`.
    fn union_legs(&mut self) -> Result<Vec<Tabular>, KqlError> {
        for option in ["withsource", "kind", "isfuzzy"] {
            if self.at_word(option) {
                return Err(KqlError::unsupported(
                    self.pos(),
                    format!("union option `{option}`"),
                ));
            }
        }
        let mut legs = Vec::new();
        loop {
            let leg = if self.eat_punct("(") {
                let leg = self.tabular()?;
                self.expect_punct(")", "after the union's subquery")?;
                leg
            } else {
                Tabular {
                    source: Source::Table(self.ident("a table name in the union")?),
                    operators: Vec::new(),
                }
            };
            legs.push(leg);
            if !self.eat_punct(",") {
                return Ok(legs);
            }
        }
    }

    /// The operator's name, with hyphenated parts (`project-away`) joined.
    fn operator_name(&mut self) -> Result<Ident, KqlError> {
        let mut ident = self.ident("an operator after '|'")?;
        while self.at_punct("-")
            && self.adjacent(1)
            && self.touches_previous()
            && matches!(self.lexeme(1).token, Token::Ident(_))
        {
            self.advance();
            let part = self.ident("an operator")?;
            ident.name = format!("{}-{}", ident.name, part.name);
        }
        Ok(ident)
    }

    fn operator(&mut self) -> Result<Operator, KqlError> {
        let name = self.operator_name()?;
        Ok(match name.name.as_str() {
            "where" | "filter" => Operator::Where(self.expr()?),
            "project" => Operator::Project(self.named_list("a column after 'project'")?),
            "extend" => Operator::Extend(self.named_list("a column after 'extend'")?),
            "project-away" => Operator::ProjectAway(self.wildcard_names()?),
            "project-rename" => Operator::ProjectRename(self.renames()?),
            "summarize" => self.summarize()?,
            "sort" | "order" => {
                self.expect_word("by", &format!("after '{}'", name.name))?;
                Operator::Sort(self.sort_keys()?)
            }
            "top" => {
                let count = self.expr()?;
                self.expect_word("by", "after the count of 'top'")?;
                let key = self.sort_key()?;
                Operator::Top { count, key }
            }
            "take" | "limit" => Operator::Take(self.expr()?),
            "count" => Operator::Count,
            "distinct" => {
                if self.eat_punct("*") {
                    Operator::Distinct(Vec::new())
                } else {
                    Operator::Distinct(self.names("a column after 'distinct'")?)
                }
            }
            "join" => self.join()?,
            "union" => Operator::Union(self.union_legs()?),
            "render" => {
                let visualization = self.ident("a visualization after 'render'")?;
                if self.at_word("with") {
                    return Err(KqlError::unsupported(
                        self.pos(),
                        "render properties (`with`)",
                    ));
                }
                Operator::Render(visualization)
            }
            other if UNSUPPORTED_OPERATORS.contains(&other) => {
                return Err(KqlError::unsupported(
                    name.pos,
                    format!("operator `{other}`"),
                ));
            }
            other => {
                return Err(KqlError::syntax(
                    name.pos,
                    format!("unknown operator '{other}'"),
                ));
            }
        })
    }

    pub(super) fn named_list(&mut self, what: &str) -> Result<Vec<NamedExpr>, KqlError> {
        let mut list = vec![self.named_expr(what)?];
        while self.eat_punct(",") {
            list.push(self.named_expr(what)?);
        }
        Ok(list)
    }

    /// `name = expr` or `expr`.
    fn named_expr(&mut self, what: &str) -> Result<NamedExpr, KqlError> {
        let names_a_column = matches!(self.peek(), Token::Ident(_))
            && matches!(self.lexeme(1).token, Token::Punct("="));
        let quoted_name = self.at_punct("[")
            && matches!(self.lexeme(1).token, Token::Str(_))
            && matches!(self.lexeme(2).token, Token::Punct("]"))
            && matches!(self.lexeme(3).token, Token::Punct("="));
        if names_a_column || quoted_name {
            let name = self.ident(what)?;
            self.advance();
            return Ok(NamedExpr {
                name: Some(name),
                expr: self.expr()?,
            });
        }
        if matches!(self.peek(), Token::End | Token::Punct("|")) {
            return Err(self.expected(what));
        }
        Ok(NamedExpr {
            name: None,
            expr: self.expr()?,
        })
    }
}

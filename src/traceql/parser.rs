//! Tokens → the query. `&&` binds tighter than `||`, at both levels, as in Tempo.

use super::lexer::{Lexeme, Token, tokenize};
use super::{
    CompareOp, Comparison, Field, FieldExpr, Intrinsic, Literal, Pos, SpansetExpr, SpansetFilter,
    TraceQlError,
};
use crate::model::otel_span::{SpanKind, SpanStatus};

/// Nesting deeper than this is refused: the parser recurses once per level.
const MAX_DEPTH: usize = 64;
/// Longest query text accepted.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

pub fn parse(text: &str) -> Result<SpansetExpr, TraceQlError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(TraceQlError::syntax(
            Pos(1),
            format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES}",
                text.len()
            ),
        ));
    }
    let tokens = tokenize(text)?;
    let end = Pos(u32::try_from(text.chars().count() + 1).unwrap_or(u32::MAX));
    let mut parser = Parser {
        tokens,
        next: 0,
        end,
        depth: 0,
    };
    let expr = parser.spanset_or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(lexeme) => Err(parser.unexpected(lexeme.clone(), "&&, || or the end")),
    }
}

struct Parser {
    tokens: Vec<Lexeme>,
    next: usize,
    end: Pos,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Lexeme> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Lexeme> {
        let lexeme = self.tokens.get(self.next).cloned();
        self.next += 1;
        lexeme
    }

    fn at(&self, token: &Token) -> bool {
        self.peek().is_some_and(|l| l.token == *token)
    }

    fn pos(&self) -> Pos {
        self.peek().map_or(self.end, |l| l.pos)
    }

    fn unexpected(&self, lexeme: Lexeme, expected: &str) -> TraceQlError {
        match lexeme.token {
            Token::Unsupported("|") => {
                TraceQlError::unsupported(lexeme.pos, "pipelines (| …): only spanset filters run")
            }
            Token::Unsupported(op @ (">>" | "<<" | "~" | "!")) => {
                TraceQlError::unsupported(lexeme.pos, format!("the structural operator {op}"))
            }
            Token::Compare(op) if matches!(op, CompareOp::Gt | CompareOp::Lt) => {
                TraceQlError::unsupported(
                    lexeme.pos,
                    format!("the structural operator {} between spansets", op.symbol()),
                )
            }
            token => TraceQlError::syntax(
                lexeme.pos,
                format!("expected {expected}, found {}", describe(&token)),
            ),
        }
    }

    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, TraceQlError>,
    ) -> Result<T, TraceQlError> {
        if self.depth >= MAX_DEPTH {
            return Err(TraceQlError::syntax(
                self.pos(),
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn spanset_or(&mut self) -> Result<SpansetExpr, TraceQlError> {
        let mut left = self.spanset_and()?;
        while self.at(&Token::OrOr) {
            self.bump();
            let right = self.spanset_and()?;
            left = SpansetExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, TraceQlError> {
        let mut left = self.spanset_term()?;
        while self.at(&Token::AndAnd) {
            self.bump();
            let right = self.spanset_term()?;
            left = SpansetExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn spanset_term(&mut self) -> Result<SpansetExpr, TraceQlError> {
        let pos = self.pos();
        match self.bump() {
            Some(Lexeme {
                token: Token::LBrace,
                ..
            }) => {
                if self.at(&Token::RBrace) {
                    self.bump();
                    return Ok(SpansetExpr::Filter(SpansetFilter { expr: None, pos }));
                }
                let expr = self.nested(Self::field_or)?;
                self.expect(&Token::RBrace, "}")?;
                Ok(SpansetExpr::Filter(SpansetFilter {
                    expr: Some(expr),
                    pos,
                }))
            }
            Some(Lexeme {
                token: Token::LParen,
                ..
            }) => {
                let inner = self.nested(Self::spanset_or)?;
                self.expect(&Token::RParen, ")")?;
                Ok(inner)
            }
            Some(lexeme) => Err(self.unexpected(lexeme, "a spanset {…}")),
            None => Err(TraceQlError::syntax(pos, "expected a spanset {…}")),
        }
    }

    fn expect(&mut self, token: &Token, name: &str) -> Result<(), TraceQlError> {
        if self.at(token) {
            self.bump();
            return Ok(());
        }
        match self.peek().cloned() {
            Some(lexeme) => Err(self.unexpected(lexeme, name)),
            None => Err(TraceQlError::syntax(self.end, format!("expected {name}"))),
        }
    }

    fn field_or(&mut self) -> Result<FieldExpr, TraceQlError> {
        let mut left = self.field_and()?;
        while self.at(&Token::OrOr) {
            self.bump();
            let right = self.field_and()?;
            left = FieldExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn field_and(&mut self) -> Result<FieldExpr, TraceQlError> {
        let mut left = self.field_term()?;
        while self.at(&Token::AndAnd) {
            self.bump();
            let right = self.field_term()?;
            left = FieldExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn field_term(&mut self) -> Result<FieldExpr, TraceQlError> {
        if self.at(&Token::LParen) {
            self.bump();
            let inner = self.nested(Self::field_or)?;
            self.expect(&Token::RParen, ")")?;
            return Ok(inner);
        }
        let pos = self.pos();
        let field = match self.bump() {
            Some(Lexeme {
                token: Token::Attribute(scope, name),
                ..
            }) => Field::Attribute { scope, name },
            Some(Lexeme {
                token: Token::Word(word),
                pos,
            }) => Field::Intrinsic(intrinsic(&word, pos)?),
            Some(lexeme) => return Err(self.unexpected(lexeme, "an attribute or intrinsic")),
            None => {
                return Err(TraceQlError::syntax(
                    pos,
                    "expected an attribute or intrinsic",
                ));
            }
        };
        let op = match self.bump() {
            Some(Lexeme {
                token: Token::Compare(op),
                ..
            }) => op,
            Some(lexeme) => return Err(self.unexpected(lexeme, "a comparison (=, !=, >, =~, …)")),
            None => return Err(TraceQlError::syntax(self.end, "expected a comparison")),
        };
        let value_pos = self.pos();
        let value = match self.bump() {
            Some(lexeme) => literal(lexeme)?,
            None => return Err(TraceQlError::syntax(self.end, "expected a value")),
        };
        let comparison = Comparison {
            field,
            op,
            value,
            pos,
        };
        check(&comparison, value_pos)?;
        Ok(FieldExpr::Compare(comparison))
    }
}

fn intrinsic(word: &str, pos: Pos) -> Result<Intrinsic, TraceQlError> {
    if let Some((intrinsic, _, _)) = Intrinsic::ALL
        .iter()
        .find(|(_, plain, scoped)| *plain == word || *scoped == word)
    {
        return Ok(*intrinsic);
    }
    if matches!(
        word,
        "nestedSetLeft" | "nestedSetRight" | "nestedSetParent" | "parent"
    ) || word.contains(':')
    {
        return Err(TraceQlError::unsupported(
            pos,
            format!("the intrinsic {word}"),
        ));
    }
    Err(TraceQlError::syntax(
        pos,
        format!(
            "unknown intrinsic {word:?}: attributes are written span.{word}, resource.{word} or .{word}"
        ),
    ))
}

fn literal(lexeme: Lexeme) -> Result<Literal, TraceQlError> {
    Ok(match lexeme.token {
        Token::Str(s) => Literal::String(s),
        Token::Int(i) => Literal::Int(i),
        Token::Float(f) => Literal::Float(f),
        Token::Duration(ns) => Literal::Duration(ns),
        Token::Word(word) => match word.as_str() {
            "true" => Literal::Bool(true),
            "false" => Literal::Bool(false),
            "nil" => return Err(TraceQlError::unsupported(lexeme.pos, "nil")),
            other => {
                if let Some(status) = SpanStatus::from_name(other) {
                    Literal::Status(status)
                } else if let Some(kind) = SpanKind::from_name(other) {
                    Literal::Kind(kind)
                } else {
                    return Err(TraceQlError::syntax(
                        lexeme.pos,
                        format!("unknown value {other:?}: strings are quoted"),
                    ));
                }
            }
        },
        token => {
            return Err(TraceQlError::syntax(
                lexeme.pos,
                format!("expected a value, found {}", describe(&token)),
            ));
        }
    })
}

/// Values that fit their field: statuses for `status`, kinds for `kind`, durations for the
/// durations, strings for names, regex patterns that compile.
fn check(comparison: &Comparison, value_pos: Pos) -> Result<(), TraceQlError> {
    use Literal as L;
    let ordered = matches!(
        comparison.op,
        CompareOp::Eq
            | CompareOp::Ne
            | CompareOp::Gt
            | CompareOp::Ge
            | CompareOp::Lt
            | CompareOp::Le
    );
    let equality = matches!(comparison.op, CompareOp::Eq | CompareOp::Ne);
    let regex = !ordered;
    let fits = match (&comparison.field, &comparison.value) {
        (_, L::String(_)) if regex => true,
        (_, _) if regex => false,
        (Field::Intrinsic(Intrinsic::Status), L::Status(_)) => equality,
        (Field::Intrinsic(Intrinsic::Kind), L::Kind(_)) => equality,
        (Field::Intrinsic(Intrinsic::Duration | Intrinsic::TraceDuration), L::Duration(_)) => true,
        (
            Field::Intrinsic(
                Intrinsic::Name
                | Intrinsic::StatusMessage
                | Intrinsic::RootName
                | Intrinsic::RootServiceName,
            ),
            L::String(_),
        ) => true,
        (Field::Attribute { .. }, L::String(_) | L::Int(_) | L::Float(_)) => true,
        (Field::Attribute { .. }, L::Bool(_)) => equality,
        _ => false,
    };
    if !fits {
        return Err(TraceQlError::syntax(
            value_pos,
            format!(
                "{} cannot be compared with {} using {}",
                super::print::field(&comparison.field),
                super::print::literal(&comparison.value),
                comparison.op.symbol()
            ),
        ));
    }
    if let (true, L::String(pattern)) = (regex, &comparison.value) {
        super::eval::compile_regex(pattern)
            .map_err(|e| TraceQlError::syntax(value_pos, format!("invalid regex: {e}")))?;
    }
    Ok(())
}

fn describe(token: &Token) -> String {
    match token {
        Token::LBrace => "{".into(),
        Token::RBrace => "}".into(),
        Token::LParen => "(".into(),
        Token::RParen => ")".into(),
        Token::AndAnd => "&&".into(),
        Token::OrOr => "||".into(),
        Token::Compare(op) => op.symbol().into(),
        Token::Unsupported(op) => (*op).into(),
        Token::Str(s) => format!("the string {s:?}"),
        Token::Int(i) => i.to_string(),
        Token::Float(f) => f.to_string(),
        Token::Duration(ns) => format!("{ns}ns"),
        Token::Word(w) => w.clone(),
        Token::Attribute(_, name) => format!("the attribute {name:?}"),
    }
}

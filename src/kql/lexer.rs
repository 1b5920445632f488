//! KQL text into tokens, each with the position it starts at. Keywords are identifiers here;
//! the parser tells them apart by context, as KQL does (`count` is an operator, a function
//! and a valid column name).

use super::KqlError;
use super::ast::Pos;

/// Longest query text accepted: far above what people write, and it bounds the work.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    Str(String),
    Long(i64),
    Real(f64),
    /// A timespan literal (`5m`, `1.5h`, `100ms`) in nanoseconds.
    Timespan(i64),
    Punct(&'static str),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lexeme {
    pub token: Token,
    pub pos: Pos,
    /// Byte offsets of the token in the text: adjacent tokens (`project-away`, `!has`) meet.
    pub start: usize,
    pub end: usize,
}

/// Longest first, so `==` is not read as two `=`.
const PUNCTUATION: [&str; 29] = [
    "==", "!=", "<>", "<=", ">=", "=~", "!~", "..", "|", "(", ")", "[", "]", "{", "}", ",", ";",
    ".", "=", "<", ">", "+", "-", "*", "/", "%", "!", "~", ":",
];

/// Timespan units and their length in nanoseconds.
const UNITS: [(&str, i64); 17] = [
    ("d", 86_400_000_000_000),
    ("day", 86_400_000_000_000),
    ("days", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("hr", 3_600_000_000_000),
    ("hrs", 3_600_000_000_000),
    ("hour", 3_600_000_000_000),
    ("hours", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("minute", 60_000_000_000),
    ("minutes", 60_000_000_000),
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("second", 1_000_000_000),
    ("seconds", 1_000_000_000),
    ("ms", 1_000_000),
];

fn unit_ns(unit: &str) -> Option<i64> {
    match unit {
        "microsecond" | "microseconds" | "us" => Some(1_000),
        "tick" | "ticks" => Some(100),
        "millisecond" | "milliseconds" => Some(1_000_000),
        _ => UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, ns)| *ns),
    }
}

pub fn tokenize(text: &str) -> Result<Vec<Lexeme>, KqlError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(KqlError::syntax(
            Pos::START,
            format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    let mut lexer = Lexer {
        text,
        offset: 0,
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_space_and_comments();
        let pos = lexer.pos();
        let start = lexer.offset;
        let token = if opens_datetime_literal(&tokens) && !lexer.rest().starts_with(['\'', '"']) {
            lexer.raw_until_close()
        } else {
            lexer.next_token(pos)?
        };
        let end = lexer.offset;
        let done = token == Token::End;
        tokens.push(Lexeme {
            token,
            pos,
            start,
            end,
        });
        if done {
            return Ok(tokens);
        }
    }
}

/// `datetime(` was just read: its argument is raw text (`2026-12-01T10:00:00Z`), not tokens.
fn opens_datetime_literal(tokens: &[Lexeme]) -> bool {
    matches!(
        tokens,
        [.., Lexeme { token: Token::Ident(name), .. }, Lexeme { token: Token::Punct("("), .. }]
            if name == "datetime"
    )
}

struct Lexer<'a> {
    text: &'a str,
    offset: usize,
    line: u32,
    /// Counted as characters are read (recounting a long line per token is quadratic).
    column: u32,
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.offset..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    /// The text up to the next `)` (not included), as a string token.
    fn raw_until_close(&mut self) -> Token {
        let start = self.offset;
        while self.peek().is_some_and(|c| c != ')' && c != '\n') {
            self.bump();
        }
        Token::Str(self.text[start..self.offset].trim().to_owned())
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            if self.rest().starts_with("//") {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            } else {
                return;
            }
        }
    }

    fn next_token(&mut self, pos: Pos) -> Result<Token, KqlError> {
        let Some(c) = self.peek() else {
            return Ok(Token::End);
        };
        let rest = self.rest();
        // `@'…'` is verbatim; `h'…'` marks a secret in KQL and reads as a plain string.
        if matches!(c, '@' | 'h' | 'H') && rest[1..].starts_with(['\'', '"']) {
            self.bump();
            return self.string(pos, c == '@');
        }
        if c == '\'' || c == '"' {
            return self.string(pos, false);
        }
        if c.is_ascii_digit() {
            return self.number(pos);
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = self.offset;
            while self
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
            {
                self.bump();
            }
            return Ok(Token::Ident(self.text[start..self.offset].to_owned()));
        }
        for punct in PUNCTUATION {
            if rest.starts_with(punct) {
                for _ in 0..punct.len() {
                    self.bump();
                }
                return Ok(Token::Punct(punct));
            }
        }
        Err(KqlError::syntax(pos, format!("unexpected character {c:?}")))
    }

    /// A quoted string; `verbatim` (`@'…'`) takes backslashes as they are and a doubled quote
    /// as one quote.
    fn string(&mut self, pos: Pos, verbatim: bool) -> Result<Token, KqlError> {
        let quote = self.bump().unwrap_or('"');
        let mut value = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(KqlError::syntax(pos, "the string is not closed"));
            };
            if c == quote {
                if verbatim && self.peek() == Some(quote) {
                    self.bump();
                    value.push(quote);
                    continue;
                }
                return Ok(Token::Str(value));
            }
            if c == '\\' && !verbatim {
                let escaped = self
                    .bump()
                    .ok_or_else(|| KqlError::syntax(pos, "the string is not closed"))?;
                value.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    other => other,
                });
                continue;
            }
            if c == '\n' {
                return Err(KqlError::syntax(
                    pos,
                    "the string is not closed on its line",
                ));
            }
            value.push(c);
        }
    }

    /// A long, a real, or a timespan when a unit follows the digits directly.
    fn number(&mut self, pos: Pos) -> Result<Token, KqlError> {
        let start = self.offset;
        self.digits();
        let mut real = false;
        if self.rest().starts_with('.')
            && self.rest()[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            self.bump();
            self.digits();
            real = true;
        }
        let rest = self.rest();
        let exponent = rest.starts_with(['e', 'E'])
            && (rest[1..].starts_with(|c: char| c.is_ascii_digit())
                || (rest[1..].starts_with(['+', '-'])
                    && rest[2..].starts_with(|c: char| c.is_ascii_digit())));
        if exponent {
            self.bump();
            if self.peek().is_some_and(|c| c == '+' || c == '-') {
                self.bump();
            }
            self.digits();
            real = true;
        }
        let number = &self.text[start..self.offset];
        let unit_start = self.offset;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        let unit = &self.text[unit_start..self.offset];
        if !unit.is_empty() {
            let ns = unit_ns(unit).ok_or_else(|| {
                KqlError::syntax(
                    pos,
                    format!("{number}{unit} is not a number or a timespan (units: d, h, m, s, ms, microsecond, tick)"),
                )
            })?;
            let amount: f64 = number
                .parse()
                .map_err(|_| KqlError::syntax(pos, format!("invalid timespan {number}{unit}")))?;
            let total = amount * ns as f64;
            if !total.is_finite() || total.abs() >= i64::MAX as f64 {
                return Err(KqlError::syntax(
                    pos,
                    format!("the timespan {number}{unit} is too long"),
                ));
            }
            return Ok(Token::Timespan(total.round() as i64));
        }
        if real {
            let value: f64 = number
                .parse()
                .map_err(|_| KqlError::syntax(pos, format!("invalid number {number}")))?;
            return Ok(Token::Real(value));
        }
        number
            .parse()
            .map(Token::Long)
            .map_err(|_| KqlError::syntax(pos, format!("the number {number} is too large")))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        tokenize(text)
            .expect("ok")
            .into_iter()
            .map(|lexeme| lexeme.token)
            .collect()
    }

    #[test]
    fn reads_literals_operators_and_positions() {
        assert_eq!(
            tokens("T | where x >= 5m and y == 'a\\'b' // note\n| take 10"),
            vec![
                Token::Ident("T".into()),
                Token::Punct("|"),
                Token::Ident("where".into()),
                Token::Ident("x".into()),
                Token::Punct(">="),
                Token::Timespan(300_000_000_000),
                Token::Ident("and".into()),
                Token::Ident("y".into()),
                Token::Punct("=="),
                Token::Str("a'b".into()),
                Token::Punct("|"),
                Token::Ident("take".into()),
                Token::Long(10),
                Token::End,
            ]
        );
        let lexemes = tokenize("T\n  | take 1").expect("ok");
        assert_eq!(lexemes[1].pos, Pos { line: 2, column: 3 });
    }

    #[test]
    fn reads_numbers_timespans_and_verbatim_strings() {
        assert_eq!(
            tokens("1.5h 100ms 2.5 1e3 @'C:\\x''y' 7"),
            vec![
                Token::Timespan(5_400_000_000_000),
                Token::Timespan(100_000_000),
                Token::Real(2.5),
                Token::Real(1000.0),
                Token::Str("C:\\x'y".into()),
                Token::Long(7),
                Token::End,
            ]
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let error = tokenize("T | where x == 'open").expect_err("fails");
        assert_eq!(error.to_string(), "1:16: the string is not closed");
        let error = tokenize("T | take 5q").expect_err("fails");
        assert!(error.to_string().starts_with("1:10: 5q is not"), "{error}");
        assert!(tokenize("99999999999999999999").is_err());
        assert!(tokenize("T | where x == #").is_err());
    }
}

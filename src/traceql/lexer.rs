//! TraceQL text → tokens with their columns.

use super::{CompareOp, Pos, Scope, TraceQlError};

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    LBrace,
    RBrace,
    LParen,
    RParen,
    AndAnd,
    OrOr,
    Compare(CompareOp),
    /// `|`, `>>`, `<<`, `~`, `!`, `,`, arithmetic: TraceQL we do not run.
    Unsupported(&'static str),
    Str(String),
    Int(i64),
    Float(f64),
    Duration(i64),
    /// A word: an intrinsic, `true`/`false`, a status or kind, `span:name`.
    Word(String),
    Attribute(Scope, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lexeme {
    pub token: Token,
    pub pos: Pos,
}

/// Longest first, so `>=` is not read as `>` then `=`.
const PUNCTUATION: [(&str, Option<CompareOp>, &str); 17] = [
    ("=~", Some(CompareOp::Regex), ""),
    ("!~", Some(CompareOp::NotRegex), ""),
    ("!=", Some(CompareOp::Ne), ""),
    (">=", Some(CompareOp::Ge), ""),
    ("<=", Some(CompareOp::Le), ""),
    (">>", None, ">>"),
    ("<<", None, "<<"),
    ("&&", None, "&&"),
    ("||", None, "||"),
    ("=", Some(CompareOp::Eq), ""),
    (">", Some(CompareOp::Gt), ""),
    ("<", Some(CompareOp::Lt), ""),
    ("|", None, "|"),
    ("~", None, "~"),
    ("!", None, "!"),
    (",", None, ","),
    ("+", None, "+"),
];

/// Characters of an unquoted attribute name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '@')
}

const DURATION_UNITS: [(&str, i64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

pub fn tokenize(text: &str) -> Result<Vec<Lexeme>, TraceQlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos(u32::try_from(i + 1).unwrap_or(u32::MAX));
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = match c {
            '{' => single(&mut i, Token::LBrace),
            '}' => single(&mut i, Token::RBrace),
            '(' => single(&mut i, Token::LParen),
            ')' => single(&mut i, Token::RParen),
            '"' | '`' => Token::Str(string(&chars, &mut i, pos)?),
            '.' => {
                i += 1;
                Token::Attribute(Scope::Any, attribute_name(&chars, &mut i, pos)?)
            }
            '-' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                number(&chars, &mut i, pos)?
            }
            c if c.is_ascii_digit() => number(&chars, &mut i, pos)?,
            c if c.is_ascii_alphabetic() || c == '_' => word(&chars, &mut i, pos)?,
            _ => punctuation(&chars, &mut i, pos)?,
        };
        out.push(Lexeme { token, pos });
    }
    Ok(out)
}

fn single(i: &mut usize, token: Token) -> Token {
    *i += 1;
    token
}

fn punctuation(chars: &[char], i: &mut usize, pos: Pos) -> Result<Token, TraceQlError> {
    for (text, op, name) in PUNCTUATION {
        let len = text.chars().count();
        if chars.len() >= *i + len && chars[*i..*i + len].iter().copied().eq(text.chars()) {
            *i += len;
            return Ok(match (op, name) {
                (Some(op), _) => Token::Compare(op),
                (None, "&&") => Token::AndAnd,
                (None, "||") => Token::OrOr,
                (None, name) => Token::Unsupported(name),
            });
        }
    }
    Err(TraceQlError::syntax(
        pos,
        format!("unexpected character {:?}", chars[*i]),
    ))
}

fn string(chars: &[char], i: &mut usize, pos: Pos) -> Result<String, TraceQlError> {
    let quote = chars[*i];
    *i += 1;
    let mut out = String::new();
    while let Some(&c) = chars.get(*i) {
        *i += 1;
        if c == quote {
            return Ok(out);
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let escaped = chars
            .get(*i)
            .copied()
            .ok_or_else(|| TraceQlError::syntax(pos, "unterminated string"))?;
        *i += 1;
        match escaped {
            '"' | '\\' | '\'' => out.push(escaped),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'u' => {
                let hex: String = chars.iter().skip(*i).take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        TraceQlError::syntax(pos, format!("invalid escape \\u{hex} in a string"))
                    })?;
                *i += 4;
                out.push(code);
            }
            other => {
                return Err(TraceQlError::syntax(
                    pos,
                    format!("invalid escape \\{other} in a string"),
                ));
            }
        }
    }
    Err(TraceQlError::syntax(pos, "unterminated string"))
}

fn attribute_name(chars: &[char], i: &mut usize, pos: Pos) -> Result<String, TraceQlError> {
    if matches!(chars.get(*i), Some('"')) {
        let name = string(chars, i, pos)?;
        if name.is_empty() {
            return Err(TraceQlError::syntax(pos, "an attribute name is empty"));
        }
        return Ok(name);
    }
    let start = *i;
    while chars.get(*i).copied().is_some_and(is_name_char) {
        *i += 1;
    }
    if *i == start {
        return Err(TraceQlError::syntax(pos, "expected an attribute name"));
    }
    Ok(chars[start..*i].iter().collect())
}

fn word(chars: &[char], i: &mut usize, pos: Pos) -> Result<Token, TraceQlError> {
    let start = *i;
    while chars
        .get(*i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        *i += 1;
    }
    let word: String = chars[start..*i].iter().collect();
    match chars.get(*i) {
        Some('.') if word == "span" || word == "resource" => {
            *i += 1;
            let scope = if word == "span" {
                Scope::Span
            } else {
                Scope::Resource
            };
            Ok(Token::Attribute(scope, attribute_name(chars, i, pos)?))
        }
        Some('.') if matches!(word.as_str(), "event" | "link" | "instrumentation") => Err(
            TraceQlError::unsupported(pos, format!("{word}. attributes")),
        ),
        Some(':') if chars.get(*i + 1).is_some_and(char::is_ascii_alphabetic) => {
            *i += 1;
            let rest_start = *i;
            while chars.get(*i).is_some_and(char::is_ascii_alphanumeric) {
                *i += 1;
            }
            let rest: String = chars[rest_start..*i].iter().collect();
            Ok(Token::Word(format!("{word}:{rest}")))
        }
        _ => Ok(Token::Word(word)),
    }
}

fn number(chars: &[char], i: &mut usize, pos: Pos) -> Result<Token, TraceQlError> {
    let start = *i;
    if chars[*i] == '-' {
        *i += 1;
    }
    let digits = |i: &mut usize| {
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
    };
    digits(i);
    let mut is_float = false;
    if chars.get(*i) == Some(&'.') && chars.get(*i + 1).is_some_and(char::is_ascii_digit) {
        is_float = true;
        *i += 1;
        digits(i);
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(*i + 1), Some('+' | '-')));
        if chars.get(*i + 1 + sign).is_some_and(char::is_ascii_digit) {
            is_float = true;
            *i += 1 + sign;
            digits(i);
        }
    }
    let text: String = chars[start..*i].iter().collect();
    let unit_start = *i;
    while chars.get(*i).is_some_and(|c| c.is_alphabetic()) {
        *i += 1;
    }
    let unit: String = chars[unit_start..*i].iter().collect();
    if !unit.is_empty() {
        let scale = DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| {
                TraceQlError::syntax(
                    pos,
                    format!("unknown duration unit {unit:?} in {text}{unit}"),
                )
            })?;
        return duration(&text, scale, is_float)
            .map(Token::Duration)
            .ok_or_else(|| {
                TraceQlError::syntax(pos, format!("duration {text}{unit} is out of range"))
            });
    }
    if is_float {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Token::Float)
            .ok_or_else(|| TraceQlError::syntax(pos, format!("number {text} is out of range")))
    } else {
        text.parse::<i64>()
            .map(Token::Int)
            .map_err(|_| TraceQlError::syntax(pos, format!("integer {text} is out of range")))
    }
}

fn duration(text: &str, scale: i64, is_float: bool) -> Option<i64> {
    if !is_float {
        return text.parse::<i64>().ok()?.checked_mul(scale);
    }
    let ns = (text.parse::<f64>().ok()? * scale as f64).round();
    // Beyond ±2^63 the cast would saturate silently.
    (ns.is_finite() && ns.abs() < 9.2e18).then_some(ns as i64)
}

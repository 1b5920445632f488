//! Scalar functions: time (`ago`, `bin`, `startofday`), conditionals (`iff`, `case`),
//! conversions (`tostring`, `toint`, …) and strings (`strlen`, `substring`, `extract`, …).

use super::KqlError;
use super::ast::*;
use super::expr::{Context, Typed, constant_text, type_error};
use super::plan::{Planner, Relation};
use super::sql::{Fragment, call, lower, text_or_empty};
use super::types::{Dynamic, KqlType};
use crate::reads::tabular::{Dialect, Param};

const DAY_NS: i64 = 86_400_000_000_000;
const HOUR_NS: i64 = 3_600_000_000_000;

/// Functions KQL has that are not translated yet: named as unsupported, not unknown.
const UNSUPPORTED: [&str; 16] = [
    "format_datetime",
    "format_timespan",
    "datetime_diff",
    "datetime_add",
    "startofweek",
    "startofmonth",
    "startofyear",
    "todatetime",
    "totimespan",
    "parse_url",
    "parse_path",
    "bag_keys",
    "array_length",
    "hash",
    "base64_encode_tostring",
    "round",
];

impl Planner<'_> {
    pub fn call(
        &mut self,
        name: &Ident,
        args: &[Expr],
        rel: &Relation,
        ctx: Context,
    ) -> Result<Typed, KqlError> {
        if super::aggregates::is_aggregate(&name.name) {
            if ctx != Context::Aggregate {
                return Err(KqlError::semantic(
                    name.pos,
                    format!("{}() aggregates rows: use it in summarize", name.name),
                ));
            }
            return self.aggregate(name, args, rel);
        }
        let d = self.dialect;
        let pos = name.pos;
        let f = name.name.as_str();
        match f {
            "ago" | "now" => {
                let offset = match args {
                    [] if f == "now" => 0,
                    [span] => match self.constant(span) {
                        Some(Literal::Timespan(ns)) => ns,
                        _ => return Err(arguments(pos, f, "a constant timespan")),
                    },
                    _ => return Err(arguments(pos, f, "one timespan")),
                };
                let at = if f == "ago" {
                    self.now_ns.checked_sub(offset)
                } else {
                    self.now_ns.checked_add(offset)
                };
                let at = at.ok_or_else(|| KqlError::semantic(pos, "the time is out of range"))?;
                return Ok(self.literal(&Literal::Datetime(at)));
            }
            _ => {}
        }
        let mut typed = Vec::with_capacity(args.len());
        for arg in args {
            typed.push(self.expr(arg, rel, ctx)?);
        }
        let one = |typed: &[Typed]| -> Result<Typed, KqlError> {
            match typed {
                [only] => Ok(only.clone()),
                _ => Err(arguments(pos, f, "one argument")),
            }
        };
        Ok(match f {
            "bin" | "floor" => {
                let [value, size] = two(&typed, pos, f)?;
                self.bin(value, size, &args[1], pos)?
            }
            "startofday" | "startofhour" => {
                let value = one(&typed)?;
                if value.ty != KqlType::Datetime {
                    return Err(type_error(pos, f, &[value.ty]));
                }
                let size = if f == "startofday" { DAY_NS } else { HOUR_NS };
                self.bin(value, self.literal(&Literal::Timespan(size)), &args[0], pos)?
            }
            "hourofday" => {
                let value = one(&typed)?;
                if value.ty != KqlType::Datetime {
                    return Err(type_error(pos, f, &[value.ty]));
                }
                let hours = self.literal(&Literal::Long(HOUR_NS));
                let sql = match d {
                    Dialect::ClickHouse => Fragment::template(
                        "toInt64(((intDiv({}, {}) % 24) + 24) % 24)",
                        vec![value.sql, hours.sql],
                    ),
                    Dialect::Sqlite => Fragment::template(
                        "(((({} / {}) % 24) + 24) % 24)",
                        vec![value.sql, hours.sql],
                    ),
                };
                Typed::new(sql, KqlType::Int)
            }
            "iff" | "iif" => {
                let [condition, then, otherwise] = three(&typed, pos, f)?;
                self.conditional(vec![(condition, then)], otherwise, pos)?
            }
            "case" => {
                if typed.len() < 3 || typed.len() % 2 == 0 {
                    return Err(arguments(
                        pos,
                        f,
                        "pairs of condition and value, then an else value",
                    ));
                }
                let mut rest = typed;
                let otherwise = rest
                    .pop()
                    .unwrap_or_else(|| self.literal(&Literal::Bool(false)));
                let mut branches = Vec::new();
                let mut items = rest.into_iter();
                while let (Some(condition), Some(value)) = (items.next(), items.next()) {
                    branches.push((condition, value));
                }
                self.conditional(branches, otherwise, pos)?
            }
            "not" => {
                let value = one(&typed)?;
                if value.ty != KqlType::Bool {
                    return Err(type_error(pos, f, &[value.ty]));
                }
                Typed::new(
                    Fragment::template("(NOT {})", vec![value.sql]),
                    KqlType::Bool,
                )
            }
            "isnull" | "isnotnull" => {
                let value = one(&typed)?;
                let test = if f == "isnull" {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                };
                Typed::new(
                    Fragment::template(&format!("({{}} {test})"), vec![value.sql]),
                    KqlType::Bool,
                )
            }
            "isempty" | "isnotempty" => {
                let value = one(&typed)?;
                let empty = if value.ty.is_text() {
                    Fragment::template("({} = '')", vec![text_or_empty(value.sql, d)])
                } else {
                    Fragment::template("({} IS NULL)", vec![value.sql])
                };
                let sql = if f == "isempty" {
                    empty
                } else {
                    Fragment::template("(NOT {})", vec![empty])
                };
                Typed::new(sql, KqlType::Bool)
            }
            "tostring" => self.as_text(one(&typed)?, pos)?,
            "toint" | "tolong" => {
                let value = one(&typed)?;
                let ty = if f == "toint" {
                    KqlType::Int
                } else {
                    KqlType::Long
                };
                let sql = match (value.ty, d) {
                    (t, _) if t.is_integer() => value.sql,
                    (t, Dialect::ClickHouse) if t.is_text() => {
                        call("toInt64OrNull", vec![call("toString", vec![value.sql])])
                    }
                    (t, Dialect::Sqlite) if t.is_text() => call("kql_tolong", vec![value.sql]),
                    (t, Dialect::ClickHouse) if t.is_numeric() => call("toInt64", vec![value.sql]),
                    (t, Dialect::Sqlite) if t.is_numeric() => {
                        Fragment::template("CAST({} AS INTEGER)", vec![value.sql])
                    }
                    (t, _) => return Err(type_error(pos, f, &[t])),
                };
                Typed::new(sql, ty)
            }
            "todouble" | "toreal" => {
                let value = one(&typed)?;
                let sql = match (value.ty, d) {
                    (t, Dialect::ClickHouse) if t.is_text() => {
                        call("toFloat64OrNull", vec![call("toString", vec![value.sql])])
                    }
                    (t, Dialect::Sqlite) if t.is_text() => call("kql_todouble", vec![value.sql]),
                    (t, Dialect::ClickHouse) if t.is_numeric() => {
                        call("toFloat64", vec![value.sql])
                    }
                    (t, Dialect::Sqlite) if t.is_numeric() => {
                        Fragment::template("CAST({} AS REAL)", vec![value.sql])
                    }
                    (t, _) => return Err(type_error(pos, f, &[t])),
                };
                Typed::new(sql, KqlType::Real)
            }
            "tobool" | "toboolean" => {
                let value = one(&typed)?;
                let sql = match value.ty {
                    KqlType::Bool => value.sql,
                    t if t.is_text() => Fragment::template(
                        "(CASE WHEN {} = 'true' THEN 1 WHEN {} = 'false' THEN 0 ELSE NULL END)",
                        vec![lower(value.sql.clone(), d), lower(value.sql, d)],
                    ),
                    t if t.is_numeric() => Fragment::template("({} != 0)", vec![value.sql]),
                    t => return Err(type_error(pos, f, &[t])),
                };
                Typed::new(sql, KqlType::Bool)
            }
            "todynamic" | "parse_json" => {
                let value = one(&typed)?;
                if !matches!(value.ty, KqlType::Dynamic(_)) {
                    return Err(KqlError::unsupported(
                        pos,
                        format!(
                            "{f} of a {} value; it passes dynamic values through",
                            value.ty.name()
                        ),
                    ));
                }
                value
            }
            "strlen" => {
                let value = one(&typed)?;
                let text = self.text(value, pos, f)?;
                let sql = match d {
                    Dialect::ClickHouse => call("toInt64", vec![call("lengthUTF8", vec![text])]),
                    Dialect::Sqlite => call("length", vec![text]),
                };
                Typed::new(sql, KqlType::Long)
            }
            "tolower" | "toupper" => {
                let value = one(&typed)?;
                let text = self.text(value, pos, f)?;
                let sql = match (f, d) {
                    ("tolower", _) => lower(text, d),
                    (_, Dialect::ClickHouse) => call("upperUTF8", vec![text]),
                    (_, Dialect::Sqlite) => call("kql_upper", vec![text]),
                };
                Typed::new(sql, KqlType::String)
            }
            "substring" => self.substring(&typed, pos)?,
            "strcat" => {
                if typed.is_empty() {
                    return Err(arguments(pos, f, "at least one argument"));
                }
                let mut parts = Vec::new();
                for value in typed {
                    let text = self.as_text(value, pos)?;
                    parts.push(text_or_empty(text.sql, d));
                }
                let sql = match d {
                    Dialect::ClickHouse => {
                        parts.push(Fragment::text("''"));
                        call("concat", parts)
                    }
                    Dialect::Sqlite => {
                        Fragment::template("({})", vec![Fragment::join(parts, " || ")])
                    }
                };
                Typed::new(sql, KqlType::String)
            }
            "replace_string" => {
                let [text, find, with] = three(&typed, pos, f)?;
                let (text, find) = self.texts(text, find, pos, f)?;
                let with = self.text(with, pos, f)?;
                let function = match d {
                    Dialect::ClickHouse => "replaceAll",
                    Dialect::Sqlite => "replace",
                };
                Typed::new(call(function, vec![text, find, with]), KqlType::String)
            }
            "split" => {
                let [text, delimiter] = two(&typed, pos, f)?;
                let delimiter_text = constant_text(&delimiter)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| arguments(pos, f, "a constant, non-empty delimiter"))?;
                let text = self.text(text, pos, f)?;
                let delimiter = Fragment::param(Param::Text(delimiter_text), d);
                let sql = match d {
                    Dialect::ClickHouse => call("splitByString", vec![delimiter, text]),
                    Dialect::Sqlite => call("kql_split", vec![text, delimiter]),
                };
                Typed::new(sql, KqlType::Dynamic(Dynamic::Json))
            }
            "extract" => self.extract(&typed, args, pos)?,
            other if UNSUPPORTED.contains(&other) => {
                return Err(KqlError::unsupported(pos, format!("function `{other}`")));
            }
            other => {
                return Err(KqlError::semantic(
                    pos,
                    format!("unknown function '{other}'"),
                ));
            }
        })
    }

    /// `bin(value, size)`: down to a multiple of `size` (floor, also below zero).
    fn bin(
        &mut self,
        value: Typed,
        size: Typed,
        size_expr: &Expr,
        pos: Pos,
    ) -> Result<Typed, KqlError> {
        let d = self.dialect;
        if matches!(
            self.constant(size_expr),
            Some(Literal::Long(0) | Literal::Timespan(0))
        ) || matches!(self.constant(size_expr), Some(Literal::Real(x)) if x == 0.0)
        {
            return Err(KqlError::semantic(
                pos,
                "bin() needs a size other than zero",
            ));
        }
        let integer = match (value.ty, size.ty) {
            (KqlType::Datetime | KqlType::Timespan, KqlType::Timespan) => true,
            (v, s) if v.is_integer() && s.is_integer() => true,
            (v, s) if v.is_numeric() && s.is_numeric() => false,
            (v, s) => return Err(type_error(pos, "bin", &[v, s])),
        };
        let ty = if value.ty.is_integer() && integer {
            KqlType::Long
        } else if integer {
            value.ty
        } else {
            KqlType::Real
        };
        let sql = if integer {
            // A size that is zero only at run time gives null (and no division error).
            let divisor = match d {
                Dialect::ClickHouse => Fragment::template(
                    "if({} = 0, 1, {})",
                    vec![size.sql.clone(), size.sql.clone()],
                ),
                Dialect::Sqlite => size.sql.clone(),
            };
            Fragment::template(
                "(CASE WHEN {} = 0 THEN NULL ELSE {} - ((({} % {}) + {}) % {}) END)",
                vec![
                    size.sql.clone(),
                    value.sql.clone(),
                    value.sql,
                    divisor.clone(),
                    size.sql,
                    divisor,
                ],
            )
        } else {
            let floor = match d {
                Dialect::ClickHouse => "floor",
                Dialect::Sqlite => "kql_floor",
            };
            Fragment::template(
                &format!("({floor}({{}} / {{}}) * {{}})"),
                vec![
                    match d {
                        Dialect::ClickHouse => call("toFloat64", vec![value.sql]),
                        Dialect::Sqlite => Fragment::template("CAST({} AS REAL)", vec![value.sql]),
                    },
                    size.sql.clone(),
                    size.sql,
                ],
            )
        };
        Ok(Typed::new(sql, ty))
    }

    fn conditional(
        &mut self,
        branches: Vec<(Typed, Typed)>,
        otherwise: Typed,
        pos: Pos,
    ) -> Result<Typed, KqlError> {
        let mut ty = otherwise.ty;
        for (condition, value) in &branches {
            if condition.ty != KqlType::Bool {
                return Err(type_error(pos, "a condition", &[condition.ty]));
            }
            ty = common_type(ty, value.ty)
                .ok_or_else(|| type_error(pos, "iff/case", &[ty, value.ty]))?;
        }
        let mut sql = Fragment::text("(CASE");
        for (condition, value) in branches {
            sql.push(Fragment::template(
                " WHEN {} THEN {}",
                vec![condition.sql, value.sql],
            ));
        }
        sql.push(Fragment::template(" ELSE {} END)", vec![otherwise.sql]));
        Ok(Typed::new(sql, ty))
    }

    pub fn as_text(&mut self, value: Typed, pos: Pos) -> Result<Typed, KqlError> {
        let d = self.dialect;
        let sql = match value.ty {
            t if t.is_text() => value.sql,
            KqlType::Bool => Fragment::template(
                "(CASE WHEN {} IS NULL THEN NULL WHEN {} THEN 'true' ELSE 'false' END)",
                vec![value.sql.clone(), value.sql],
            ),
            t if t.is_integer() => match d {
                Dialect::ClickHouse => call("toString", vec![value.sql]),
                Dialect::Sqlite => Fragment::template("CAST({} AS TEXT)", vec![value.sql]),
            },
            KqlType::Real | KqlType::Dynamic(Dynamic::Number) => match d {
                Dialect::ClickHouse => call("toString", vec![value.sql]),
                Dialect::Sqlite => call("kql_real_text", vec![value.sql]),
            },
            t => {
                return Err(KqlError::unsupported(
                    pos,
                    format!("tostring of a {} value", t.name()),
                ));
            }
        };
        Ok(Typed::new(sql, KqlType::String))
    }
}

/// The type both branches of a conditional fit.
fn common_type(a: KqlType, b: KqlType) -> Option<KqlType> {
    if a == b {
        return Some(a);
    }
    if a.is_numeric() && b.is_numeric() {
        return Some(if a.is_integer() && b.is_integer() {
            KqlType::Long
        } else {
            KqlType::Real
        });
    }
    // Text with numbers is refused, as KQL does: the branches would hold both in one column.
    (a.is_text() && b.is_text()).then_some(KqlType::String)
}

pub fn arguments(pos: Pos, function: &str, what: &str) -> KqlError {
    KqlError::semantic(pos, format!("{function}() takes {what}"))
}

fn two(typed: &[Typed], pos: Pos, f: &str) -> Result<[Typed; 2], KqlError> {
    match typed {
        [a, b] => Ok([a.clone(), b.clone()]),
        _ => Err(arguments(pos, f, "two arguments")),
    }
}

pub fn three(typed: &[Typed], pos: Pos, f: &str) -> Result<[Typed; 3], KqlError> {
    match typed {
        [a, b, c] => Ok([a.clone(), b.clone(), c.clone()]),
        _ => Err(arguments(pos, f, "three arguments")),
    }
}

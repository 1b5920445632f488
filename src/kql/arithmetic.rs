//! `+ - * / %` over KQL's numeric and time types, the same in both dialects: integer division
//! truncates, and division by zero is null (SQLite's answer; ClickHouse would raise or give inf).

use super::KqlError;
use super::ast::{BinaryOp, Pos};
use super::expr::{Typed, type_error};
use super::sql::Fragment;
use super::types::KqlType;
use crate::reads::tabular::Dialect;

pub fn arithmetic(
    dialect: Dialect,
    op: BinaryOp,
    left: Typed,
    right: Typed,
    pos: Pos,
) -> Result<Typed, KqlError> {
    use KqlType::*;
    let (l, r) = (left.ty, right.ty);
    let symbol = op.spelling();
    let number = |t: KqlType| t.is_numeric();
    let result = match op {
        BinaryOp::Add => match (l, r) {
            (Datetime, Timespan) | (Timespan, Datetime) => Some(Datetime),
            (Timespan, Timespan) => Some(Timespan),
            _ => numeric_result(l, r),
        },
        BinaryOp::Sub => match (l, r) {
            (Datetime, Timespan) => Some(Datetime),
            (Datetime, Datetime) | (Timespan, Timespan) => Some(Timespan),
            _ => numeric_result(l, r),
        },
        BinaryOp::Mul => match (l, r) {
            (Timespan, n) | (n, Timespan) if number(n) => Some(Timespan),
            _ => numeric_result(l, r),
        },
        BinaryOp::Div => match (l, r) {
            (Timespan, Timespan) => Some(Real),
            (Timespan, n) if number(n) => Some(Timespan),
            _ => numeric_result(l, r),
        },
        BinaryOp::Mod => match (l, r) {
            (Timespan, Timespan) => Some(Timespan),
            _ if l.is_integer() && r.is_integer() => Some(Long),
            _ => None,
        },
        _ => None,
    };
    let Some(ty) = result else {
        return Err(type_error(pos, &format!("'{symbol}'"), &[l, r]));
    };
    let integer_result = matches!(ty, Long | Int | Datetime | Timespan);
    let sql = match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
            let sql =
                Fragment::template(&format!("({{}} {symbol} {{}})"), vec![left.sql, right.sql]);
            let fractional = |t: KqlType| t.is_numeric() && !t.is_integer();
            if integer_result && (fractional(l) || fractional(r)) {
                // A timespan times a real: back to whole nanoseconds.
                truncate(sql, dialect)
            } else {
                sql
            }
        }
        BinaryOp::Div => divide(dialect, left, right, integer_result),
        // ClickHouse evaluates both branches, so its divisor is never zero.
        _ => match dialect {
            Dialect::ClickHouse => Fragment::template(
                "if({} = 0, NULL, {} % if({} = 0, 1, {}))",
                vec![right.sql.clone(), left.sql, right.sql.clone(), right.sql],
            ),
            Dialect::Sqlite => Fragment::template(
                "(CASE WHEN {} = 0 THEN NULL ELSE {} % {} END)",
                vec![right.sql.clone(), left.sql, right.sql],
            ),
        },
    };
    Ok(Typed::new(sql, ty))
}

fn is_time(ty: KqlType) -> bool {
    matches!(ty, KqlType::Datetime | KqlType::Timespan)
}

fn numeric_result(l: KqlType, r: KqlType) -> Option<KqlType> {
    if !l.is_numeric() || !r.is_numeric() {
        return None;
    }
    Some(if l.is_integer() && r.is_integer() {
        KqlType::Long
    } else {
        KqlType::Real
    })
}

/// Toward zero, to a 64-bit integer.
fn truncate(sql: Fragment, dialect: Dialect) -> Fragment {
    match dialect {
        Dialect::ClickHouse => Fragment::template("toInt64({})", vec![sql]),
        Dialect::Sqlite => Fragment::template("CAST({} AS INTEGER)", vec![sql]),
    }
}

fn divide(dialect: Dialect, left: Typed, right: Typed, integer_result: bool) -> Fragment {
    let divisor = right.sql.clone();
    let both_integers = (left.ty.is_integer() || is_time(left.ty)) && right.ty.is_integer();
    let quotient = match (dialect, both_integers) {
        // Integers divide as integers (toward zero) in both.
        (Dialect::ClickHouse, true) => Fragment::template(
            "intDiv({}, if({} = 0, 1, {}))",
            vec![left.sql, right.sql.clone(), right.sql],
        ),
        (Dialect::ClickHouse, false) => Fragment::template(
            "({} / if({} = 0, 1, {}))",
            vec![left.sql, right.sql.clone(), right.sql],
        ),
        (Dialect::Sqlite, true) => Fragment::template("({} / {})", vec![left.sql, right.sql]),
        (Dialect::Sqlite, false) => {
            Fragment::template("(CAST({} AS REAL) / {})", vec![left.sql, right.sql])
        }
    };
    let quotient = if integer_result && !both_integers {
        truncate(quotient, dialect)
    } else {
        quotient
    };
    Fragment::template(
        "(CASE WHEN {} = 0 THEN NULL ELSE {} END)",
        vec![divisor, quotient],
    )
}

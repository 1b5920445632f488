//! The time range a table read covers: the request's `timespan`, else the bounds the query's
//! `where`s put on the time column, else the default; and the constant folding those bounds
//! (and `take`, percentile levels, capture groups) rest on.

use super::ast::*;
use super::plan::Planner;
use super::tables::TableDef;
use crate::reads::TimeRange;

impl Planner<'_> {
    /// The time range a table reference reads: the request's `timespan`, else the bounds the
    /// query's first `where`s put on the time column, else the default back from now.
    pub(super) fn range_for(&mut self, table: &TableDef, operators: &[Operator]) -> TimeRange {
        if let Some(range) = self.timespan {
            return range;
        }
        let mut from = None;
        let mut to = None;
        for operator in operators {
            let Operator::Where(condition) = operator else {
                break;
            };
            self.time_bounds(condition, table.time_column, &mut from, &mut to);
        }
        let to_ns = to.unwrap_or(self.now_ns.saturating_add(1));
        let from_ns = from.unwrap_or_else(|| to_ns.saturating_sub(self.default_range_ns));
        TimeRange {
            from_ns,
            to_ns: to_ns.max(from_ns.saturating_add(1)),
        }
    }

    /// Bounds from `time > X`, `time <= X`, `time between (X .. Y)` among `and`-ed conditions.
    fn time_bounds(
        &mut self,
        condition: &Expr,
        time: &str,
        from: &mut Option<i64>,
        to: &mut Option<i64>,
    ) {
        let is_time = |e: &Expr| matches!(e, Expr::Column(c) if c.name == time);
        let tighten_from = |at: i64, from: &mut Option<i64>| {
            *from = Some(from.map_or(at, |f| f.max(at)));
        };
        match condition {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
                ..
            } => {
                self.time_bounds(left, time, from, to);
                self.time_bounds(right, time, from, to);
            }
            Expr::Binary {
                op, left, right, ..
            } => {
                let (column_left, other) = if is_time(left) {
                    (true, right)
                } else if is_time(right) {
                    (false, left)
                } else {
                    return;
                };
                let Some(Literal::Datetime(at)) = self.constant(other) else {
                    return;
                };
                let lower = matches!(
                    (op, column_left),
                    (BinaryOp::Gt | BinaryOp::Ge, true) | (BinaryOp::Lt | BinaryOp::Le, false)
                );
                let upper = matches!(
                    (op, column_left),
                    (BinaryOp::Lt | BinaryOp::Le, true) | (BinaryOp::Gt | BinaryOp::Ge, false)
                );
                if lower || *op == BinaryOp::Eq {
                    tighten_from(at, from);
                }
                if upper || *op == BinaryOp::Eq {
                    let end = at.saturating_add(1);
                    *to = Some(to.map_or(end, |t| t.min(end)));
                }
            }
            Expr::Between {
                expr,
                low,
                high,
                negated: false,
                ..
            } if is_time(expr) => {
                if let (Some(Literal::Datetime(lo)), Some(Literal::Datetime(hi))) =
                    (self.constant(low), self.constant(high))
                {
                    tighten_from(lo, from);
                    let end = hi.saturating_add(1);
                    *to = Some(to.map_or(end, |t| t.min(end)));
                }
            }
            _ => {}
        }
    }

    /// The value of an expression known before any row is read: literals, scalar lets,
    /// `ago()`, `now()` and arithmetic of times.
    pub fn constant(&mut self, expr: &Expr) -> Option<Literal> {
        // Lets can refer to a let twice (`let a1 = a0 + a0;`): bound the work, not the depth.
        self.constant_steps = self.constant_steps.checked_sub(1)?;
        match expr {
            Expr::Literal(value, _) => Some(value.clone()),
            Expr::Column(name) => {
                let (index, LetValue::Scalar(value)) = self.find_let(&name.name)? else {
                    return None;
                };
                self.inside_let(index, |planner| planner.constant(&value))
            }
            Expr::Negate(inner, _) => match self.constant(inner)? {
                Literal::Long(n) => n.checked_neg().map(Literal::Long),
                Literal::Real(x) => Some(Literal::Real(-x)),
                Literal::Timespan(ns) => ns.checked_neg().map(Literal::Timespan),
                _ => None,
            },
            Expr::Call { name, args } if name.name == "ago" || name.name == "now" => {
                let offset = match args.as_slice() {
                    [] => 0,
                    [span] => match self.constant(span)? {
                        Literal::Timespan(ns) => ns,
                        _ => return None,
                    },
                    _ => return None,
                };
                let at = if name.name == "ago" {
                    self.now_ns.checked_sub(offset)
                } else {
                    self.now_ns.checked_add(offset)
                };
                at.map(Literal::Datetime)
            }
            Expr::Binary {
                op, left, right, ..
            } => match (op, self.constant(left)?, self.constant(right)?) {
                (BinaryOp::Add, Literal::Datetime(t), Literal::Timespan(s))
                | (BinaryOp::Add, Literal::Timespan(s), Literal::Datetime(t)) => {
                    t.checked_add(s).map(Literal::Datetime)
                }
                (BinaryOp::Sub, Literal::Datetime(t), Literal::Timespan(s)) => {
                    t.checked_sub(s).map(Literal::Datetime)
                }
                (BinaryOp::Mul, Literal::Timespan(s), Literal::Long(n))
                | (BinaryOp::Mul, Literal::Long(n), Literal::Timespan(s)) => {
                    s.checked_mul(n).map(Literal::Timespan)
                }
                _ => None,
            },
            _ => None,
        }
    }
}

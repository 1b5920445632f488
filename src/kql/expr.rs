//! Scalar expressions into typed SQL: column references, literals, operators and predicates.
//! Functions are in [`super::functions`], aggregations in [`super::aggregates`].

use super::KqlError;
use super::ast::*;
use super::plan::{Planner, Relation};
use super::sql::{Fragment, call, lower, text_or_empty};
use super::types::{Dynamic, KqlType};
use crate::reads::tabular::{Dialect, Param};

/// An expression's SQL and type.
#[derive(Debug, Clone)]
pub struct Typed {
    pub sql: Fragment,
    pub ty: KqlType,
}

impl Typed {
    pub fn new(sql: Fragment, ty: KqlType) -> Self {
        Typed { sql, ty }
    }
}

/// Whether aggregation functions may appear: only in `summarize`, and not inside another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Row,
    Aggregate,
}

/// Most SQL one query may become: repeated operands (`bin` uses its value twice, a let is
/// written out where used) would otherwise double per level.
pub const MAX_SQL_BYTES: usize = 1 << 20;

pub fn too_big(pos: Pos) -> KqlError {
    KqlError::semantic(
        pos,
        format!("the query would become more than {MAX_SQL_BYTES} bytes of SQL; simplify it"),
    )
}

impl Planner<'_> {
    pub fn expr(&mut self, e: &Expr, rel: &Relation, ctx: Context) -> Result<Typed, KqlError> {
        let typed = self.expr_unbounded(e, rel, ctx)?;
        if typed.sql.sql.len() > MAX_SQL_BYTES {
            return Err(too_big(e.pos()));
        }
        Ok(typed)
    }

    fn expr_unbounded(
        &mut self,
        e: &Expr,
        rel: &Relation,
        ctx: Context,
    ) -> Result<Typed, KqlError> {
        match e {
            Expr::Literal(value, _) => Ok(self.literal(value)),
            Expr::Column(name) => self.column(name, rel, ctx),
            Expr::Star(pos) => Err(KqlError::semantic(
                *pos,
                "'*' stands for all columns only in arg_max, arg_min and distinct",
            )),
            Expr::Call { name, args } => self.call(name, args, rel, ctx),
            Expr::Negate(inner, pos) => {
                let inner = self.expr(inner, rel, ctx)?;
                if !inner.ty.is_numeric() && inner.ty != KqlType::Timespan {
                    return Err(type_error(*pos, "'-'", &[inner.ty]));
                }
                Ok(Typed::new(
                    Fragment::template("(-{})", vec![inner.sql]),
                    inner.ty,
                ))
            }
            Expr::Binary {
                op,
                left,
                right,
                pos,
            } => {
                let left = self.expr(left, rel, ctx)?;
                let right = self.expr(right, rel, ctx)?;
                self.binary(*op, left, right, *pos)
            }
            Expr::Member { base, name } => {
                let base = self.expr(base, rel, ctx)?;
                let key = Typed::new(
                    Fragment::param(Param::Text(name.name.clone()), self.dialect),
                    KqlType::String,
                );
                self.property(base, key, &name.name, name.pos)
            }
            Expr::Index { base, index } => {
                let base_typed = self.expr(base, rel, ctx)?;
                match self.constant(index) {
                    Some(Literal::String(key)) => {
                        let typed_key = Typed::new(
                            Fragment::param(Param::Text(key.clone()), self.dialect),
                            KqlType::String,
                        );
                        self.property(base_typed, typed_key, &key, index.pos())
                    }
                    Some(Literal::Long(i)) => self.element(base_typed, i, index.pos()),
                    _ => Err(KqlError::unsupported(
                        index.pos(),
                        "an index that is not a constant string or number",
                    )),
                }
            }
            Expr::In {
                expr,
                list,
                negated,
                case_insensitive,
                pos,
            } => self.in_list(expr, list, *negated, *case_insensitive, *pos, rel, ctx),
            Expr::Between {
                expr,
                low,
                high,
                negated,
                pos,
            } => {
                let value = self.expr(expr, rel, ctx)?;
                let low = self.expr(low, rel, ctx)?;
                let high = self.expr(high, rel, ctx)?;
                let at_least = self.binary(BinaryOp::Ge, value.clone(), low, *pos)?;
                let at_most = self.binary(BinaryOp::Le, value, high, *pos)?;
                let both = Fragment::template("({} AND {})", vec![at_least.sql, at_most.sql]);
                Ok(Typed::new(negate_if(both, *negated), KqlType::Bool))
            }
        }
    }

    pub fn literal(&self, value: &Literal) -> Typed {
        let d = self.dialect;
        match value {
            Literal::Bool(b) => {
                Typed::new(Fragment::text(if *b { "1" } else { "0" }), KqlType::Bool)
            }
            Literal::Long(n) => Typed::new(Fragment::param(Param::Int(*n), d), KqlType::Long),
            Literal::Real(x) => Typed::new(Fragment::param(Param::Real(*x), d), KqlType::Real),
            Literal::String(s) => {
                Typed::new(Fragment::param(Param::Text(s.clone()), d), KqlType::String)
            }
            Literal::Timespan(ns) => {
                Typed::new(Fragment::param(Param::Int(*ns), d), KqlType::Timespan)
            }
            Literal::Datetime(ns) => {
                Typed::new(Fragment::param(Param::Int(*ns), d), KqlType::Datetime)
            }
        }
    }

    fn column(&mut self, name: &Ident, rel: &Relation, ctx: Context) -> Result<Typed, KqlError> {
        if let Some(column) = rel.find(&name.name) {
            if ctx == Context::Aggregate {
                return Err(KqlError::semantic(
                    name.pos,
                    format!(
                        "'{}' is used outside an aggregation in summarize; aggregate it (e.g. any, max) or group by it",
                        name.name
                    ),
                ));
            }
            return Ok(Typed::new(Fragment::text(column.alias.clone()), column.ty));
        }
        if let Some(value) = self.scalar_let(name) {
            return value;
        }
        Err(rel.unknown_column(name))
    }

    /// `bag.key` / `bag["key"]`: the value, or null where the key is absent.
    fn property(
        &mut self,
        base: Typed,
        key: Typed,
        key_text: &str,
        pos: Pos,
    ) -> Result<Typed, KqlError> {
        let KqlType::Dynamic(Dynamic::Bag { numbers }) = base.ty else {
            return Err(KqlError::unsupported(
                pos,
                format!(
                    "property access ('.{key_text}') on a {} value; only customDimensions/Properties and customMeasurements/Measurements have properties",
                    base.ty.name()
                ),
            ));
        };
        let ty = KqlType::Dynamic(if numbers {
            Dynamic::Number
        } else {
            Dynamic::Text
        });
        let sql = match self.dialect {
            Dialect::ClickHouse => Fragment::template(
                "if(has(tupleElement({}, 1), {}), tupleElement({}, 2)[indexOf(tupleElement({}, 1), {})], NULL)",
                vec![
                    base.sql.clone(),
                    key.sql.clone(),
                    base.sql.clone(),
                    base.sql,
                    key.sql,
                ],
            ),
            Dialect::Sqlite if !key_text.contains(['"', '\\']) => Fragment::template(
                "json_extract({}, {})",
                vec![
                    base.sql,
                    Fragment::param(Param::Text(format!("$.\"{key_text}\"")), self.dialect),
                ],
            ),
            Dialect::Sqlite => Fragment::template(
                "(SELECT value FROM json_each({}) WHERE key = {})",
                vec![base.sql, key.sql],
            ),
        };
        Ok(Typed::new(sql, ty))
    }

    /// `list[i]` of a list from `split`.
    fn element(&mut self, base: Typed, index: i64, pos: Pos) -> Result<Typed, KqlError> {
        if base.ty != KqlType::Dynamic(Dynamic::Json) || index < 0 {
            return Err(KqlError::unsupported(
                pos,
                "indexing other than a list from split() by a non-negative number",
            ));
        }
        let d = self.dialect;
        let sql = match d {
            // A number of ours, written as a literal: ClickHouse 18.16 reads an Int64 index
            // (a bound parameter) as nothing.
            Dialect::ClickHouse => Fragment::template(
                &format!(
                    "if(length({{}}) > {index}, arrayElement({{}}, {}), NULL)",
                    index.saturating_add(1)
                ),
                vec![base.sql.clone(), base.sql],
            ),
            Dialect::Sqlite => Fragment::template(
                "json_extract({}, {})",
                vec![
                    base.sql,
                    Fragment::param(Param::Text(format!("$[{index}]")), d),
                ],
            ),
        };
        Ok(Typed::new(sql, KqlType::Dynamic(Dynamic::Text)))
    }

    #[allow(clippy::too_many_arguments)]
    fn in_list(
        &mut self,
        expr: &Expr,
        list: &[Expr],
        negated: bool,
        case_insensitive: bool,
        pos: Pos,
        rel: &Relation,
        ctx: Context,
    ) -> Result<Typed, KqlError> {
        let value = self.expr(expr, rel, ctx)?;
        let d = self.dialect;
        let mut probe = None;
        let mut items = Vec::new();
        for item in list {
            let item = self.expr(item, rel, ctx)?;
            let types = [value.ty, item.ty];
            let (left, right) = unify_for_comparison(value.clone(), item, d)
                .ok_or_else(|| type_error(pos, "'in'", &types))?;
            probe.get_or_insert(left);
            items.push(right);
        }
        let probe = probe.ok_or_else(|| KqlError::syntax(pos, "'in' needs at least one value"))?;
        let text = probe.ty.is_text();
        let prepare = |side: Typed| match (text, case_insensitive) {
            (true, true) => lower(text_or_empty(side.sql, d), d),
            (true, false) => text_or_empty(side.sql, d),
            _ => side.sql,
        };
        let probe = prepare(probe);
        let items: Vec<Fragment> = items.into_iter().map(prepare).collect();
        let sql = Fragment::template("({} IN ({}))", vec![probe, Fragment::join(items, ", ")]);
        Ok(Typed::new(negate_if(sql, negated), KqlType::Bool))
    }

    pub fn binary(
        &mut self,
        op: BinaryOp,
        left: Typed,
        right: Typed,
        pos: Pos,
    ) -> Result<Typed, KqlError> {
        use BinaryOp::*;
        let d = self.dialect;
        match op {
            And | Or => {
                for side in [&left, &right] {
                    if side.ty != KqlType::Bool {
                        return Err(type_error(pos, &format!("'{}'", op.spelling()), &[side.ty]));
                    }
                }
                let word = if op == And { "AND" } else { "OR" };
                Ok(Typed::new(
                    Fragment::template(&format!("({{}} {word} {{}})"), vec![left.sql, right.sql]),
                    KqlType::Bool,
                ))
            }
            Eq | NotEq | Lt | Le | Gt | Ge => {
                let types = [left.ty, right.ty];
                let (left, right) = unify_for_comparison(left, right, d)
                    .ok_or_else(|| type_error(pos, &format!("'{}'", op.spelling()), &types))?;
                let symbol = match op {
                    Eq => "=",
                    NotEq => "!=",
                    Lt => "<",
                    Le => "<=",
                    Gt => ">",
                    _ => ">=",
                };
                Ok(Typed::new(
                    Fragment::template(&format!("({{}} {symbol} {{}})"), vec![left.sql, right.sql]),
                    KqlType::Bool,
                ))
            }
            EqTilde | NotEqTilde => {
                let (l, r) = self.texts(left, right, pos, &op.spelling())?;
                let symbol = if op == EqTilde { "=" } else { "!=" };
                Ok(Typed::new(
                    Fragment::template(
                        &format!("({{}} {symbol} {{}})"),
                        vec![lower(l, d), lower(r, d)],
                    ),
                    KqlType::Bool,
                ))
            }
            Text(string_op) => self.string_predicate(string_op, left, right, pos),
            Add | Sub | Mul | Div | Mod => super::arithmetic::arithmetic(d, op, left, right, pos),
        }
    }

    /// Both sides as text (nulls as empty), or a type error naming the operator.
    /// One value as text (nulls as empty), or a type error naming the function.
    pub fn text(&self, value: Typed, pos: Pos, function: &str) -> Result<Fragment, KqlError> {
        if !value.ty.is_text() {
            return Err(type_error(pos, &format!("'{function}'"), &[value.ty]));
        }
        Ok(text_or_empty(value.sql, self.dialect))
    }

    pub fn texts(
        &self,
        left: Typed,
        right: Typed,
        pos: Pos,
        operator: &str,
    ) -> Result<(Fragment, Fragment), KqlError> {
        if !left.ty.is_text() || !right.ty.is_text() {
            return Err(type_error(
                pos,
                &format!("'{operator}'"),
                &[left.ty, right.ty],
            ));
        }
        Ok((
            text_or_empty(left.sql, self.dialect),
            text_or_empty(right.sql, self.dialect),
        ))
    }

    fn string_predicate(
        &mut self,
        op: StringOp,
        left: Typed,
        right: Typed,
        pos: Pos,
    ) -> Result<Typed, KqlError> {
        let d = self.dialect;
        let right_constant = constant_text(&right);
        let (mut l, mut r) = self.texts(left, right, pos, &BinaryOp::Text(op).spelling())?;
        if !op.case_sensitive && op.test != StringTest::MatchesRegex {
            l = lower(l, d);
            r = lower(r, d);
        }
        let sql = match (op.test, d) {
            (StringTest::Contains, Dialect::ClickHouse) => {
                Fragment::template("(position({}, {}) > 0)", vec![l, r])
            }
            (StringTest::Contains, Dialect::Sqlite) => {
                Fragment::template("(instr({}, {}) > 0)", vec![l, r])
            }
            (StringTest::StartsWith, Dialect::ClickHouse) => {
                Fragment::template("(substring({}, 1, length({})) = {})", vec![l, r.clone(), r])
            }
            (StringTest::StartsWith, Dialect::Sqlite) => {
                Fragment::template("(substr({}, 1, length({})) = {})", vec![l, r.clone(), r])
            }
            (StringTest::EndsWith, Dialect::ClickHouse) => Fragment::template(
                "(length({}) = 0 OR (length({}) >= length({}) AND substring({}, length({}) - length({}) + 1) = {}))",
                vec![r.clone(), l.clone(), r.clone(), l.clone(), l, r.clone(), r],
            ),
            (StringTest::EndsWith, Dialect::Sqlite) => Fragment::template(
                "(length({}) = 0 OR (length({}) >= length({}) AND substr({}, -length({})) = {}))",
                vec![r.clone(), l.clone(), r.clone(), l, r.clone(), r],
            ),
            (StringTest::Has, _) => {
                let term = right_constant.ok_or_else(|| {
                    KqlError::unsupported(pos, "'has' with a term that is not a constant string")
                })?;
                let term = if op.case_sensitive {
                    term
                } else {
                    term.to_lowercase()
                };
                match d {
                    Dialect::ClickHouse => {
                        let pattern = crate::reads::tabular::has_term_pattern(&term);
                        Fragment::template(
                            "match({}, {})",
                            vec![l, Fragment::param(Param::Text(pattern), d)],
                        )
                    }
                    Dialect::Sqlite => Fragment::template(
                        "kql_has({}, {})",
                        vec![l, Fragment::param(Param::Text(term), d)],
                    ),
                }
            }
            (StringTest::MatchesRegex, _) => {
                let pattern = right_constant.ok_or_else(|| {
                    KqlError::unsupported(
                        pos,
                        "'matches regex' with a pattern that is not a constant string",
                    )
                })?;
                regex::Regex::new(&pattern).map_err(|e| {
                    KqlError::semantic(pos, format!("invalid regular expression {pattern:?}: {e}"))
                })?;
                match d {
                    Dialect::ClickHouse => call("match", vec![l, r]),
                    Dialect::Sqlite => call("kql_regex", vec![l, r]),
                }
            }
        };
        Ok(Typed::new(negate_if(sql, op.negated), KqlType::Bool))
    }
}

/// The value of a string literal compiled to a single parameter.
pub fn constant_text(typed: &Typed) -> Option<String> {
    match (typed.sql.sql.as_str(), typed.sql.params.as_slice()) {
        ("?", [Param::Text(text)]) => Some(text.clone()),
        _ => None,
    }
}

pub fn negate_if(sql: Fragment, negated: bool) -> Fragment {
    if negated {
        Fragment::template("(NOT {})", vec![sql])
    } else {
        sql
    }
}

pub fn type_error(pos: Pos, operator: &str, types: &[KqlType]) -> KqlError {
    let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
    KqlError::semantic(
        pos,
        format!("{operator} does not apply to {}", names.join(" and ")),
    )
}

/// Both sides in a form SQL compares as KQL does: numbers with numbers, text with text, a
/// string against a number read as a number (`ResultCode >= 500`), times with times.
pub fn unify_for_comparison(left: Typed, right: Typed, dialect: Dialect) -> Option<(Typed, Typed)> {
    let as_number = |side: Typed| -> Typed {
        if side.ty.is_text() {
            let sql = match dialect {
                Dialect::ClickHouse => {
                    call("toFloat64OrNull", vec![call("toString", vec![side.sql])])
                }
                Dialect::Sqlite => call("kql_todouble", vec![side.sql]),
            };
            Typed::new(sql, KqlType::Real)
        } else {
            side
        }
    };
    let (l, r) = (left.ty, right.ty);
    let same_kind = (l.is_numeric() && r.is_numeric())
        || (l.is_text() && r.is_text())
        || (l == r && matches!(l, KqlType::Datetime | KqlType::Timespan | KqlType::Bool));
    if same_kind {
        return Some((left, right));
    }
    if (l.is_text() && r.is_numeric()) || (l.is_numeric() && r.is_text()) {
        return Some((as_number(left), as_number(right)));
    }
    None
}

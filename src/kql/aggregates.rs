//! Aggregations in `summarize`, and the column names KQL gives unnamed expressions.
//! Empty inputs answer as in SQLite (null minimum, zero sum) on both stores, and percentiles
//! are nearest-rank, the definition the rest of tracehouse uses.

use super::KqlError;
use super::ast::*;
use super::expr::{Context, Typed, type_error};
use super::functions::arguments;
use super::plan::{Planner, Relation};
use super::sql::{Fragment, call, count_rows};
use super::types::{Dynamic, KqlType};
use crate::reads::tabular::{Dialect, Param};

const AGGREGATES: [&str; 17] = [
    "count",
    "countif",
    "sum",
    "sumif",
    "avg",
    "avgif",
    "min",
    "max",
    "dcount",
    "dcountif",
    "percentile",
    "percentiles",
    "arg_max",
    "arg_min",
    "make_list",
    "make_set",
    "stdev",
];

pub fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name)
}

/// The name KQL gives a column computed by `expr` without a name, where it has one.
pub fn default_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(name) => Some(name.name.clone()),
        Expr::Member { base, name } => Some(format!("{}_{}", default_name(base)?, name.name)),
        Expr::Index { base, index } => match &**index {
            Expr::Literal(Literal::String(key), _) => {
                Some(format!("{}_{key}", default_name(base)?))
            }
            _ => None,
        },
        Expr::Call { name, args } => {
            let first = args.first().and_then(default_name);
            match name.name.as_str() {
                "count" => Some("count_".into()),
                "countif" => Some("countif_".into()),
                "percentile" => {
                    let level = match args.get(1) {
                        Some(Expr::Literal(Literal::Long(n), _)) => n.to_string(),
                        Some(Expr::Literal(Literal::Real(x), _)) => x.to_string().replace('.', "_"),
                        _ => String::new(),
                    };
                    Some(format!("percentile_{}_{level}", first.unwrap_or_default()))
                }
                f if is_aggregate(f) => Some(format!("{f}_{}", first.unwrap_or_default())),
                "bin" | "floor" | "startofday" | "startofhour" | "tostring" | "toint"
                | "tolong" | "todouble" | "toreal" | "tobool" | "todynamic" | "parse_json" => first,
                _ => None,
            }
        }
        _ => None,
    }
}

impl Planner<'_> {
    /// The columns one item of `summarize` adds: one, or several for `percentiles` and
    /// `arg_max`/`arg_min`.
    pub fn summarize_item(
        &mut self,
        item: &NamedExpr,
        rel: &Relation,
        excluded: &[String],
    ) -> Result<Vec<(Option<String>, Typed)>, KqlError> {
        if let Expr::Call { name, args } = &item.expr {
            match name.name.as_str() {
                "percentiles" => return self.percentiles(name, args, rel),
                "arg_max" | "arg_min" => return self.arg_extreme(name, args, rel, excluded),
                _ => {}
            }
        }
        let before = self.aggregations;
        let typed = self.expr(&item.expr, rel, Context::Aggregate)?;
        if self.aggregations == before {
            return Err(KqlError::semantic(
                item.expr.pos(),
                "each item before 'by' in summarize needs an aggregation (count(), sum(…), max(…), …)",
            ));
        }
        let name = item
            .name
            .as_ref()
            .map(|n| n.name.clone())
            .or_else(|| default_name(&item.expr));
        Ok(vec![(name, typed)])
    }

    /// One aggregation call inside a summarize expression.
    pub fn aggregate(
        &mut self,
        name: &Ident,
        args: &[Expr],
        rel: &Relation,
    ) -> Result<Typed, KqlError> {
        self.aggregations += 1;
        let d = self.dialect;
        let f = name.name.as_str();
        let pos = name.pos;
        let mut typed = Vec::with_capacity(args.len());
        for arg in args {
            typed.push(self.expr(arg, rel, Context::Row)?);
        }
        let predicate = |t: &Typed| -> Result<Fragment, KqlError> {
            if t.ty == KqlType::Bool {
                Ok(t.sql.clone())
            } else {
                Err(type_error(pos, &format!("{f}()'s condition"), &[t.ty]))
            }
        };
        let zero_if_empty = |sql: Fragment, ty: KqlType| match d {
            // A sum of bools (UInt8) is a UInt64 in ClickHouse: back to Int64 like every long.
            Dialect::ClickHouse if ty != KqlType::Real => Typed::new(
                call(
                    "toInt64",
                    vec![call("ifNull", vec![sql, Fragment::text("0")])],
                ),
                ty,
            ),
            Dialect::ClickHouse => Typed::new(call("ifNull", vec![sql, Fragment::text("0")]), ty),
            Dialect::Sqlite => Typed::new(call("COALESCE", vec![sql, Fragment::text("0")]), ty),
        };
        Ok(match (f, typed.as_slice()) {
            ("count", []) => Typed::new(Fragment::text(count_rows(d)), KqlType::Long),
            ("countif", [condition]) => Typed::new(
                // toInt64: ClickHouse's count is a UInt64, which mixes with no Int64.
                Fragment::template(
                    match d {
                        Dialect::ClickHouse => "toInt64(count(CASE WHEN {} THEN 1 END))",
                        Dialect::Sqlite => "count(CASE WHEN {} THEN 1 END)",
                    },
                    vec![predicate(condition)?],
                ),
                KqlType::Long,
            ),
            ("sum" | "sumif", [value, rest @ ..]) if rest.len() == usize::from(f == "sumif") => {
                let ty = summed_type(value.ty).ok_or_else(|| type_error(pos, f, &[value.ty]))?;
                let input = match rest {
                    [condition] => Fragment::template(
                        "CASE WHEN {} THEN {} END",
                        vec![predicate(condition)?, value.sql.clone()],
                    ),
                    _ => value.sql.clone(),
                };
                zero_if_empty(call("sum", vec![input]), ty)
            }
            ("avg" | "avgif", [value, rest @ ..]) if rest.len() == usize::from(f == "avgif") => {
                if !value.ty.is_numeric() && value.ty != KqlType::Timespan {
                    return Err(type_error(pos, f, &[value.ty]));
                }
                let input = match rest {
                    [condition] => Fragment::template(
                        "CASE WHEN {} THEN {} END",
                        vec![predicate(condition)?, value.sql.clone()],
                    ),
                    _ => value.sql.clone(),
                };
                let average = match d {
                    Dialect::ClickHouse => Fragment::template(
                        "if(count({}) = 0, NULL, avg({}))",
                        vec![input.clone(), input],
                    ),
                    Dialect::Sqlite => call("avg", vec![input]),
                };
                if value.ty == KqlType::Timespan {
                    whole(average, d, KqlType::Timespan)
                } else {
                    Typed::new(average, KqlType::Real)
                }
            }
            ("min" | "max", [value]) => {
                let sql = match d {
                    Dialect::ClickHouse => Fragment::template(
                        &format!("if(count({{}}) = 0, NULL, {f}({{}}))"),
                        vec![value.sql.clone(), value.sql.clone()],
                    ),
                    Dialect::Sqlite => call(f, vec![value.sql.clone()]),
                };
                Typed::new(sql, value.ty)
            }
            ("dcount" | "dcountif", [value, rest @ ..])
                if rest.len() == usize::from(f == "dcountif") =>
            {
                let input = match rest {
                    [condition] => Fragment::template(
                        "CASE WHEN {} THEN {} END",
                        vec![predicate(condition)?, value.sql.clone()],
                    ),
                    _ => value.sql.clone(),
                };
                let sql = match d {
                    Dialect::ClickHouse => call("toInt64", vec![call("uniqExact", vec![input])]),
                    Dialect::Sqlite => Fragment::template("count(DISTINCT {})", vec![input]),
                };
                Typed::new(sql, KqlType::Long)
            }
            ("percentile", [value, _]) => {
                let level = self.percentile_level(&args[1], pos)?;
                self.percentile(value.clone(), level, pos)?
            }
            ("make_list" | "make_set", [value]) => {
                let distinct = f == "make_set";
                let sql = match d {
                    // KQL's default cap on a list's length (18.16's groupUniqArray takes
                    // no size, so the set is cut after).
                    Dialect::ClickHouse if distinct => Fragment::template(
                        "arraySlice(groupUniqArray({}), 1, 1048576)",
                        vec![value.sql.clone()],
                    ),
                    Dialect::ClickHouse => call("groupArray(1048576)", vec![value.sql.clone()]),
                    Dialect::Sqlite => Fragment::template(
                        &format!(
                            "json_group_array({}{{}}) FILTER (WHERE {{}} IS NOT NULL)",
                            if distinct { "DISTINCT " } else { "" }
                        ),
                        vec![value.sql.clone(), value.sql.clone()],
                    ),
                };
                Typed::new(sql, KqlType::Dynamic(Dynamic::Json))
            }
            ("percentiles" | "arg_max" | "arg_min", _) => {
                return Err(KqlError::semantic(
                    pos,
                    format!(
                        "{f}() gives several columns: use it directly in summarize, not inside an expression"
                    ),
                ));
            }
            ("stdev", _) => return Err(KqlError::unsupported(pos, "function `stdev`")),
            _ => return Err(arguments(pos, f, "other arguments")),
        })
    }

    fn percentile_level(&mut self, level: &Expr, pos: Pos) -> Result<f64, KqlError> {
        let value = match self.constant(level) {
            Some(Literal::Long(n)) => n as f64,
            Some(Literal::Real(x)) => x,
            _ => return Err(arguments(pos, "percentile", "a constant percentage")),
        };
        if !(0.0..=100.0).contains(&value) {
            return Err(KqlError::semantic(
                pos,
                format!("percentile {value} is outside 0..100"),
            ));
        }
        Ok(value)
    }

    /// The nearest-rank percentile (`level` in 0..=100) of `value`.
    fn percentile(&mut self, value: Typed, level: f64, pos: Pos) -> Result<Typed, KqlError> {
        let d = self.dialect;
        let ty = match value.ty {
            KqlType::Dynamic(Dynamic::Number) => KqlType::Real,
            t if t.is_numeric() || matches!(t, KqlType::Datetime | KqlType::Timespan) => t,
            t => return Err(type_error(pos, "percentile", &[t])),
        };
        let fraction = level / 100.0;
        let sql = match d {
            Dialect::ClickHouse => Fragment::template(
                &format!(
                    "if(count({{}}) = 0, NULL, quantileExactWeighted({fraction})({{}}, toUInt64(1)))"
                ),
                vec![value.sql.clone(), value.sql],
            ),
            Dialect::Sqlite => Fragment::template(
                "kql_percentile({}, {})",
                vec![value.sql, Fragment::param(Param::Real(fraction), d)],
            ),
        };
        Ok(if ty == KqlType::Real {
            Typed::new(
                match d {
                    Dialect::ClickHouse => call("toFloat64", vec![sql]),
                    Dialect::Sqlite => sql,
                },
                ty,
            )
        } else {
            whole(sql, d, ty)
        })
    }

    /// `percentiles(x, 50, 95)`: a `percentile_x_50`, `percentile_x_95` column each.
    fn percentiles(
        &mut self,
        name: &Ident,
        args: &[Expr],
        rel: &Relation,
    ) -> Result<Vec<(Option<String>, Typed)>, KqlError> {
        let Some((value_expr, levels)) =
            args.split_first().filter(|(_, levels)| !levels.is_empty())
        else {
            return Err(arguments(
                name.pos,
                "percentiles",
                "a value and percentages",
            ));
        };
        let value = self.expr(value_expr, rel, Context::Row)?;
        let base = default_name(value_expr).unwrap_or_default();
        let mut columns = Vec::new();
        for level_expr in levels {
            let level = self.percentile_level(level_expr, name.pos)?;
            let suffix = level.to_string().replace('.', "_");
            columns.push((
                Some(format!("percentile_{base}_{suffix}")),
                self.percentile(value.clone(), level, name.pos)?,
            ));
        }
        Ok(columns)
    }

    /// `arg_max(by, c1, c2 | *)`: `by`'s largest value and the other columns of its row.
    fn arg_extreme(
        &mut self,
        name: &Ident,
        args: &[Expr],
        rel: &Relation,
        excluded: &[String],
    ) -> Result<Vec<(Option<String>, Typed)>, KqlError> {
        let largest = name.name == "arg_max";
        let Some((by_expr, picked)) = args.split_first().filter(|(_, picked)| !picked.is_empty())
        else {
            return Err(arguments(
                name.pos,
                &name.name,
                "the value to maximize and the columns to return",
            ));
        };
        let by = self.expr(by_expr, rel, Context::Row)?;
        let by_name = default_name(by_expr);
        let d = self.dialect;
        let extreme = if largest { "max" } else { "min" };
        let mut columns = vec![(
            by_name.clone(),
            Typed::new(call(extreme, vec![by.sql.clone()]), by.ty),
        )];
        let mut wanted: Vec<(String, Typed)> = Vec::new();
        for item in picked {
            if let Expr::Star(_) = item {
                for column in rel.visible() {
                    let skip =
                        Some(&column.name) == by_name.as_ref() || excluded.contains(&column.name);
                    if !skip {
                        wanted.push((
                            column.name.clone(),
                            Typed::new(Fragment::text(column.alias.clone()), column.ty),
                        ));
                    }
                }
            } else {
                let value = self.expr(item, rel, Context::Row)?;
                let column_name = default_name(item).unwrap_or_else(|| "Column".into());
                wanted.push((column_name, value));
            }
        }
        for (column_name, value) in wanted {
            let sql = match d {
                Dialect::ClickHouse => call(
                    if largest { "argMax" } else { "argMin" },
                    vec![value.sql, by.sql.clone()],
                ),
                Dialect::Sqlite => call(
                    if largest {
                        "kql_arg_max"
                    } else {
                        "kql_arg_min"
                    },
                    vec![value.sql, by.sql.clone()],
                ),
            };
            columns.push((Some(column_name), Typed::new(sql, value.ty)));
        }
        Ok(columns)
    }
}

/// The type a sum of `ty` has.
fn summed_type(ty: KqlType) -> Option<KqlType> {
    match ty {
        t if t.is_integer() => Some(KqlType::Long),
        KqlType::Real | KqlType::Dynamic(Dynamic::Number) => Some(KqlType::Real),
        KqlType::Timespan => Some(KqlType::Timespan),
        _ => None,
    }
}

/// An aggregate's value as a whole number of the given type.
fn whole(sql: Fragment, dialect: Dialect, ty: KqlType) -> Typed {
    let sql = match dialect {
        Dialect::ClickHouse => call("toInt64", vec![sql]),
        Dialect::Sqlite => Fragment::template("CAST({} AS INTEGER)", vec![sql]),
    };
    Typed::new(sql, ty)
}

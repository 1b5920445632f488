//! A parsed query into one SQL statement. Every operator wraps the relation before it in a
//! subquery with fresh column aliases (`c0`, `c1`, …), so no name from the query is ever
//! written into SQL. Every table reference reads only its rows in the time range and the
//! caller's apps: no operator can reach other rows.

use super::KqlError;
use super::ast::*;
use super::expr::{Context, Typed};
use super::sql::Fragment;
use super::tables::{Registry, Stored, TableDef};
use super::types::KqlType;
use crate::reads::tabular::{Dialect, Param};
use crate::reads::{AppScope, TimeRange};

/// A column of a relation: its KQL name and type, and its alias in the SQL.
#[derive(Debug, Clone)]
pub struct Col {
    pub name: String,
    pub ty: KqlType,
    pub alias: String,
}

/// A sort the rows carry through the operators that keep order, by hidden columns.
#[derive(Debug, Clone)]
pub struct OrderKey {
    pub alias: String,
    pub descending: bool,
    pub nulls_first: bool,
}

/// A `SELECT` and what its columns mean.
#[derive(Debug, Clone, Default)]
pub struct Relation {
    pub sql: Fragment,
    pub columns: Vec<Col>,
    pub order: Vec<OrderKey>,
}

impl Relation {
    pub fn empty() -> Self {
        Relation::default()
    }

    pub fn find(&self, name: &str) -> Option<&Col> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn visible(&self) -> impl Iterator<Item = &Col> {
        self.columns.iter()
    }

    pub fn unknown_column(&self, name: &Ident) -> KqlError {
        let mut known: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        let more = known.len() > 12;
        known.truncate(12);
        let list = if known.is_empty() {
            String::new()
        } else {
            format!(
                " (columns here: {}{})",
                known.join(", "),
                if more { ", …" } else { "" }
            )
        };
        KqlError::semantic(
            name.pos,
            format!("unknown column or name '{}'{list}", name.name),
        )
    }

    /// Every alias this relation's `SELECT` gives: the columns, then the sort's hidden ones.
    pub fn aliases(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| c.alias.clone())
            .chain(self.order.iter().map(|o| o.alias.clone()))
            .collect()
    }
}

/// Seconds for ClickHouse's `DateTime` (a UInt32): a bound before 1970 or after 2106 would
/// wrap around, so it is clamped (the exact `timestamp_ns` condition still applies).
fn datetime_seconds(ns: i64) -> i64 {
    ns.div_euclid(1_000_000_000).clamp(0, i64::from(u32::MAX))
}

/// How deep lets may refer to lets: far beyond real queries, well within the stack.
const MAX_LET_DEPTH: usize = 40;

fn too_deep(pos: Pos) -> KqlError {
    KqlError::semantic(
        pos,
        format!("lets refer to other lets more than {MAX_LET_DEPTH} deep"),
    )
}

pub fn duplicate(name: &str, pos: Pos) -> KqlError {
    KqlError::semantic(pos, format!("the column '{name}' is defined twice"))
}

/// The columns a `SELECT` computes, each under a fresh alias, with the names they get.
#[derive(Debug, Default)]
pub struct Computed {
    pub items: Vec<Fragment>,
    pub columns: Vec<Col>,
}

impl Computed {
    /// Adds `typed AS <fresh alias>` named `name`, refusing a name already there.
    pub fn add(
        &mut self,
        planner: &mut Planner<'_>,
        name: String,
        typed: Typed,
        pos: Pos,
    ) -> Result<String, KqlError> {
        if self.columns.iter().any(|c| c.name == name) {
            return Err(duplicate(&name, pos));
        }
        let alias = planner.alias();
        self.items.push(super::sql::aliased(typed.sql, &alias));
        self.columns.push(Col {
            name,
            ty: typed.ty,
            alias: alias.clone(),
        });
        Ok(alias)
    }
}

pub struct Planner<'a> {
    pub dialect: Dialect,
    pub now_ns: i64,
    pub scope: &'a AppScope,
    /// The request's `timespan`; without one, each table's range comes from the query's own
    /// time filter, else the default.
    pub timespan: Option<TimeRange>,
    pub registry: &'a Registry,
    pub default_range_ns: i64,
    /// The query's `let`s in order; a let's body sees only the ones before it.
    lets: Vec<(String, LetValue)>,
    /// How many of `lets` the expression being planned sees.
    visible_lets: usize,
    /// Lets being expanded inside one another.
    let_depth: usize,
    /// Steps [`Planner::constant`] may still take in this query.
    pub(super) constant_steps: usize,
    /// The `where`s a table read here may take its time range from (see [`Planner::tabular`]).
    time_filters: Vec<Operator>,
    /// Aggregation calls planned so far: an item of `summarize` must add one.
    pub aggregations: usize,
    next_alias: usize,
    pub visualization: Option<String>,
    /// Every name the query text mentions, or `None` when it may need every column (`*`):
    /// a table read by a pipeline that narrows its columns selects only these.
    pub mentioned: Option<std::collections::HashSet<String>>,
}

impl<'a> Planner<'a> {
    pub fn new(ctx: &super::QueryContext<'a>, default_range_ns: i64) -> Self {
        Planner {
            dialect: ctx.dialect,
            now_ns: ctx.now_ns,
            scope: ctx.scope,
            timespan: ctx.timespan,
            registry: ctx.registry,
            default_range_ns,
            lets: Vec::new(),
            visible_lets: 0,
            let_depth: 0,
            constant_steps: 100_000,
            aggregations: 0,
            time_filters: Vec::new(),
            next_alias: 0,
            visualization: None,
            mentioned: None,
        }
    }

    pub fn alias(&mut self) -> String {
        let alias = format!("c{}", self.next_alias);
        self.next_alias += 1;
        alias
    }

    /// A fresh name for a subquery.
    pub fn subquery_name(&mut self) -> String {
        let name = format!("t{}", self.next_alias);
        self.next_alias += 1;
        name
    }

    /// The let named `name` that the current expression sees, with its position in order.
    pub(super) fn find_let(&self, name: &str) -> Option<(usize, LetValue)> {
        self.lets[..self.visible_lets]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, (let_name, _))| let_name == name)
            .map(|(i, (_, value))| (i, value.clone()))
    }

    /// Runs `plan` as inside the body of let number `index`: only the lets before it are
    /// visible (`let T = T | take 1` reads the earlier `T`), one level deeper.
    pub(super) fn inside_let<T>(
        &mut self,
        index: usize,
        plan: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        if self.let_depth >= MAX_LET_DEPTH {
            return None;
        }
        let visible = std::mem::replace(&mut self.visible_lets, index);
        self.let_depth += 1;
        let planned = plan(self);
        self.let_depth -= 1;
        self.visible_lets = visible;
        planned
    }

    /// A scalar let's value as SQL, planned where the let was written.
    pub fn scalar_let(&mut self, name: &Ident) -> Option<Result<Typed, KqlError>> {
        let (index, LetValue::Scalar(value)) = self.find_let(&name.name)? else {
            return None;
        };
        Some(
            self.inside_let(index, |planner| {
                Some(planner.expr(&value, &Relation::empty(), Context::Row))
            })
            .unwrap_or_else(|| Err(too_deep(name.pos))),
        )
    }

    pub fn query(&mut self, query: &Query) -> Result<Relation, KqlError> {
        for statement in &query.lets {
            if let LetValue::Scalar(expr) = &statement.value {
                // Checked now, so an error points at the let, not at its use.
                self.expr(expr, &Relation::empty(), Context::Row)?;
            }
            self.lets
                .push((statement.name.name.clone(), statement.value.clone()));
            self.visible_lets = self.lets.len();
        }
        let relation = self.tabular(&query.body)?;
        let operators = &query.body.operators;
        let misplaced = operators.iter().enumerate().find_map(|(i, op)| match op {
            Operator::Render(name) if i + 1 != operators.len() => Some(name.pos),
            _ => None,
        });
        if let Some(pos) = misplaced {
            return Err(KqlError::semantic(pos, "render must be the last operator"));
        }
        Ok(relation)
    }

    pub fn tabular(&mut self, tabular: &Tabular) -> Result<Relation, KqlError> {
        // The time filters a table read here may take its range from: this pipeline's
        // leading `where`s, and when it has nothing else, those of the pipeline reading it
        // (`let R = AppRequests; R | where TimeGenerated > ago(7d)`, `union A, B | where …`).
        let leading: Vec<Operator> = tabular
            .operators
            .iter()
            .take_while(|op| matches!(op, Operator::Where(_)))
            .cloned()
            .collect();
        let only_filters = leading.len() == tabular.operators.len();
        let mut filters = leading;
        if only_filters {
            filters.extend(self.time_filters.iter().cloned());
        }
        let outer = std::mem::replace(&mut self.time_filters, filters);
        let source = self.source(tabular);
        // A join's right side or a union's parts after `|` read their own ranges.
        self.time_filters = Vec::new();
        let planned = source.and_then(|relation| self.operators(tabular, relation));
        self.time_filters = outer;
        planned
    }

    fn operators(&mut self, tabular: &Tabular, relation: Relation) -> Result<Relation, KqlError> {
        let mut relation = relation;
        for operator in &tabular.operators {
            relation = self.operator(operator, relation)?;
            if relation.sql.sql.len() > super::expr::MAX_SQL_BYTES {
                return Err(super::expr::too_big(Pos::START));
            }
        }
        Ok(relation)
    }

    fn source(&mut self, tabular: &Tabular) -> Result<Relation, KqlError> {
        Ok(match &tabular.source {
            Source::Table(name) => self.table(name, &tabular.operators)?,
            Source::Union(legs) => {
                let mut relations = Vec::new();
                for leg in legs {
                    relations.push(self.tabular(leg)?);
                }
                if relations.len() == 1 {
                    relations.remove(0)
                } else {
                    self.union_of(relations)?
                }
            }
            Source::Print(list) => self.print(list)?,
        })
    }

    /// A table (or tabular let) reference: only the rows in range of the caller's apps.
    fn table(&mut self, name: &Ident, operators: &[Operator]) -> Result<Relation, KqlError> {
        if let Some((index, LetValue::Tabular(tabular))) = self.find_let(&name.name) {
            return self
                .inside_let(index, |planner| Some(planner.tabular(&tabular)))
                .unwrap_or_else(|| Err(too_deep(name.pos)));
        }
        let Some(table) = self.registry.get(&name.name).cloned() else {
            let mut known: Vec<&str> = self.registry.names().collect();
            known.sort_unstable();
            return Err(KqlError::semantic(
                name.pos,
                format!(
                    "unknown table '{}' (tables: {})",
                    name.name,
                    known.join(", ")
                ),
            ));
        };
        let filters = std::mem::take(&mut self.time_filters);
        let range = self.range_for(&table, &filters);
        self.time_filters = filters;
        let narrows = operators.iter().any(|op| {
            matches!(
                op,
                Operator::Project(_) | Operator::Summarize { .. } | Operator::Count
            ) || matches!(op, Operator::Distinct(names) if !names.is_empty())
        });
        let mut table = table;
        if let (true, Some(mentioned)) = (narrows, &self.mentioned) {
            table.columns.retain(|c| mentioned.contains(c.name));
        }
        Ok(self.base_relation(&table, range))
    }

    fn base_relation(&mut self, table: &TableDef, range: TimeRange) -> Relation {
        let d = self.dialect;
        let mut columns = Vec::new();
        let mut selected = Vec::new();
        for column in &table.columns {
            let alias = self.alias();
            let value = match (column.stored, d) {
                (Stored::Time, _) => Fragment::text("timestamp_ns"),
                (Stored::Column(name), Dialect::ClickHouse)
                    if column.ty.is_integer() && column.ty != KqlType::Bool =>
                {
                    Fragment::text(format!("toInt64({name})"))
                }
                (Stored::Column(name), _) => Fragment::text(name),
                (Stored::Bag(name), Dialect::ClickHouse) => {
                    Fragment::text(format!("tuple({name}_keys, {name}_values)"))
                }
                (Stored::Bag(name), Dialect::Sqlite) => Fragment::text(name),
                (Stored::Constant(text), _) => Fragment::param(Param::Text(text.to_owned()), d),
                (Stored::Dims(keys), _) => super::container_tables::first_dimension(keys, d),
            };
            selected.push(super::sql::aliased(value, &alias));
            columns.push(Col {
                name: column.name.to_owned(),
                ty: column.ty,
                alias,
            });
        }
        if selected.is_empty() {
            // `count` needs no column, but a SELECT needs one.
            selected.push(Fragment::text("1"));
        }
        let mut condition = Fragment::default();
        if d == Dialect::ClickHouse {
            // The DateTime column is what partitions and sort keys use.
            condition.push(Fragment::template(
                "timestamp >= toDateTime({}, 'UTC') AND timestamp <= toDateTime({}, 'UTC') AND ",
                vec![
                    Fragment::text("?").with(Param::Int(datetime_seconds(range.from_ns))),
                    Fragment::text("?").with(Param::Int(datetime_seconds(range.to_ns))),
                ],
            ));
        }
        condition.push(Fragment::template(
            "timestamp_ns >= {} AND timestamp_ns < {}",
            vec![
                Fragment::text("?").with(Param::Int(range.from_ns)),
                Fragment::text("?").with(Param::Int(range.to_ns)),
            ],
        ));
        if let AppScope::Only(apps) = self.scope {
            let apps: Vec<Fragment> = apps
                .iter()
                .map(|app| Fragment::text("?").with(Param::Text(app.clone())))
                .collect();
            if apps.is_empty() {
                condition.push_str(" AND 1 = 0");
            } else {
                condition.push(Fragment::template(
                    " AND appName IN ({})",
                    vec![Fragment::join(apps, ", ")],
                ));
            }
        }
        let source = match (table.derived, d) {
            (None, _) => format!("{{{}}}", table.stored),
            (Some(derived), Dialect::Sqlite) => format!("({}) AS derived_rows", derived.sqlite),
            (Some(derived), Dialect::ClickHouse) => {
                format!("({}) AS derived_rows", derived.clickhouse)
            }
        };
        let sql = Fragment::template(
            &format!("SELECT {{}} FROM {source} WHERE {{}}"),
            vec![Fragment::join(selected, ", "), condition],
        );
        Relation {
            sql,
            columns,
            order: Vec::new(),
        }
    }

    fn print(&mut self, list: &[NamedExpr]) -> Result<Relation, KqlError> {
        let empty = Relation::empty();
        let mut computed = Computed::default();
        for (i, item) in list.iter().enumerate() {
            let typed = self.expr(&item.expr, &empty, Context::Row)?;
            let name = item
                .name
                .as_ref()
                .map(|n| n.name.clone())
                .or_else(|| super::aggregates::default_name(&item.expr))
                .unwrap_or_else(|| format!("print_{i}"));
            computed.add(self, name, typed, item.expr.pos())?;
        }
        Ok(Relation {
            sql: Fragment::template("SELECT {}", vec![Fragment::join(computed.items, ", ")]),
            columns: computed.columns,
            order: Vec::new(),
        })
    }
}

//! The tabular operators, each a `SELECT` over the relation before it.

use super::KqlError;
use super::aggregates::default_name;
use super::ast::*;
use super::expr::Context;
use super::plan::{Col, Computed, OrderKey, Planner, Relation, duplicate};
use super::sql::{Fragment, aliased};
use super::types::{Dynamic, KqlType};
use crate::reads::tabular::{CellShape, Param, TabularStatement};

/// The visualizations `render` accepts.
const VISUALIZATIONS: [&str; 12] = [
    "table",
    "timechart",
    "barchart",
    "columnchart",
    "piechart",
    "areachart",
    "linechart",
    "scatterchart",
    "stackedareachart",
    "card",
    "ladderchart",
    "pivotchart",
];

impl Planner<'_> {
    /// `SELECT items FROM (from) AS tN tail`.
    pub(super) fn select(
        &mut self,
        from: &Relation,
        items: Vec<Fragment>,
        tail: Fragment,
    ) -> Fragment {
        let name = self.subquery_name();
        let items = if items.is_empty() {
            vec![Fragment::text("1")]
        } else {
            items
        };
        let mut sql = Fragment::template(
            &format!("SELECT {{}} FROM ({{}}) AS {name}"),
            vec![Fragment::join(items, ", "), from.sql.clone()],
        );
        sql.push(tail);
        sql
    }

    fn passthrough(aliases: &[String]) -> Vec<Fragment> {
        aliases.iter().map(|a| Fragment::text(a.clone())).collect()
    }

    fn order_clause(order: &[OrderKey]) -> Fragment {
        if order.is_empty() {
            return Fragment::default();
        }
        let keys: Vec<String> = order
            .iter()
            .map(|key| {
                format!(
                    "{} {} NULLS {}",
                    key.alias,
                    if key.descending { "DESC" } else { "ASC" },
                    if key.nulls_first { "FIRST" } else { "LAST" }
                )
            })
            .collect();
        Fragment::text(format!(" ORDER BY {}", keys.join(", ")))
    }

    pub fn operator(&mut self, operator: &Operator, rel: Relation) -> Result<Relation, KqlError> {
        match operator {
            Operator::Where(condition) => {
                let typed = self.expr(condition, &rel, Context::Row)?;
                if typed.ty != KqlType::Bool {
                    return Err(KqlError::semantic(
                        condition.pos(),
                        format!(
                            "where needs a true/false condition, not a {} value",
                            typed.ty.name()
                        ),
                    ));
                }
                let tail = Fragment::template(" WHERE {}", vec![typed.sql]);
                let sql = self.select(&rel, Self::passthrough(&rel.aliases()), tail);
                Ok(Relation { sql, ..rel })
            }
            Operator::Extend(items) => {
                let mut rel = rel;
                for (i, item) in items.iter().enumerate() {
                    rel = self.extend_one(item, i, rel)?;
                }
                Ok(rel)
            }
            Operator::Project(items) => self.project(items, rel),
            Operator::ProjectAway(patterns) => {
                let mut rel = rel;
                for pattern in patterns {
                    let before = rel.columns.len();
                    rel.columns
                        .retain(|c| !wildcard_match(&pattern.name, &c.name));
                    if before == rel.columns.len() && !pattern.name.contains('*') {
                        return Err(rel.unknown_column(pattern));
                    }
                }
                Ok(rel)
            }
            Operator::ProjectRename(pairs) => {
                let mut rel = rel;
                for (new, old) in pairs {
                    if rel.find(&old.name).is_none() {
                        return Err(rel.unknown_column(old));
                    }
                    if new.name != old.name && rel.find(&new.name).is_some() {
                        return Err(duplicate(&new.name, new.pos));
                    }
                    if let Some(column) = rel.columns.iter_mut().find(|c| c.name == old.name) {
                        column.name = new.name.clone();
                    }
                }
                Ok(rel)
            }
            Operator::Summarize { aggregates, by } => self.summarize(aggregates, by, rel),
            Operator::Sort(keys) => self.sort(keys, rel),
            Operator::Top { count, key } => {
                let sorted = self.sort(std::slice::from_ref(key), rel)?;
                self.take(count, sorted)
            }
            Operator::Take(count) => self.take(count, rel),
            Operator::Count => {
                let alias = self.alias();
                let count = super::sql::count_rows(self.dialect);
                let sql = self.select(
                    &rel,
                    vec![Fragment::text(format!("{count} AS {alias}"))],
                    Fragment::default(),
                );
                Ok(Relation {
                    sql,
                    columns: vec![Col {
                        name: "Count".into(),
                        ty: KqlType::Long,
                        alias,
                    }],
                    order: Vec::new(),
                })
            }
            Operator::Distinct(names) => {
                let mut columns = Vec::new();
                if names.is_empty() {
                    columns = rel.columns.clone();
                } else {
                    for name in names {
                        columns.push(
                            rel.find(&name.name)
                                .cloned()
                                .ok_or_else(|| rel.unknown_column(name))?,
                        );
                    }
                }
                if columns.is_empty() {
                    return Err(KqlError::semantic(
                        Pos::START,
                        "distinct has no columns left to compare",
                    ));
                }
                let aliases: Vec<String> = columns.iter().map(|c| c.alias.clone()).collect();
                let name = self.subquery_name();
                let sql = Fragment::template(
                    &format!(
                        "SELECT DISTINCT {} FROM ({{}}) AS {name}",
                        aliases.join(", ")
                    ),
                    vec![rel.sql.clone()],
                );
                Ok(Relation {
                    sql,
                    columns,
                    order: Vec::new(),
                })
            }
            Operator::Join { kind, right, on } => {
                let right = self.tabular(right)?;
                self.join(*kind, rel, right, on)
            }
            Operator::Union(legs) => {
                let mut relations = vec![rel];
                for leg in legs {
                    relations.push(self.tabular(leg)?);
                }
                self.union_of(relations)
            }
            Operator::Render(visualization) => {
                if !VISUALIZATIONS.contains(&visualization.name.as_str()) {
                    return Err(KqlError::unsupported(
                        visualization.pos,
                        format!(
                            "render `{}` (supported: {})",
                            visualization.name,
                            VISUALIZATIONS.join(", ")
                        ),
                    ));
                }
                self.visualization = Some(visualization.name.clone());
                Ok(rel)
            }
        }
    }

    /// The name of an unnamed computed column: KQL's derived name, else `Column1`, `Column2`.
    fn column_name(&self, item: &NamedExpr, index: usize) -> String {
        item.name
            .as_ref()
            .map(|n| n.name.clone())
            .or_else(|| default_name(&item.expr))
            .unwrap_or_else(|| format!("Column{}", index + 1))
    }

    fn extend_one(
        &mut self,
        item: &NamedExpr,
        index: usize,
        rel: Relation,
    ) -> Result<Relation, KqlError> {
        let typed = self.expr(&item.expr, &rel, Context::Row)?;
        let name = self.column_name(item, index);
        let alias = self.alias();
        let mut columns = rel.columns.clone();
        let new = Col {
            name: name.clone(),
            ty: typed.ty,
            alias: alias.clone(),
        };
        match columns.iter_mut().find(|c| c.name == name) {
            Some(existing) => *existing = new,
            None => columns.push(new),
        }
        let mut items = Self::passthrough(&rel.aliases());
        items.push(aliased(typed.sql, &alias));
        let sql = self.select(&rel, items, Fragment::default());
        Ok(Relation {
            sql,
            columns,
            order: rel.order,
        })
    }

    fn project(&mut self, items: &[NamedExpr], rel: Relation) -> Result<Relation, KqlError> {
        let mut computed = Computed::default();
        for (i, item) in items.iter().enumerate() {
            let name = self.column_name(item, i);
            match (&item.expr, rel.find(&name)) {
                (Expr::Column(column), Some(existing))
                    if item.name.is_none()
                        && column.name == name
                        && !computed.columns.iter().any(|c| c.name == name) =>
                {
                    computed.items.push(Fragment::text(existing.alias.clone()));
                    computed.columns.push(existing.clone());
                }
                _ => {
                    let typed = self.expr(&item.expr, &rel, Context::Row)?;
                    computed.add(self, name, typed, item.expr.pos())?;
                }
            }
        }
        let mut selected = computed.items;
        selected.extend(rel.order.iter().map(|o| Fragment::text(o.alias.clone())));
        let sql = self.select(&rel, selected, Fragment::default());
        Ok(Relation {
            sql,
            columns: computed.columns,
            order: rel.order,
        })
    }

    fn summarize(
        &mut self,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
        rel: Relation,
    ) -> Result<Relation, KqlError> {
        let mut computed = Computed::default();
        let mut groups = Vec::new();
        for (i, item) in by.iter().enumerate() {
            let typed = self.expr(&item.expr, &rel, Context::Row)?;
            let name = self.column_name(item, i);
            groups.push(computed.add(self, name, typed, item.expr.pos())?);
        }
        let group_names: Vec<String> = computed.columns.iter().map(|c| c.name.clone()).collect();
        let mut unnamed = 0;
        for item in aggregates {
            for (name, typed) in self.summarize_item(item, &rel, &group_names)? {
                let name = name.unwrap_or_else(|| {
                    unnamed += 1;
                    format!("Column{unnamed}")
                });
                computed.add(self, name, typed, item.expr.pos())?;
            }
        }
        let (selected, columns) = (computed.items, computed.columns);
        let tail = if groups.is_empty() {
            Fragment::default()
        } else {
            Fragment::text(format!(" GROUP BY {}", groups.join(", ")))
        };
        let sql = self.select(&rel, selected, tail);
        Ok(Relation {
            sql,
            columns,
            order: Vec::new(),
        })
    }

    fn sort(&mut self, keys: &[SortKey], rel: Relation) -> Result<Relation, KqlError> {
        let mut items = Self::passthrough(
            &rel.columns
                .iter()
                .map(|c| c.alias.clone())
                .collect::<Vec<_>>(),
        );
        let mut order = Vec::new();
        for key in keys {
            let typed = self.expr(&key.expr, &rel, Context::Row)?;
            if matches!(
                typed.ty,
                KqlType::Dynamic(Dynamic::Bag { .. } | Dynamic::Json)
            ) {
                return Err(KqlError::semantic(
                    key.expr.pos(),
                    "rows cannot be sorted by a dynamic bag or list",
                ));
            }
            let alias = self.alias();
            items.push(aliased(typed.sql, &alias));
            order.push(OrderKey {
                alias,
                descending: key.descending,
                nulls_first: key.nulls_first,
            });
        }
        let sql = self.select(&rel, items, Fragment::default());
        Ok(Relation {
            sql,
            columns: rel.columns,
            order,
        })
    }

    fn take(&mut self, count: &Expr, rel: Relation) -> Result<Relation, KqlError> {
        let n = match self.constant(count) {
            Some(Literal::Long(n)) if n >= 0 => n,
            _ => {
                return Err(KqlError::semantic(
                    count.pos(),
                    "take/limit/top need a constant, non-negative count",
                ));
            }
        };
        let mut tail = Self::order_clause(&rel.order);
        tail.push(Fragment::text(" LIMIT ?").with(Param::Int(n)));
        let sql = self.select(&rel, Self::passthrough(&rel.aliases()), tail);
        Ok(Relation { sql, ..rel })
    }

    /// The final statement: the visible columns, in the carried order, at most `max_rows + 1`
    /// rows (one more tells the answer was cut).
    pub fn finish(&mut self, rel: Relation, max_rows: usize) -> TabularStatement {
        let aliases: Vec<String> = rel.columns.iter().map(|c| c.alias.clone()).collect();
        let mut tail = Self::order_clause(&rel.order);
        let limit = i64::try_from(max_rows.saturating_add(1)).unwrap_or(i64::MAX);
        tail.push(Fragment::text(" LIMIT ?").with(Param::Int(limit)));
        let items = if aliases.is_empty() {
            vec![Fragment::text("1")]
        } else {
            Self::passthrough(&aliases)
        };
        let sql = self.select(&rel, items, tail);
        let shapes: Vec<CellShape> = rel.columns.iter().map(|c| c.ty.shape()).collect();
        TabularStatement {
            sql: sql.sql,
            params: sql.params,
            shapes,
        }
    }
}

/// `Prop*` matches by prefix, `*Id` by suffix, `*x*` anywhere; no `*`: the exact name.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_prefixes_suffixes_and_middles() {
        assert!(wildcard_match("Prop*", "Properties"));
        assert!(wildcard_match("*Id", "OperationId"));
        assert!(wildcard_match("*ration*", "OperationName"));
        assert!(!wildcard_match("Prop*", "Measurements"));
        assert!(wildcard_match("Name", "Name") && !wildcard_match("Name", "Names"));
    }
}

//! `join`: inner and innerunique as SQL joins on key columns both sides name alike (`USING`,
//! which ClickHouse 18.16 supports); leftsemi and leftanti as `IN` tests; leftouter as the
//! inner join plus the unmatched left rows with nulls on the right.

use super::KqlError;
use super::ast::{JoinKey, JoinKind};
use super::expr::{Typed, unify_for_comparison};
use super::plan::{Col, Planner, Relation};
use super::sql::{Fragment, aliased, call};
use crate::reads::tabular::Dialect;

impl Planner<'_> {
    pub fn join(
        &mut self,
        kind: JoinKind,
        left: Relation,
        right: Relation,
        on: &[JoinKey],
    ) -> Result<Relation, KqlError> {
        let mut keys = Vec::new();
        let mut left_items: Vec<Fragment> = left
            .columns
            .iter()
            .map(|c| Fragment::text(c.alias.clone()))
            .collect();
        let mut right_items: Vec<Fragment> = right
            .columns
            .iter()
            .map(|c| Fragment::text(c.alias.clone()))
            .collect();
        for key in on {
            let (l, r) = self.join_columns(key, &left, &right)?;
            let alias = self.alias();
            let l_key = self.join_key(Typed::new(Fragment::text(l.alias.clone()), l.ty));
            let r_key = self.join_key(Typed::new(Fragment::text(r.alias.clone()), r.ty));
            left_items.push(aliased(l_key, &alias));
            right_items.push(aliased(r_key, &alias));
            keys.push(alias);
        }
        let left_keyed = self.subselect(&left, left_items);
        let right_keyed = self.subselect(&right, right_items);
        let key_list = keys.join(", ");
        match kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let probe = if keys.len() == 1 {
                    key_list.clone()
                } else {
                    format!("({key_list})")
                };
                // A left row whose key is null matches nothing, so leftanti keeps it (SQL's
                // `NULL NOT IN (…)` is null, which would drop it).
                let not = if kind == JoinKind::LeftAnti {
                    "NOT "
                } else {
                    ""
                };
                let null_keys = if kind == JoinKind::LeftAnti {
                    let nulls: Vec<String> = keys.iter().map(|k| format!("{k} IS NULL")).collect();
                    format!("{} OR ", nulls.join(" OR "))
                } else {
                    String::new()
                };
                let present: Vec<String> =
                    keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
                let (outer, inner) = (self.subquery_name(), self.subquery_name());
                let aliases: Vec<String> = left.columns.iter().map(|c| c.alias.clone()).collect();
                if aliases.is_empty() {
                    return Err(KqlError::semantic(
                        crate::kql::ast::Pos::START,
                        "the join's left side has no columns left",
                    ));
                }
                let sql = Fragment::template(
                    &format!(
                        "SELECT {} FROM ({{}}) AS {outer} WHERE {null_keys}{probe} {not}IN (SELECT {key_list} FROM ({{}}) AS {inner} WHERE {})",
                        aliases.join(", "),
                        present.join(" AND ")
                    ),
                    vec![left_keyed, right_keyed],
                );
                Ok(Relation {
                    sql,
                    columns: left.columns,
                    order: Vec::new(),
                })
            }
            JoinKind::Inner | JoinKind::InnerUnique => {
                let left_side = if kind == JoinKind::InnerUnique {
                    self.one_per_key(&left, left_keyed, &keys)
                } else {
                    left_keyed
                };
                Ok(self.inner(&left, &right, left_side, right_keyed, &key_list))
            }
            JoinKind::LeftOuter => {
                let matched = self.inner(&left, &right, left_keyed, right_keyed, &key_list);
                let unmatched = self.join(JoinKind::LeftAnti, left, right, on)?;
                self.union_of(vec![matched, unmatched])
            }
        }
    }

    /// `SELECT items FROM (rel) AS tN`.
    fn subselect(&mut self, rel: &Relation, items: Vec<Fragment>) -> Fragment {
        let name = self.subquery_name();
        Fragment::template(
            &format!("SELECT {{}} FROM ({{}}) AS {name}"),
            vec![Fragment::join(items, ", "), rel.sql.clone()],
        )
    }

    /// One row per key of the left side (innerunique).
    fn one_per_key(&mut self, left: &Relation, keyed: Fragment, keys: &[String]) -> Fragment {
        let name = self.subquery_name();
        let key_list = keys.join(", ");
        match self.dialect {
            Dialect::ClickHouse => Fragment::template(
                &format!("SELECT * FROM ({{}}) AS {name} LIMIT 1 BY {key_list}"),
                vec![keyed],
            ),
            Dialect::Sqlite => {
                let rank = self.alias();
                let outer = self.subquery_name();
                let columns: Vec<String> = left
                    .columns
                    .iter()
                    .map(|c| c.alias.clone())
                    .chain(keys.iter().cloned())
                    .collect();
                Fragment::template(
                    &format!(
                        "SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY {key_list}) AS {rank} FROM ({{}}) AS {name}) AS {outer} WHERE {rank} = 1",
                        cols = columns.join(", ")
                    ),
                    vec![keyed],
                )
            }
        }
    }

    /// The rows of both sides whose keys match; the right's columns renamed where the left
    /// has the name (`OperationId1`).
    fn inner(
        &mut self,
        left: &Relation,
        right: &Relation,
        left_side: Fragment,
        right_side: Fragment,
        key_list: &str,
    ) -> Relation {
        let mut columns: Vec<Col> = left.columns.clone();
        for column in &right.columns {
            let mut name = column.name.clone();
            let mut n = 1;
            while columns.iter().any(|c| c.name == name) {
                name = format!("{}{n}", column.name);
                n += 1;
            }
            columns.push(Col {
                name,
                ..column.clone()
            });
        }
        let aliases: Vec<String> = columns.iter().map(|c| c.alias.clone()).collect();
        let (l, r) = (self.subquery_name(), self.subquery_name());
        let join = match self.dialect {
            Dialect::ClickHouse => "ALL INNER JOIN",
            Dialect::Sqlite => "INNER JOIN",
        };
        let sql = Fragment::template(
            &format!(
                "SELECT {} FROM ({{}}) AS {l} {join} ({{}}) AS {r} USING ({key_list})",
                aliases.join(", ")
            ),
            vec![left_side, right_side],
        );
        Relation {
            sql,
            columns,
            order: Vec::new(),
        }
    }

    /// A join key as both sides compare it (ClickHouse joins on plain strings).
    pub fn join_key(&self, typed: Typed) -> Fragment {
        match self.dialect {
            Dialect::ClickHouse => call(
                "ifNull",
                vec![call("toString", vec![typed.sql]), Fragment::text("''")],
            ),
            Dialect::Sqlite => typed.sql,
        }
    }

    /// The two key columns of `on`, checked comparable.
    pub fn join_columns(
        &self,
        key: &JoinKey,
        left: &Relation,
        right: &Relation,
    ) -> Result<(Col, Col), KqlError> {
        let (left_name, right_name) = match key {
            JoinKey::Same(name) => (name, name),
            JoinKey::Pair { left, right } => (left, right),
        };
        let l = left
            .find(&left_name.name)
            .cloned()
            .ok_or_else(|| left.unknown_column(left_name))?;
        let r = right
            .find(&right_name.name)
            .cloned()
            .ok_or_else(|| right.unknown_column(right_name))?;
        let comparable = unify_for_comparison(
            Typed::new(Fragment::default(), l.ty),
            Typed::new(Fragment::default(), r.ty),
            self.dialect,
        )
        .is_some_and(|(a, b)| {
            a.ty == b.ty
                || (a.ty.is_text() && b.ty.is_text())
                || (a.ty.is_numeric() && b.ty.is_numeric())
        });
        if !comparable {
            return Err(KqlError::semantic(
                left_name.pos,
                format!(
                    "join keys '{}' ({}) and '{}' ({}) cannot be compared",
                    l.name,
                    l.ty.name(),
                    r.name,
                    r.ty.name()
                ),
            ));
        }
        Ok((l, r))
    }
}

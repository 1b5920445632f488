//! `union`: the rows of several relations, columns matched by name, a column a relation
//! lacks null there (typed, as ClickHouse wants every part of a `UNION ALL` alike).

use super::KqlError;
use super::ast::Pos;
use super::plan::{Col, Planner, Relation};
use super::sql::Fragment;
use super::types::{Dynamic, KqlType};
use crate::reads::tabular::Dialect;

impl Planner<'_> {
    /// Rows of every relation, columns matched by name; a column a relation lacks is null.
    pub fn union_of(&mut self, relations: Vec<Relation>) -> Result<Relation, KqlError> {
        let mut names: Vec<(String, KqlType)> = Vec::new();
        for rel in &relations {
            for column in &rel.columns {
                match names.iter_mut().find(|(name, _)| *name == column.name) {
                    None => names.push((column.name.clone(), column.ty)),
                    Some((_, ty)) if *ty == column.ty => {}
                    Some((_, ty)) if ty.is_integer() && column.ty.is_integer() => {
                        *ty = KqlType::Long
                    }
                    Some((_, ty)) => {
                        return Err(KqlError::unsupported(
                            Pos::START,
                            format!(
                                "a union whose column '{}' is {} in one part and {} in another",
                                column.name,
                                ty.name(),
                                column.ty.name()
                            ),
                        ));
                    }
                }
            }
        }
        let aliases: Vec<String> = names.iter().map(|_| self.alias()).collect();
        let mut legs = Vec::new();
        for rel in &relations {
            let mut items = Vec::new();
            for ((name, ty), alias) in names.iter().zip(&aliases) {
                let value = match rel.find(name) {
                    Some(column) => self.union_value(Some(&column.alias), *ty),
                    None => self.union_value(None, *ty),
                };
                items.push(super::sql::aliased(value, alias));
            }
            legs.push(self.select(rel, items, Fragment::default()));
        }
        let columns = names
            .into_iter()
            .zip(aliases)
            .map(|((name, ty), alias)| Col { name, ty, alias })
            .collect();
        Ok(Relation {
            sql: Fragment::join(legs, " UNION ALL "),
            columns,
            order: Vec::new(),
        })
    }

    /// A union column's value in one part: ClickHouse needs every part to give the same type.
    fn union_value(&self, alias: Option<&str>, ty: KqlType) -> Fragment {
        let nullable = ty.clickhouse_nullable();
        match (self.dialect, alias) {
            (Dialect::Sqlite, Some(alias)) => Fragment::text(alias),
            (Dialect::Sqlite, None) => Fragment::text("NULL"),
            (Dialect::ClickHouse, Some(alias)) if !nullable.is_empty() => {
                Fragment::text(format!("CAST({alias} AS {nullable})"))
            }
            (Dialect::ClickHouse, Some(alias)) => Fragment::text(alias),
            (Dialect::ClickHouse, None) => Fragment::text(match ty {
                KqlType::Dynamic(Dynamic::Bag { numbers: false }) => {
                    "tuple(CAST([] AS Array(String)), CAST([] AS Array(String)))".to_owned()
                }
                KqlType::Dynamic(Dynamic::Bag { numbers: true }) => {
                    "tuple(CAST([] AS Array(String)), CAST([] AS Array(Float64)))".to_owned()
                }
                KqlType::Dynamic(Dynamic::Json) => "CAST(NULL AS Nullable(String))".to_owned(),
                _ => format!("CAST(NULL AS {nullable})"),
            }),
        }
    }
}

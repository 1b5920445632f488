//! Rows → bound parameters of a prepared `INSERT`, driven by the cell walker. Maps and
//! sequences become JSON text. A row whose resource is stored in `resources` keeps only its
//! own `customDimensions` and names the resource in the last column, `resource_id`.

use rusqlite::Statement;
use serde_json::{Map, Value as Json};

use super::resources::ResourceId;
use crate::model::{Item, TableRow};
use crate::store::cells::{Cell, CellError, CellSink, walk};

/// The map column that holds resource attributes unless they are stored in `resources`.
const DIMENSIONS_COLUMN: &str = "customDimensions";

/// Column names of a table in stored order, read off a default row.
pub fn column_names<T: TableRow + Default>() -> Vec<&'static str> {
    let mut names = ColumnNames(Vec::new());
    // Walking a default row cannot fail: every model field type is supported.
    let _ = walk(&Item::<T>::default(), &mut names);
    names.0
}

/// The insert into the table under the item view (migration 5), `resource_id` last.
pub fn insert_sql<T: TableRow + Default>() -> String {
    let mut columns = column_names::<T>();
    columns.push("resource_id");
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let params: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO \"{}_rows\" ({}) VALUES ({})",
        T::TABLE,
        quoted.join(", "),
        params.join(", ")
    )
}

/// Binds one row's cells, in order, to the statement's parameters; with `resource`, the
/// resource's attributes are left out of the row's map and the id is bound instead.
pub fn bind_row<T: TableRow>(
    statement: &mut Statement<'_>,
    row: &Item<T>,
    resource: Option<ResourceId>,
) -> Result<(), CellError> {
    let mut binder = Binder {
        statement,
        index: 0,
        json: None,
        // The row's own entries come first in its map (`model::attributes::Chained`).
        own_dimensions: resource.map(|_| row.common.dimensions.len()),
        map_entries: None,
    };
    walk(row, &mut binder)?;
    binder.bind(match resource {
        Some(id) => rusqlite::types::Value::Blob(id.to_vec()),
        None => rusqlite::types::Value::Null,
    })
}

struct ColumnNames(Vec<&'static str>);

impl CellSink for ColumnNames {
    fn cell(&mut self, column: &'static str, _: Cell<'_>) -> Result<(), CellError> {
        self.0.push(column);
        Ok(())
    }
    fn map_start(&mut self, column: &'static str, _: usize) -> Result<(), CellError> {
        self.0.push(column);
        Ok(())
    }
    fn map_entry(&mut self, _: &str, _: Cell<'_>) -> Result<(), CellError> {
        Ok(())
    }
    fn map_end(&mut self) -> Result<(), CellError> {
        Ok(())
    }
    fn seq_start(&mut self, column: &'static str, _: usize) -> Result<(), CellError> {
        self.0.push(column);
        Ok(())
    }
    fn seq_item(&mut self, _: Cell<'_>) -> Result<(), CellError> {
        Ok(())
    }
    fn seq_end(&mut self) -> Result<(), CellError> {
        Ok(())
    }
}

enum PendingJson {
    Object(Map<String, Json>),
    Array(Vec<Json>),
}

struct Binder<'a, 'conn> {
    statement: &'a mut Statement<'conn>,
    index: usize,
    json: Option<PendingJson>,
    /// How many leading entries of `customDimensions` are the row's own, when the rest (its
    /// resource's) are stored in `resources`.
    own_dimensions: Option<usize>,
    /// Entries still taken into the current map; `None` takes all.
    map_entries: Option<usize>,
}

impl Binder<'_, '_> {
    fn bind(&mut self, value: rusqlite::types::Value) -> Result<(), CellError> {
        self.index += 1;
        self.statement
            .raw_bind_parameter(self.index, value)
            .map_err(|e| CellError(format!("binding parameter {}: {e}", self.index)))
    }
}

fn sql_value(cell: Cell<'_>) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match cell {
        Cell::I64(v) => Value::Integer(v),
        Cell::U8(v) => Value::Integer(v.into()),
        Cell::U32(v) => Value::Integer(v.into()),
        // SQLite integers are signed; counts beyond i64::MAX are not meaningful anyway.
        Cell::U64(v) => Value::Integer(i64::try_from(v).unwrap_or(i64::MAX)),
        Cell::F64(v) if v.is_nan() => Value::Null,
        Cell::F64(v) => Value::Real(v),
        Cell::Bool(v) => Value::Integer(i64::from(v)),
        Cell::Str(v) => Value::Text(v.to_owned()),
    }
}

fn json_value(cell: Cell<'_>) -> Json {
    match cell {
        Cell::I64(v) => Json::from(v),
        Cell::U8(v) => Json::from(v),
        Cell::U32(v) => Json::from(v),
        Cell::U64(v) => Json::from(v),
        Cell::F64(v) => serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number),
        Cell::Bool(v) => Json::Bool(v),
        Cell::Str(v) => Json::String(v.to_owned()),
    }
}

impl CellSink for Binder<'_, '_> {
    fn cell(&mut self, _: &'static str, cell: Cell<'_>) -> Result<(), CellError> {
        self.bind(sql_value(cell))
    }
    fn map_start(&mut self, column: &'static str, _: usize) -> Result<(), CellError> {
        self.json = Some(PendingJson::Object(Map::new()));
        self.map_entries = self.own_dimensions.filter(|_| column == DIMENSIONS_COLUMN);
        Ok(())
    }
    fn map_entry(&mut self, key: &str, value: Cell<'_>) -> Result<(), CellError> {
        if let Some(left) = &mut self.map_entries {
            match left.checked_sub(1) {
                Some(fewer) => *left = fewer,
                None => return Ok(()),
            }
        }
        if let Some(PendingJson::Object(map)) = &mut self.json
            && !map.contains_key(key)
        {
            map.insert(key.to_owned(), json_value(value));
        }
        Ok(())
    }
    fn map_end(&mut self) -> Result<(), CellError> {
        let text = match self.json.take() {
            Some(PendingJson::Object(map)) => Json::Object(map).to_string(),
            _ => return Err(CellError("map ended without starting".into())),
        };
        self.bind(rusqlite::types::Value::Text(text))
    }
    fn seq_start(&mut self, _: &'static str, len: usize) -> Result<(), CellError> {
        self.json = Some(PendingJson::Array(Vec::with_capacity(len)));
        Ok(())
    }
    fn seq_item(&mut self, value: Cell<'_>) -> Result<(), CellError> {
        if let Some(PendingJson::Array(items)) = &mut self.json {
            items.push(json_value(value));
        }
        Ok(())
    }
    fn seq_end(&mut self) -> Result<(), CellError> {
        let text = match self.json.take() {
            Some(PendingJson::Array(items)) => Json::Array(items).to_string(),
            _ => return Err(CellError("sequence ended without starting".into())),
        };
        self.bind(rusqlite::types::Value::Text(text))
    }
}

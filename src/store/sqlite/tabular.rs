//! Runs a planned tabular statement (KQL) and reads each column back by its shape.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params_from_iter};

use super::sqlite_error;
use crate::reads::tabular::{Cell, CellShape, TabularStatement};
use crate::store::StoreError;

fn cell(value: ValueRef<'_>, shape: CellShape) -> Cell {
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) if shape == CellShape::Real => Cell::Real(n as f64),
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Real(x) if matches!(shape, CellShape::Int | CellShape::Bool) && x.is_finite() => {
            Cell::Int(x as i64)
        }
        ValueRef::Real(x) => Cell::Real(x),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            match shape {
                CellShape::Json | CellShape::Bag => {
                    Cell::from_json(serde_json::Value::String(text), shape)
                }
                CellShape::Int | CellShape::Bool => text.parse().map_or(Cell::Null, Cell::Int),
                CellShape::Real => text.parse().map_or(Cell::Null, Cell::Real),
                CellShape::Text => Cell::Text(text),
            }
        }
    }
}

pub fn run(
    connection: &Connection,
    statement: &TabularStatement,
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let mut prepared = super::query::prepare(connection, &statement.sql)?;
    let values = super::query::values(&statement.params);
    let shapes = statement.shapes.clone();
    let rows = prepared
        .query_map(params_from_iter(values), |row| {
            let mut cells = Vec::with_capacity(shapes.len());
            for (i, shape) in shapes.iter().enumerate() {
                cells.push(cell(row.get_ref(i)?, *shape));
            }
            Ok(cells)
        })
        .map_err(sqlite_error)?;
    rows.collect::<Result<_, _>>().map_err(sqlite_error)
}

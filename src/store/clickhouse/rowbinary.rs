//! Rows → ClickHouse `RowBinary`, driven by the cell walker, plus the column list (with the
//! ClickHouse type each field encodes as) that the `INSERT` names and the schema test checks.
//!
//! Maps become two array columns (`{name}_keys`, `{name}_values`), which ClickHouse 18.16 can
//! store; every row ends with the `_batch_id` of the batch it was written in.

use crate::model::{Item, TableRow};
use crate::store::cells::{Cell, CellError, CellSink, walk};

/// The column every table carries last, naming the batch a row was written in.
pub const BATCH_ID_COLUMN: &str = "_batch_id";

/// Appends one row's RowBinary encoding to `out`.
pub fn encode_row<T: TableRow>(
    row: &Item<T>,
    batch_id: u64,
    out: &mut Vec<u8>,
) -> Result<(), CellError> {
    let mut encoder = Encoder {
        out,
        map_values: Vec::new(),
        map_len: 0,
    };
    walk(row, &mut encoder)?;
    out.extend_from_slice(&batch_id.to_le_bytes());
    Ok(())
}

/// `(column, ClickHouse type)` of a table, in insert order, `_batch_id` last.
pub fn columns<T: TableRow>() -> Vec<(String, &'static str)> {
    let mut spec = ColumnSpec(Vec::new());
    // Walking a default row cannot fail: every model field type is supported.
    let _ = walk(&Item::<T>::default(), &mut spec);
    spec.0.push((BATCH_ID_COLUMN.to_owned(), "UInt64"));
    spec.0
}

pub fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A `String` value: its length as a varint, then its bytes.
pub fn write_string(value: &str, out: &mut Vec<u8>) {
    write_varint(value.len() as u64, out);
    out.extend_from_slice(value.as_bytes());
}

fn write_cell(cell: Cell<'_>, out: &mut Vec<u8>) {
    match cell {
        Cell::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Cell::U8(v) => out.push(v),
        Cell::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Cell::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Cell::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Cell::Bool(v) => out.push(u8::from(v)),
        Cell::Str(v) => write_string(v, out),
    }
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    /// A map's values, written after its keys (maps are two parallel arrays).
    map_values: Vec<u8>,
    map_len: usize,
}

impl CellSink for Encoder<'_> {
    fn cell(&mut self, _: &'static str, cell: Cell<'_>) -> Result<(), CellError> {
        write_cell(cell, self.out);
        Ok(())
    }
    fn map_start(&mut self, _: &'static str, len: usize) -> Result<(), CellError> {
        write_varint(len as u64, self.out);
        self.map_values.clear();
        self.map_len = len;
        Ok(())
    }
    fn map_entry(&mut self, key: &str, value: Cell<'_>) -> Result<(), CellError> {
        write_string(key, self.out);
        write_cell(value, &mut self.map_values);
        Ok(())
    }
    fn map_end(&mut self) -> Result<(), CellError> {
        write_varint(self.map_len as u64, self.out);
        self.out.extend_from_slice(&self.map_values);
        Ok(())
    }
    fn seq_start(&mut self, _: &'static str, len: usize) -> Result<(), CellError> {
        write_varint(len as u64, self.out);
        Ok(())
    }
    fn seq_item(&mut self, value: Cell<'_>) -> Result<(), CellError> {
        write_cell(value, self.out);
        Ok(())
    }
    fn seq_end(&mut self) -> Result<(), CellError> {
        Ok(())
    }
}

struct ColumnSpec(Vec<(String, &'static str)>);

fn scalar_type(cell: Cell<'_>) -> &'static str {
    match cell {
        Cell::I64(_) => "Int64",
        Cell::U8(_) | Cell::Bool(_) => "UInt8",
        Cell::U32(_) => "UInt32",
        Cell::U64(_) => "UInt64",
        Cell::F64(_) => "Float64",
        Cell::Str(_) => "String",
    }
}

/// Element types of the map and sequence columns, which a default (empty) row cannot show.
fn element_type(column: &str) -> &'static str {
    match column {
        "customMeasurements" => "Array(Float64)",
        "bucketBounds" => "Array(Float64)",
        "bucketCounts" => "Array(UInt64)",
        _ => "Array(String)",
    }
}

impl CellSink for ColumnSpec {
    fn cell(&mut self, column: &'static str, cell: Cell<'_>) -> Result<(), CellError> {
        self.0.push((column.to_owned(), scalar_type(cell)));
        Ok(())
    }
    fn map_start(&mut self, column: &'static str, _: usize) -> Result<(), CellError> {
        self.0.push((format!("{column}_keys"), "Array(String)"));
        self.0
            .push((format!("{column}_values"), element_type(column)));
        Ok(())
    }
    fn map_entry(&mut self, _: &str, _: Cell<'_>) -> Result<(), CellError> {
        Ok(())
    }
    fn map_end(&mut self) -> Result<(), CellError> {
        Ok(())
    }
    fn seq_start(&mut self, column: &'static str, _: usize) -> Result<(), CellError> {
        self.0.push((column.to_owned(), element_type(column)));
        Ok(())
    }
    fn seq_item(&mut self, _: Cell<'_>) -> Result<(), CellError> {
        Ok(())
    }
    fn seq_end(&mut self) -> Result<(), CellError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, CustomMetric, Dimensions, Request};

    #[test]
    fn maps_become_parallel_arrays_and_the_batch_id_comes_last() {
        let request = columns::<Request>();
        assert_eq!(request[0], ("timestamp_ns".to_owned(), "Int64"));
        let names: Vec<&str> = request.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"customDimensions_keys"));
        assert!(names.contains(&"customMeasurements_values"));
        assert_eq!(request.last(), Some(&("_batch_id".to_owned(), "UInt64")));
        let metric = columns::<CustomMetric>();
        assert!(metric.contains(&("bucketCounts".to_owned(), "Array(UInt64)")));
    }

    #[test]
    fn encodes_rowbinary() {
        let row = Item {
            common: Common {
                timestamp_ns: 1,
                item_count: 2,
                dimensions: Dimensions::from_pairs([("k", "v"), ("a", "b")]),
                ..Common::default()
            },
            data: Request {
                name: "n".into(),
                success: true,
                duration_ms: 1.5,
                ..Request::default()
            },
        };
        let mut out = Vec::new();
        encode_row(&row, 9, &mut out).expect("encodes");
        assert_eq!(&out[..8], &1i64.to_le_bytes());
        // Dimension keys, then values, as two arrays.
        let keys_then_values = [2u8, 1, b'k', 1, b'a', 2, 1, b'v', 1, b'b'];
        assert!(
            out.windows(keys_then_values.len())
                .any(|w| w == keys_then_values)
        );
        assert_eq!(&out[out.len() - 8..], &9u64.to_le_bytes());
        let mut big = Vec::new();
        write_varint(300, &mut big);
        assert_eq!(big, [0xac, 0x02]);
    }
}

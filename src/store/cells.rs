//! Walks a serializable row as a flat sequence of typed cells, so each store encodes rows (and
//! derives its column list) from the row structs themselves: nested structs are flattened, maps
//! and sequences become one cell each.

use serde::ser::{self, Impossible, Serialize};

/// One scalar value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    I64(i64),
    U8(u8),
    U32(u32),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(&'a str),
}

/// Receives the cells of a row in column order.
pub trait CellSink {
    fn cell(&mut self, column: &'static str, cell: Cell<'_>) -> Result<(), CellError>;
    /// A map column (`customDimensions`): `len` entries follow, then `map_end`.
    fn map_start(&mut self, column: &'static str, len: usize) -> Result<(), CellError>;
    fn map_entry(&mut self, key: &str, value: Cell<'_>) -> Result<(), CellError>;
    fn map_end(&mut self) -> Result<(), CellError>;
    /// A sequence column (histogram buckets): `len` items follow, then `seq_end`.
    fn seq_start(&mut self, column: &'static str, len: usize) -> Result<(), CellError>;
    fn seq_item(&mut self, value: Cell<'_>) -> Result<(), CellError>;
    fn seq_end(&mut self) -> Result<(), CellError>;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CellError(pub String);

impl ser::Error for CellError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CellError(msg.to_string())
    }
}

/// Feeds every cell of `row` to `sink`.
pub fn walk<T: Serialize, S: CellSink>(row: &T, sink: &mut S) -> Result<(), CellError> {
    row.serialize(FieldSer { sink, column: "" })
}

fn unsupported(what: &str) -> CellError {
    CellError(format!("row field of unsupported type {what}"))
}

/// Generates the `Serializer` methods a cell position does not accept.
macro_rules! reject {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            Err(unsupported(stringify!($method)))
        }
    )*};
}

macro_rules! reject_compound {
    () => {
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
            Err(unsupported("tuple"))
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Self::Error> {
            Err(unsupported("tuple struct"))
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Self::Error> {
            Err(unsupported("tuple variant"))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Self::Error> {
            Err(unsupported("struct variant"))
        }
        fn serialize_some<V: ?Sized + Serialize>(self, _: &V) -> Result<Self::Ok, Self::Error> {
            Err(unsupported("option"))
        }
        fn serialize_newtype_struct<V: ?Sized + Serialize>(
            self,
            _: &'static str,
            value: &V,
        ) -> Result<Self::Ok, Self::Error> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<V: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &V,
        ) -> Result<Self::Ok, Self::Error> {
            Err(unsupported("newtype variant"))
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<Self::Ok, Self::Error> {
            self.serialize_str(variant)
        }
        reject!(
            serialize_char(char),
            serialize_bytes(&[u8]),
            serialize_none(),
            serialize_unit(),
            serialize_unit_struct(&'static str),
        );
    };
}

/// A cell that can only hold a scalar: a map entry's value or a sequence item.
macro_rules! scalar_serializer {
    ($name:ident<$sink:ident>, |$this:ident, $cell:ident| $emit:expr) => {
        impl<'s, $sink: CellSink> ser::Serializer for $name<'s, $sink> {
            type Ok = ();
            type Error = CellError;
            type SerializeSeq = Impossible<(), CellError>;
            type SerializeTuple = Impossible<(), CellError>;
            type SerializeTupleStruct = Impossible<(), CellError>;
            type SerializeTupleVariant = Impossible<(), CellError>;
            type SerializeMap = Impossible<(), CellError>;
            type SerializeStruct = Impossible<(), CellError>;
            type SerializeStructVariant = Impossible<(), CellError>;

            fn serialize_bool(self, v: bool) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::Bool(v));
                $emit
            }
            fn serialize_i8(self, v: i8) -> Result<(), CellError> {
                self.serialize_i64(v.into())
            }
            fn serialize_i16(self, v: i16) -> Result<(), CellError> {
                self.serialize_i64(v.into())
            }
            fn serialize_i32(self, v: i32) -> Result<(), CellError> {
                self.serialize_i64(v.into())
            }
            fn serialize_i64(self, v: i64) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::I64(v));
                $emit
            }
            fn serialize_u8(self, v: u8) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::U8(v));
                $emit
            }
            fn serialize_u16(self, v: u16) -> Result<(), CellError> {
                self.serialize_u32(v.into())
            }
            fn serialize_u32(self, v: u32) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::U32(v));
                $emit
            }
            fn serialize_u64(self, v: u64) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::U64(v));
                $emit
            }
            fn serialize_f32(self, v: f32) -> Result<(), CellError> {
                self.serialize_f64(v.into())
            }
            fn serialize_f64(self, v: f64) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::F64(v));
                $emit
            }
            fn serialize_str(self, v: &str) -> Result<(), CellError> {
                let ($this, $cell) = (self, Cell::Str(v));
                $emit
            }
            fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CellError> {
                Err(unsupported("nested sequence"))
            }
            fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CellError> {
                Err(unsupported("nested map"))
            }
            fn serialize_struct(
                self,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeStruct, CellError> {
                Err(unsupported("nested struct"))
            }
            reject_compound!();
        }
    };
}

/// A top-level position: a column, or a struct to flatten.
struct FieldSer<'s, S> {
    sink: &'s mut S,
    column: &'static str,
}

impl<'s, S: CellSink> ser::Serializer for FieldSer<'s, S> {
    type Ok = ();
    type Error = CellError;
    type SerializeSeq = SeqSer<'s, S>;
    type SerializeTuple = Impossible<(), CellError>;
    type SerializeTupleStruct = Impossible<(), CellError>;
    type SerializeTupleVariant = Impossible<(), CellError>;
    type SerializeMap = MapSer<'s, S>;
    type SerializeStruct = StructSer<'s, S>;
    type SerializeStructVariant = Impossible<(), CellError>;

    fn serialize_bool(self, v: bool) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), CellError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), CellError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), CellError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::I64(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::U8(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), CellError> {
        self.serialize_u32(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::U32(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::U64(v))
    }
    fn serialize_f32(self, v: f32) -> Result<(), CellError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::F64(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), CellError> {
        self.sink.cell(self.column, Cell::Str(v))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer<'s, S>, CellError> {
        let len = len.ok_or_else(|| unsupported("sequence of unknown length"))?;
        self.sink.seq_start(self.column, len)?;
        Ok(SeqSer { sink: self.sink })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer<'s, S>, CellError> {
        let len = len.ok_or_else(|| unsupported("map of unknown length"))?;
        self.sink.map_start(self.column, len)?;
        Ok(MapSer {
            sink: self.sink,
            key: String::new(),
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<StructSer<'s, S>, CellError> {
        Ok(StructSer { sink: self.sink })
    }
    reject_compound!();
}

struct StructSer<'s, S> {
    sink: &'s mut S,
}

impl<S: CellSink> ser::SerializeStruct for StructSer<'_, S> {
    type Ok = ();
    type Error = CellError;
    fn serialize_field<V: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), CellError> {
        value.serialize(FieldSer {
            sink: &mut *self.sink,
            column: key,
        })
    }
    fn end(self) -> Result<(), CellError> {
        Ok(())
    }
}

struct SeqSer<'s, S> {
    sink: &'s mut S,
}

impl<S: CellSink> ser::SerializeSeq for SeqSer<'_, S> {
    type Ok = ();
    type Error = CellError;
    fn serialize_element<V: ?Sized + Serialize>(&mut self, value: &V) -> Result<(), CellError> {
        value.serialize(ItemSer {
            sink: &mut *self.sink,
        })
    }
    fn end(self) -> Result<(), CellError> {
        self.sink.seq_end()
    }
}

struct MapSer<'s, S> {
    sink: &'s mut S,
    /// The pending key, reused across entries.
    key: String,
}

impl<S: CellSink> ser::SerializeMap for MapSer<'_, S> {
    type Ok = ();
    type Error = CellError;
    fn serialize_key<K: ?Sized + Serialize>(&mut self, key: &K) -> Result<(), CellError> {
        self.key.clear();
        key.serialize(KeySer { key: &mut self.key })
    }
    fn serialize_value<V: ?Sized + Serialize>(&mut self, value: &V) -> Result<(), CellError> {
        value.serialize(EntrySer {
            sink: &mut *self.sink,
            key: &self.key,
        })
    }
    fn end(self) -> Result<(), CellError> {
        self.sink.map_end()
    }
}

struct ItemSer<'s, S> {
    sink: &'s mut S,
}

scalar_serializer!(ItemSer<S>, |this, cell| this.sink.seq_item(cell));

struct EntrySer<'s, S> {
    sink: &'s mut S,
    key: &'s str,
}

scalar_serializer!(EntrySer<S>, |this, cell| this
    .sink
    .map_entry(this.key, cell));

/// Copies a map key, which must be a string.
struct KeySer<'s> {
    key: &'s mut String,
}

impl<'s> ser::Serializer for KeySer<'s> {
    type Ok = ();
    type Error = CellError;
    type SerializeSeq = Impossible<(), CellError>;
    type SerializeTuple = Impossible<(), CellError>;
    type SerializeTupleStruct = Impossible<(), CellError>;
    type SerializeTupleVariant = Impossible<(), CellError>;
    type SerializeMap = Impossible<(), CellError>;
    type SerializeStruct = Impossible<(), CellError>;
    type SerializeStructVariant = Impossible<(), CellError>;

    fn serialize_str(self, v: &str) -> Result<(), CellError> {
        self.key.push_str(v);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CellError> {
        Err(unsupported("sequence key"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CellError> {
        Err(unsupported("map key"))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, CellError> {
        Err(unsupported("struct key"))
    }
    reject!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
    );
    reject_compound!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, Dimensions, Item, Measurements, Request};

    /// Records every event as text, to check the walk order.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl CellSink for Recorder {
        fn cell(&mut self, column: &'static str, cell: Cell<'_>) -> Result<(), CellError> {
            self.0.push(format!("{column}={cell:?}"));
            Ok(())
        }
        fn map_start(&mut self, column: &'static str, len: usize) -> Result<(), CellError> {
            self.0.push(format!("{column}:map{len}"));
            Ok(())
        }
        fn map_entry(&mut self, key: &str, value: Cell<'_>) -> Result<(), CellError> {
            self.0.push(format!("  {key}={value:?}"));
            Ok(())
        }
        fn map_end(&mut self) -> Result<(), CellError> {
            Ok(())
        }
        fn seq_start(&mut self, column: &'static str, len: usize) -> Result<(), CellError> {
            self.0.push(format!("{column}:seq{len}"));
            Ok(())
        }
        fn seq_item(&mut self, value: Cell<'_>) -> Result<(), CellError> {
            self.0.push(format!("  {value:?}"));
            Ok(())
        }
        fn seq_end(&mut self) -> Result<(), CellError> {
            Ok(())
        }
    }

    #[test]
    fn flattens_common_and_table_columns_in_order() {
        let row = Item {
            common: Common {
                timestamp_ns: 5,
                dimensions: Dimensions::from_pairs([("k", "v")]),
                measurements: {
                    let mut m = Measurements::default();
                    m.push("m", 1.5);
                    m
                },
                ..Common::default()
            },
            data: Request {
                name: "GET /".into(),
                success: true,
                ..Request::default()
            },
        };
        let mut recorder = Recorder::default();
        walk(&row, &mut recorder).expect("walks");
        let events = recorder.0;
        assert_eq!(events[0], "timestamp_ns=I64(5)");
        assert!(events.contains(&"customDimensions:map1".to_owned()));
        assert!(events.contains(&"  k=Str(\"v\")".to_owned()));
        assert!(events.contains(&"  m=F64(1.5)".to_owned()));
        assert!(events.contains(&"success=Bool(true)".to_owned()));
        assert_eq!(
            events.last().map(String::as_str),
            Some("performanceBucket=Str(\"\")")
        );
    }
}

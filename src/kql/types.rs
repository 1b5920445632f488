//! KQL's scalar types, how each is held in SQL, and how its values read back.

use crate::reads::tabular::CellShape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KqlType {
    Bool,
    Int,
    Long,
    Real,
    String,
    /// UTC nanoseconds in an integer column.
    Datetime,
    /// Nanoseconds in an integer column.
    Timespan,
    Dynamic(Dynamic),
}

/// What a `dynamic` value holds, which decides how SQL can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    /// A property bag (`customDimensions`: string values; `customMeasurements`: numbers).
    Bag { numbers: bool },
    /// A string read out of a bag.
    Text,
    /// A number read out of a bag.
    Number,
    /// A list (`make_list`, `split`) or other JSON.
    Json,
}

impl KqlType {
    /// The name the Log Analytics API gives the type.
    pub fn name(self) -> &'static str {
        match self {
            KqlType::Bool => "bool",
            KqlType::Int => "int",
            KqlType::Long => "long",
            KqlType::Real => "real",
            KqlType::String => "string",
            KqlType::Datetime => "datetime",
            KqlType::Timespan => "timespan",
            KqlType::Dynamic(_) => "dynamic",
        }
    }

    pub fn shape(self) -> CellShape {
        match self {
            KqlType::Bool => CellShape::Bool,
            KqlType::Int | KqlType::Long | KqlType::Datetime | KqlType::Timespan => CellShape::Int,
            KqlType::Real | KqlType::Dynamic(Dynamic::Number) => CellShape::Real,
            KqlType::String | KqlType::Dynamic(Dynamic::Text) => CellShape::Text,
            KqlType::Dynamic(Dynamic::Bag { .. }) => CellShape::Bag,
            KqlType::Dynamic(Dynamic::Json) => CellShape::Json,
        }
    }

    /// Integer-valued numbers (`int`, `long`, and `bool` in arithmetic).
    pub fn is_integer(self) -> bool {
        matches!(self, KqlType::Int | KqlType::Long | KqlType::Bool)
    }

    pub fn is_numeric(self) -> bool {
        self.is_integer() || matches!(self, KqlType::Real | KqlType::Dynamic(Dynamic::Number))
    }

    pub fn is_text(self) -> bool {
        matches!(self, KqlType::String | KqlType::Dynamic(Dynamic::Text))
    }

    /// The ClickHouse type a `NULL` of this type is cast to, where one exists.
    pub fn clickhouse_nullable(self) -> &'static str {
        match self {
            KqlType::Bool => "Nullable(UInt8)",
            KqlType::Int | KqlType::Long | KqlType::Datetime | KqlType::Timespan => {
                "Nullable(Int64)"
            }
            KqlType::Real | KqlType::Dynamic(Dynamic::Number) => "Nullable(Float64)",
            KqlType::String | KqlType::Dynamic(Dynamic::Text) => "Nullable(String)",
            KqlType::Dynamic(_) => "",
        }
    }
}

//! Reads OTLP protobuf messages in place: views borrow strings and ids from the request body
//! instead of allocating them, which is most of what decoding costs.
//!
//! Framing errors in the envelope (request, resource, scope) fail the whole request, as any
//! protobuf decoder would; errors inside one span or log record (bad UTF-8, a malformed
//! attribute) only reject that item.

/// Why bytes are not the expected protobuf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated or malformed protobuf in {0}")]
    Malformed(&'static str),
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
}

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// The fields of one message, in wire order.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Names the message in errors.
    what: &'static str,
}

pub fn fields<'a>(buf: &'a [u8], what: &'static str) -> Fields<'a> {
    Fields { buf, pos: 0, what }
}

impl<'a> Fields<'a> {
    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Tags and short lengths are one byte; only longer varints take the loop.
        if let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(WireError::Malformed(self.what))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::Malformed(self.what))
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.buf.len())
            .ok_or(WireError::Malformed(self.what))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next field's tag (`number << 3 | wire type`), for hot parsers that match on it.
    #[inline]
    fn tag(&mut self) -> Result<u64, WireError> {
        self.varint()
    }

    #[inline]
    fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.varint()?).map_err(|_| WireError::Malformed(self.what))?;
        self.take(len)
    }

    #[inline]
    fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(
            bytes
                .try_into()
                .map_err(|_| WireError::Malformed(self.what))?,
        ))
    }

    #[inline]
    fn fixed32(&mut self) -> Result<u32, WireError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(
            bytes
                .try_into()
                .map_err(|_| WireError::Malformed(self.what))?,
        ))
    }

    /// Skips the value of a field the hot parsers do not read (or read with an unexpected
    /// wire type).
    fn skip_value(&mut self, tag: u64) -> Result<(), WireError> {
        match tag & 7 {
            0 => self.varint().map(drop),
            1 => self.take(8).map(drop),
            2 => self.len_delimited().map(drop),
            5 => self.take(4).map(drop),
            _ => Err(WireError::Malformed(self.what)),
        }
    }

    #[inline]
    fn next_field(&mut self) -> Result<(u32, Field<'a>), WireError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError::Malformed(self.what))?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                let bytes = self.take(8)?;
                Field::Fixed64(u64::from_le_bytes(
                    bytes
                        .try_into()
                        .map_err(|_| WireError::Malformed(self.what))?,
                ))
            }
            2 => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| WireError::Malformed(self.what))?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                let bytes = self.take(4)?;
                Field::Fixed32(u32::from_le_bytes(
                    bytes
                        .try_into()
                        .map_err(|_| WireError::Malformed(self.what))?,
                ))
            }
            // Groups (3, 4) are not used by OTLP; anything else is not protobuf.
            _ => return Err(WireError::Malformed(self.what)),
        };
        if number == 0 {
            return Err(WireError::Malformed(self.what));
        }
        Ok((number, field))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), WireError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let next = self.next_field();
        if next.is_err() {
            // Stop after the first error; the rest cannot be framed.
            self.pos = self.buf.len();
        }
        Some(next)
    }
}

#[inline]
pub fn utf8<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, WireError> {
    std::str::from_utf8(bytes).map_err(|_| WireError::Utf8(what))
}

/// Reads a length-delimited field or fails.
fn bytes<'a>(field: Field<'a>, what: &'static str) -> Result<&'a [u8], WireError> {
    match field {
        Field::Bytes(b) => Ok(b),
        _ => Err(WireError::Malformed(what)),
    }
}

fn varint(field: Field<'_>, what: &'static str) -> Result<u64, WireError> {
    match field {
        Field::Varint(v) => Ok(v),
        _ => Err(WireError::Malformed(what)),
    }
}

fn fixed64(field: Field<'_>, what: &'static str) -> Result<u64, WireError> {
    match field {
        Field::Fixed64(v) => Ok(v),
        _ => Err(WireError::Malformed(what)),
    }
}

/// An `AnyValue`, its nested arrays and maps still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ValueRef<'a> {
    #[default]
    Empty,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// An encoded `ArrayValue`.
    Array(&'a [u8]),
    /// An encoded `KeyValueList`.
    Kvlist(&'a [u8]),
}

impl<'a> ValueRef<'a> {
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "attribute value";
        let mut reader = fields(buf, WHAT);
        let mut value = ValueRef::Empty;
        while !reader.at_end() {
            value = match reader.tag()? {
                0x0a => ValueRef::Str(utf8(reader.len_delimited()?, WHAT)?),
                0x10 => ValueRef::Bool(reader.varint()? != 0),
                // int64 travels as its two's-complement bits.
                0x18 => ValueRef::Int(reader.varint()? as i64),
                0x21 => ValueRef::Double(f64::from_bits(reader.fixed64()?)),
                0x2a => ValueRef::Array(reader.len_delimited()?),
                0x32 => ValueRef::Kvlist(reader.len_delimited()?),
                0x3a => ValueRef::Bytes(reader.len_delimited()?),
                // string_value_strindex belongs to profiles: treated as absent, like unknowns.
                tag => {
                    reader.skip_value(tag)?;
                    value
                }
            };
        }
        Ok(value)
    }

    /// The elements of an `ArrayValue`.
    pub fn array_items(
        buf: &'a [u8],
    ) -> impl Iterator<Item = Result<ValueRef<'a>, WireError>> + 'a {
        fields(buf, "array value").filter_map(|field| match field {
            Ok((1, Field::Bytes(item))) => Some(ValueRef::parse(item)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }
}

/// A `KeyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValueRef<'a> {
    pub key: &'a str,
    pub value: ValueRef<'a>,
}

impl<'a> KeyValueRef<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "attribute";
        let mut reader = fields(buf, WHAT);
        let mut key = "";
        let mut value = ValueRef::Empty;
        while !reader.at_end() {
            match reader.tag()? {
                0x0a => key = utf8(reader.len_delimited()?, "attribute key")?,
                0x12 => value = ValueRef::parse(reader.len_delimited()?)?,
                tag => reader.skip_value(tag)?,
            }
        }
        Ok(KeyValueRef { key, value })
    }

    /// The entries of an encoded `KeyValueList`.
    pub fn list(buf: &'a [u8]) -> impl Iterator<Item = Result<KeyValueRef<'a>, WireError>> + 'a {
        fields(buf, "key-value list").filter_map(|field| match field {
            Ok((1, Field::Bytes(entry))) => Some(KeyValueRef::parse(entry)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }
}

/// Parses one repeated `KeyValue` field into `out`.
pub fn push_attribute<'a>(
    out: &mut Vec<KeyValueRef<'a>>,
    field: Field<'a>,
    what: &'static str,
) -> Result<(), WireError> {
    out.push(KeyValueRef::parse(bytes(field, what)?)?);
    Ok(())
}

/// The attributes of an encoded `Resource`.
pub fn resource_attributes(buf: &[u8]) -> Result<Vec<KeyValueRef<'_>>, WireError> {
    let mut attributes = Vec::new();
    for field in fields(buf, "resource") {
        if let (1, f) = field? {
            push_attribute(&mut attributes, f, "resource")?;
        }
    }
    Ok(attributes)
}

/// `InstrumentationScope.name`.
pub fn scope_name(buf: &[u8]) -> Result<&str, WireError> {
    for field in fields(buf, "instrumentation scope") {
        if let (1, f) = field? {
            return utf8(bytes(f, "instrumentation scope")?, "scope name");
        }
    }
    Ok("")
}

/// A `Resource*` group (`ResourceSpans`, `ResourceLogs`): its resource and the encoded scope
/// groups under it.
pub struct ResourceGroup<'a> {
    pub resource: Option<&'a [u8]>,
    pub scopes: Vec<&'a [u8]>,
}

/// A `Scope*` group (`ScopeSpans`, `ScopeLogs`): its scope and encoded items.
pub struct ScopeGroup<'a> {
    pub scope: Option<&'a [u8]>,
    pub items: Vec<&'a [u8]>,
}

/// Splits an export request (field 1: resource groups) into its groups.
pub fn resource_groups(body: &[u8]) -> Result<Vec<ResourceGroup<'_>>, WireError> {
    let mut groups = Vec::new();
    for field in fields(body, "export request") {
        if let (1, f) = field? {
            let mut group = ResourceGroup {
                resource: None,
                scopes: Vec::new(),
            };
            for inner in fields(bytes(f, "export request")?, "resource group") {
                match inner? {
                    (1, f) => group.resource = Some(bytes(f, "resource group")?),
                    (2, f) => group.scopes.push(bytes(f, "resource group")?),
                    _ => {}
                }
            }
            groups.push(group);
        }
    }
    Ok(groups)
}

/// Splits a scope group (field 1: scope, field 2: items).
pub fn scope_group(buf: &[u8]) -> Result<ScopeGroup<'_>, WireError> {
    let mut group = ScopeGroup {
        scope: None,
        items: Vec::new(),
    };
    for field in fields(buf, "scope group") {
        match field? {
            (1, f) => group.scope = Some(bytes(f, "scope group")?),
            (2, f) => group.items.push(bytes(f, "scope group")?),
            _ => {}
        }
    }
    Ok(group)
}

/// A `Span`, with attributes parsed and events and links still encoded.
#[derive(Debug, Default)]
pub struct SpanRef<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub name: &'a str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<KeyValueRef<'a>>,
    /// Encoded size of all attributes: an upper bound on their text, for sizing buffers.
    pub attribute_bytes: usize,
    pub events: Vec<&'a [u8]>,
    pub links: Vec<&'a [u8]>,
    pub status_code: i32,
    pub status_message: &'a str,
    pub flags: u32,
}

impl<'a> SpanRef<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut span = SpanRef::default();
        span.parse_into(buf)?;
        Ok(span)
    }

    /// Parses `buf` into this view, reusing its vectors' capacity across spans.
    pub fn parse_into(&mut self, buf: &'a [u8]) -> Result<(), WireError> {
        const WHAT: &str = "span";
        let mut attributes = std::mem::take(&mut self.attributes);
        let mut events = std::mem::take(&mut self.events);
        let mut links = std::mem::take(&mut self.links);
        attributes.clear();
        events.clear();
        links.clear();
        *self = SpanRef {
            attributes,
            events,
            links,
            ..SpanRef::default()
        };
        let span = self;
        let mut reader = fields(buf, WHAT);
        while !reader.at_end() {
            match reader.tag()? {
                0x0a => span.trace_id = reader.len_delimited()?,
                0x12 => span.span_id = reader.len_delimited()?,
                0x22 => span.parent_span_id = reader.len_delimited()?,
                0x2a => span.name = utf8(reader.len_delimited()?, "span name")?,
                0x30 => span.kind = reader.varint()? as i32,
                0x39 => span.start_time_unix_nano = reader.fixed64()?,
                0x41 => span.end_time_unix_nano = reader.fixed64()?,
                0x4a => {
                    let encoded = reader.len_delimited()?;
                    span.attribute_bytes += encoded.len();
                    span.attributes.push(KeyValueRef::parse(encoded)?);
                }
                0x5a => span.events.push(reader.len_delimited()?),
                0x6a => span.links.push(reader.len_delimited()?),
                0x7a => {
                    for inner in fields(reader.len_delimited()?, "span status") {
                        match inner? {
                            (2, Field::Bytes(b)) => {
                                span.status_message = utf8(b, "status message")?
                            }
                            (3, Field::Varint(code)) => span.status_code = code as i32,
                            _ => {}
                        }
                    }
                }
                // Field 16, fixed32: the tag takes two varint bytes.
                0x85 => span.flags = reader.fixed32()?,
                tag => reader.skip_value(tag)?,
            }
        }
        Ok(())
    }
}

/// A span event.
#[derive(Debug, Default)]
pub struct EventRef<'a> {
    pub time_unix_nano: u64,
    pub name: &'a str,
    pub attributes: Vec<KeyValueRef<'a>>,
}

impl<'a> EventRef<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "span event";
        let mut event = EventRef::default();
        for field in fields(buf, WHAT) {
            match field? {
                (1, f) => event.time_unix_nano = fixed64(f, WHAT)?,
                (2, f) => event.name = utf8(bytes(f, WHAT)?, "event name")?,
                (3, f) => push_attribute(&mut event.attributes, f, WHAT)?,
                _ => {}
            }
        }
        Ok(event)
    }
}

/// The ids of a span link.
pub fn link_ids(buf: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (&[], &[]);
    for field in fields(buf, "span link") {
        match field? {
            (1, f) => trace_id = bytes(f, "span link")?,
            (2, f) => span_id = bytes(f, "span link")?,
            _ => {}
        }
    }
    Ok((trace_id, span_id))
}

/// A `LogRecord`.
#[derive(Debug, Default)]
pub struct LogRecordRef<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: &'a str,
    pub body: ValueRef<'a>,
    pub attributes: Vec<KeyValueRef<'a>>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub event_name: &'a str,
}

impl<'a> LogRecordRef<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        const WHAT: &str = "log record";
        let mut record = LogRecordRef::default();
        for field in fields(buf, WHAT) {
            match field? {
                (1, f) => record.time_unix_nano = fixed64(f, WHAT)?,
                (11, f) => record.observed_time_unix_nano = fixed64(f, WHAT)?,
                (2, f) => record.severity_number = varint(f, WHAT)? as i32,
                (3, f) => record.severity_text = utf8(bytes(f, WHAT)?, "severity text")?,
                (5, f) => record.body = ValueRef::parse(bytes(f, WHAT)?)?,
                (6, f) => push_attribute(&mut record.attributes, f, WHAT)?,
                (9, f) => record.trace_id = bytes(f, WHAT)?,
                (10, f) => record.span_id = bytes(f, WHAT)?,
                (12, f) => record.event_name = utf8(bytes(f, WHAT)?, "event name")?,
                _ => {}
            }
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, KeyValue, any_value::Value,
    };
    use opentelemetry_proto::tonic::trace::v1::{Span, Status};
    use prost::Message;

    fn value(v: Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(v) })
    }

    #[test]
    fn reads_spans_as_prost_writes_them() {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "chat gpt-4o".into(),
            kind: 3,
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            flags: 0x100,
            attributes: vec![
                KeyValue {
                    key: "s".into(),
                    value: value(Value::StringValue("x".into())),
                    ..Default::default()
                },
                KeyValue {
                    key: "i".into(),
                    value: value(Value::IntValue(-7)),
                    ..Default::default()
                },
                KeyValue {
                    key: "d".into(),
                    value: value(Value::DoubleValue(0.5)),
                    ..Default::default()
                },
                KeyValue {
                    key: "b".into(),
                    value: value(Value::BoolValue(true)),
                    ..Default::default()
                },
                KeyValue {
                    key: "a".into(),
                    value: value(Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::StringValue("stop".into())),
                        }],
                    })),
                    ..Default::default()
                },
            ],
            status: Some(Status {
                message: "boom".into(),
                code: 2,
            }),
            ..Default::default()
        };
        let encoded = span.encode_to_vec();
        let view = SpanRef::parse(&encoded).expect("parses");
        assert_eq!(
            (view.trace_id, view.span_id, view.name),
            (&[1u8; 16][..], &[2u8; 8][..], "chat gpt-4o")
        );
        assert_eq!(
            (
                view.kind,
                view.start_time_unix_nano,
                view.end_time_unix_nano,
                view.flags
            ),
            (3, 10, 20, 0x100)
        );
        assert_eq!((view.status_code, view.status_message), (2, "boom"));
        let values: Vec<ValueRef<'_>> = view.attributes.iter().map(|kv| kv.value).collect();
        assert_eq!(values[0], ValueRef::Str("x"));
        assert_eq!(values[1], ValueRef::Int(-7));
        assert_eq!(values[2], ValueRef::Double(0.5));
        assert_eq!(values[3], ValueRef::Bool(true));
        let ValueRef::Array(items) = values[4] else {
            panic!("array expected")
        };
        let items: Vec<_> = ValueRef::array_items(items)
            .collect::<Result<_, _>>()
            .expect("items");
        assert_eq!(items, vec![ValueRef::Str("stop")]);
    }

    #[test]
    fn truncation_and_bad_utf8_are_errors_not_panics() {
        let span = Span {
            name: "name".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(SpanRef::parse(&span[..span.len() - 1]).is_err());
        let mut bad = span.clone();
        let last = bad.len() - 1;
        bad[last] = 0xff;
        assert_eq!(
            SpanRef::parse(&bad).err(),
            Some(WireError::Utf8("span name"))
        );
        assert!(
            fields(
                &[
                    0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
                ],
                "x"
            )
            .any(|f| f.is_err())
        );
        assert!(fields(&[0x0b], "group").any(|f| f.is_err()));
        assert!(fields(&[0x00, 0x00], "field zero").any(|f| f.is_err()));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = resource_groups(&bytes);
            let _ = SpanRef::parse(&bytes);
            let _ = LogRecordRef::parse(&bytes);
            let _ = ValueRef::parse(&bytes);
        }
    }
}

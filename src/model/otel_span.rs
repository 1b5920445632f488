//! What an OpenTelemetry span was, beyond the Application Insights row it became: its kind, its
//! status and its own name. The row's columns imply most of it (a request was a server span, an
//! `InProc` dependency an internal one); where they do not, normalization records the span's
//! own value under a reserved `_OTel.*` key, as the Azure exporters record links under
//! `_MS.links`, so the trace APIs (Tempo, Jaeger) give back the span that was sent.

/// `customDimensions` key of the span's name, where the row's `name` differs from it
/// (`GET /items/{id}` for a span named `GET`).
pub const NAME_KEY: &str = "_OTel.name";
/// `customDimensions` key of the span's kind, where the table and type do not imply it.
pub const KIND_KEY: &str = "_OTel.kind";
/// `customDimensions` key of the span's status code, where the success flag does not imply it
/// (`ok`, or `unset` on a failed row).
pub const STATUS_KEY: &str = "_OTel.status";
/// Where the span's status message is kept.
pub const STATUS_MESSAGE_KEY: &str = "otel.status_description";
/// Where the span's links are kept (`[{"operation_Id", "id"}]`), as Application Insights does.
pub const LINKS_KEY: &str = "_MS.links";
/// `customDimensions` key of the types of attributes whose stored text does not say them
/// (`{"retry.enabled":"bool","tags":"array"}`); strings and integers, the common case, are
/// never listed, so most spans carry no such entry.
pub const TYPES_KEY: &str = "_OTel.types";

/// An attribute type its stored text alone would not give back: booleans (text `true`), doubles
/// with an integral value (text `2`), bytes (base64 text), arrays and maps (JSON text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredType {
    Bool,
    Double,
    Bytes,
    Array,
    Kvlist,
}

impl StoredType {
    pub const ALL: [StoredType; 5] = [
        StoredType::Bool,
        StoredType::Double,
        StoredType::Bytes,
        StoredType::Array,
        StoredType::Kvlist,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StoredType::Bool => "bool",
            StoredType::Double => "double",
            StoredType::Bytes => "bytes",
            StoredType::Array => "array",
            StoredType::Kvlist => "kvlist",
        }
    }

    pub fn from_name(name: &str) -> Option<StoredType> {
        StoredType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Adds `key`'s type to a [`TYPES_KEY`] entry being built (empty while it lists none); the
/// entry is finished by a closing `}`. Written directly, as spans with such attributes are
/// common (GenAI finish reasons are an array).
pub fn append_type(entry: &mut String, key: &str, stored: StoredType) {
    entry.push(if entry.is_empty() { '{' } else { ',' });
    if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        entry.push('"');
        entry.push_str(key);
        entry.push('"');
    } else {
        entry.push_str(&serde_json::Value::from(key).to_string());
    }
    entry.push_str(":\"");
    entry.push_str(stored.name());
    entry.push('"');
}

/// The attribute types a [`TYPES_KEY`] entry lists; nothing when it is not one (a value cut by
/// the size limit, a row written before this was recorded).
pub fn parse_types(entry: &str) -> Vec<(String, StoredType)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(entry) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(key, t)| Some((key, StoredType::from_name(t.as_str()?)?)))
        .collect()
}

/// `Span.SpanKind`, with its OTLP numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub const ALL: [SpanKind; 6] = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// The kind of an OTLP number; numbers outside the enum read as unspecified.
    pub fn from_otlp(number: i32) -> SpanKind {
        SpanKind::ALL
            .into_iter()
            .find(|k| *k as i32 == number)
            .unwrap_or(SpanKind::Unspecified)
    }

    /// The lower-case name TraceQL and Jaeger use.
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    pub fn from_name(name: &str) -> Option<SpanKind> {
        SpanKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What a stored row implies: requests were served, `InProc` dependencies were internal,
    /// `Queue Message` ones were sent, every other dependency was a call.
    pub fn implied(is_request: bool, dependency_type: &str) -> SpanKind {
        if is_request {
            SpanKind::Server
        } else if dependency_type.starts_with("InProc") {
            SpanKind::Internal
        } else if dependency_type.starts_with("Queue Message") {
            SpanKind::Producer
        } else {
            SpanKind::Client
        }
    }
}

/// `Status.StatusCode`, with its OTLP numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanStatus {
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl SpanStatus {
    pub const ALL: [SpanStatus; 3] = [SpanStatus::Unset, SpanStatus::Ok, SpanStatus::Error];

    pub fn from_otlp(number: i32) -> SpanStatus {
        SpanStatus::ALL
            .into_iter()
            .find(|s| *s as i32 == number)
            .unwrap_or(SpanStatus::Unset)
    }

    pub fn name(self) -> &'static str {
        match self {
            SpanStatus::Unset => "unset",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }

    pub fn from_name(name: &str) -> Option<SpanStatus> {
        SpanStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What a row's success flag implies: a failed row was an error, a successful one unset.
    pub fn implied(success: bool) -> SpanStatus {
        if success {
            SpanStatus::Unset
        } else {
            SpanStatus::Error
        }
    }
}

/// The reserved entries a span's row needs so that the span can be rebuilt from it: none when
/// the row's name, table, type and success flag already say it all.
pub fn reserved_entries(
    span_name: &str,
    row_name: &str,
    kind: SpanKind,
    implied_kind: SpanKind,
    status: SpanStatus,
    success: bool,
) -> impl Iterator<Item = (&'static str, String)> {
    let name = (span_name != row_name).then(|| (NAME_KEY, span_name.to_owned()));
    let kind = (kind != implied_kind).then(|| (KIND_KEY, kind.name().to_owned()));
    let status =
        (status != SpanStatus::implied(success)).then(|| (STATUS_KEY, status.name().to_owned()));
    [name, kind, status].into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_entries_read_back() {
        let mut entry = String::new();
        append_type(&mut entry, "flag", StoredType::Bool);
        append_type(&mut entry, "tags", StoredType::Array);
        append_type(&mut entry, "odd\"key", StoredType::Kvlist);
        entry.push('}');
        assert_eq!(
            entry,
            r#"{"flag":"bool","tags":"array","odd\"key":"kvlist"}"#
        );
        assert_eq!(
            parse_types(&entry),
            vec![
                ("flag".to_owned(), StoredType::Bool),
                ("tags".to_owned(), StoredType::Array),
                ("odd\"key".to_owned(), StoredType::Kvlist)
            ]
        );
        for t in StoredType::ALL {
            assert_eq!(StoredType::from_name(t.name()), Some(t));
        }
        assert!(parse_types(r#"{"flag":"bo"#).is_empty());
        assert!(parse_types(r#"{"flag":"tuple"}"#).is_empty());
    }

    #[test]
    fn names_and_numbers_round_trip() {
        for kind in SpanKind::ALL {
            assert_eq!(SpanKind::from_otlp(kind as i32), kind);
            assert_eq!(SpanKind::from_name(kind.name()), Some(kind));
        }
        for status in SpanStatus::ALL {
            assert_eq!(SpanStatus::from_otlp(status as i32), status);
            assert_eq!(SpanStatus::from_name(status.name()), Some(status));
        }
        assert_eq!(SpanKind::from_otlp(9), SpanKind::Unspecified);
        assert_eq!(SpanStatus::from_otlp(-1), SpanStatus::Unset);
    }

    #[test]
    fn rows_imply_kinds_by_table_and_type() {
        assert_eq!(SpanKind::implied(true, ""), SpanKind::Server);
        assert_eq!(SpanKind::implied(false, "InProc | x"), SpanKind::Internal);
        assert_eq!(
            SpanKind::implied(false, "Queue Message | kafka"),
            SpanKind::Producer
        );
        assert_eq!(SpanKind::implied(false, "HTTP"), SpanKind::Client);
    }

    #[test]
    fn only_what_the_row_does_not_imply_is_recorded() {
        let none: Vec<_> = reserved_entries(
            "POST /chat",
            "POST /chat",
            SpanKind::Server,
            SpanKind::Server,
            SpanStatus::Unset,
            true,
        )
        .collect();
        assert!(none.is_empty());
        let all: Vec<_> = reserved_entries(
            "GET",
            "GET /items/7",
            SpanKind::Consumer,
            SpanKind::Server,
            SpanStatus::Unset,
            false,
        )
        .collect();
        assert_eq!(
            all,
            vec![
                (NAME_KEY, "GET".to_owned()),
                (KIND_KEY, "consumer".to_owned()),
                (STATUS_KEY, "unset".to_owned())
            ]
        );
    }
}

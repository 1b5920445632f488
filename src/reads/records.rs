//! Rows as read back from a store: flat, owned, and the same for every store implementation.

use serde::{Serialize, Serializer};

/// Key/value pairs as a JSON object, in stored order.
pub fn pairs_as_object<S: Serializer>(
    pairs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// Which table a span row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanTable {
    Request,
    Dependency,
}

/// A request or dependency row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanRecord {
    pub table: SpanTable,
    pub timestamp_ns: i64,
    pub id: String,
    pub operation_id: String,
    pub parent_id: String,
    pub operation_name: String,
    pub name: String,
    /// Dependency type; empty for requests.
    pub dependency_type: String,
    /// Dependency target; empty for requests.
    pub target: String,
    /// Request URL, or dependency data (URL, statement).
    pub data: String,
    pub result_code: String,
    pub success: bool,
    pub duration_ms: f64,
    pub cloud_role_name: String,
    pub cloud_role_instance: String,
    pub item_count: u32,
    pub genai: GenAiRecord,
    #[serde(serialize_with = "pairs_as_object")]
    pub dimensions: Vec<(String, String)>,
    /// The keys of `customMeasurements`: which attributes were sent as numbers.
    #[serde(skip)]
    pub measurement_keys: Vec<String>,
    /// `sdkVersion` and `application_Version`, which the trace APIs give back as resource
    /// attributes.
    #[serde(skip)]
    pub sdk_version: String,
    #[serde(skip)]
    pub application_version: String,
}

/// The GenAI columns of a dependency; all empty/zero elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenAiRecord {
    pub provider: String,
    pub operation: String,
    pub request_model: String,
    pub response_model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub reasoning_tokens: u64,
    pub finish_reason: String,
    pub prompt_name: String,
    pub prompt_version: String,
}

/// A log line (`traces` table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRecord {
    pub timestamp_ns: i64,
    pub item_id: String,
    pub operation_id: String,
    pub parent_id: String,
    pub message: String,
    pub severity_level: u8,
    pub cloud_role_name: String,
    pub cloud_role_instance: String,
    pub item_count: u32,
    #[serde(serialize_with = "pairs_as_object")]
    pub dimensions: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExceptionRecord {
    pub timestamp_ns: i64,
    pub item_id: String,
    pub operation_id: String,
    pub parent_id: String,
    pub problem_id: String,
    pub exception_type: String,
    pub message: String,
    pub method: String,
    pub stack: String,
    pub severity_level: u8,
    pub cloud_role_name: String,
    pub cloud_role_instance: String,
    pub item_count: u32,
    #[serde(serialize_with = "pairs_as_object")]
    pub dimensions: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub timestamp_ns: i64,
    pub item_id: String,
    pub operation_id: String,
    pub parent_id: String,
    pub name: String,
    pub cloud_role_name: String,
    pub item_count: u32,
    #[serde(serialize_with = "pairs_as_object")]
    pub dimensions: Vec<(String, String)>,
}

/// Everything stored under one operation id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OperationItems {
    pub spans: Vec<SpanRecord>,
    pub exceptions: Vec<ExceptionRecord>,
    pub traces: Vec<TraceRecord>,
    pub events: Vec<EventRecord>,
}

impl OperationItems {
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
            && self.exceptions.is_empty()
            && self.traces.is_empty()
            && self.events.is_empty()
    }
}

/// A `customMetrics` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRecord {
    pub timestamp_ns: i64,
    pub name: String,
    pub namespace: String,
    pub metric_type: String,
    pub value: f64,
    pub value_count: u64,
    pub value_min: f64,
    pub value_max: f64,
    pub bucket_bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
    pub cloud_role_name: String,
    #[serde(serialize_with = "pairs_as_object")]
    pub dimensions: Vec<(String, String)>,
}

/// Zips parallel key/value arrays, keeping the first of any repeated key.
pub fn zip_dimensions(keys: Vec<String>, values: Vec<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(keys.len());
    for (key, value) in keys.into_iter().zip(values) {
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, value));
        }
    }
    out
}

/// An issued instrumentation key and the application it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    /// A lower-case UUID.
    pub key: String,
    pub app: String,
    pub created_ns: i64,
    /// When it was revoked; `None` while it is valid.
    pub revoked_ns: Option<i64>,
}

/// What a query API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    /// Reads the telemetry of its apps.
    Reader,
    /// Reads like a reader and may change server state (alert rules, tokens) where the API
    /// offers it.
    Admin,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Reader => "reader",
            TokenRole::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "reader" => Some(TokenRole::Reader),
            "admin" => Some(TokenRole::Admin),
            _ => None,
        }
    }
}

/// A query API token as stored: its SHA-256, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The public handle `tokens list` shows and `tokens revoke` takes: the first 12 hex
    /// digits of the hash.
    pub id: String,
    /// SHA-256 of the token, lower-case hex.
    pub hash: String,
    /// What the token is for, as its creator described it.
    pub name: String,
    /// The apps it reads; ignored when `all_apps`.
    pub apps: Vec<String>,
    pub all_apps: bool,
    pub role: TokenRole,
    pub created_ns: i64,
    /// When it was revoked; `None` while it is valid.
    pub revoked_ns: Option<i64>,
}

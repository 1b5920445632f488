//! Hand-built operations for the tests of the tree and of the findings over it.

use crate::reads::records::{GenAiRecord, OperationItems, SpanRecord, SpanTable, TraceRecord};

pub const MS: i64 = 1_000_000;

pub fn span(
    table: SpanTable,
    id: &str,
    parent: &str,
    start_ms: i64,
    duration_ms: f64,
) -> SpanRecord {
    SpanRecord {
        table,
        timestamp_ns: 1_000_000 * MS + start_ms * MS,
        id: id.into(),
        operation_id: "op".into(),
        parent_id: parent.into(),
        operation_name: String::new(),
        name: id.into(),
        dependency_type: String::new(),
        target: String::new(),
        data: String::new(),
        result_code: "200".into(),
        success: true,
        duration_ms,
        cloud_role_name: "api".into(),
        cloud_role_instance: "pod-1".into(),
        item_count: 1,
        genai: GenAiRecord::default(),
        dimensions: Vec::new(),
        measurement_keys: Vec::new(),
        sdk_version: String::new(),
        application_version: String::new(),
    }
}

pub fn attempt(id: &str, start_ms: i64, duration_ms: f64, code: &str) -> SpanRecord {
    SpanRecord {
        name: "POST /openai/deployments/gpt-4o/chat/completions".into(),
        dependency_type: "HTTP".into(),
        target: "aoai.openai.azure.com".into(),
        result_code: code.into(),
        success: code == "200",
        ..span(SpanTable::Dependency, id, "chat", start_ms, duration_ms)
    }
}

/// `POST /chat` → search, then `chat gpt-4o` → three 429 attempts and a 200.
pub fn seed_story() -> OperationItems {
    let log = TraceRecord {
        timestamp_ns: 1_000_000 * MS + 5 * MS,
        item_id: "log1".into(),
        operation_id: "op".into(),
        parent_id: "req".into(),
        message: "answering".into(),
        severity_level: 1,
        cloud_role_name: "api".into(),
        cloud_role_instance: "pod-1".into(),
        item_count: 1,
        dimensions: Vec::new(),
    };
    let stray = TraceRecord {
        parent_id: "never-received".into(),
        item_id: "log2".into(),
        ..log.clone()
    };
    OperationItems {
        spans: vec![
            span(SpanTable::Request, "req", "", 0, 7_700.0),
            span(SpanTable::Dependency, "search", "req", 10, 300.0),
            span(SpanTable::Dependency, "chat", "req", 320, 7_350.0),
            attempt("a1", 330, 200.0, "429"),
            attempt("a2", 1_540, 210.0, "429"),
            attempt("a3", 3_760, 190.0, "429"),
            attempt("a4", 6_000, 1_650.0, "200"),
        ],
        traces: vec![log, stray],
        ..Default::default()
    }
}

use super::*;
use crate::query::test_trees::seed_story;
use crate::reads::records::ExceptionRecord;

fn row(table: SpanTable, id: &str, parent: &str) -> SpanRecord {
    let mut span = crate::query::test_trees::span(table, id, parent, 5, 12.5);
    span.operation_id = "0af7651916cd43dd8448eb211c80319c".into();
    span.sdk_version = "otel-python:1.45.2".into();
    span
}

#[test]
fn rows_imply_kind_and_status_and_reserved_keys_override_them() {
    let request = row(SpanTable::Request, "b7ad6b7169203331", "");
    let rebuilt = span("app", &request);
    assert_eq!(
        (rebuilt.kind, rebuilt.status),
        (SpanKind::Server, SpanStatus::Unset)
    );
    assert_eq!(rebuilt.start_ns, request.timestamp_ns);
    assert_eq!(rebuilt.end_ns - rebuilt.start_ns, 12_500_000);
    let mut call = row(
        SpanTable::Dependency,
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
    );
    call.dependency_type = "HTTP".into();
    call.name = "GET /items/7".into();
    call.success = false;
    call.dimensions = vec![
        (NAME_KEY.into(), "GET".into()),
        (STATUS_KEY.into(), "unset".into()),
        (STATUS_MESSAGE_KEY.into(), "boom".into()),
        ("http.response.status_code".into(), "503".into()),
        ("http.request.method".into(), "GET".into()),
        ("k8s.pod.name".into(), "pod-1".into()),
        (
            LINKS_KEY.into(),
            r#"[{"operation_Id":"0af7651916cd43dd8448eb211c80319c","id":"00f067aa0ba902b8"}]"#
                .into(),
        ),
    ];
    call.measurement_keys = vec!["http.response.status_code".into()];
    let rebuilt = span("app", &call);
    assert_eq!(rebuilt.name, "GET");
    assert_eq!(
        (rebuilt.kind, rebuilt.status),
        (SpanKind::Client, SpanStatus::Unset)
    );
    assert_eq!(rebuilt.status_message, "boom");
    assert_eq!(rebuilt.parent_span_id, "b7ad6b7169203331");
    assert_eq!(
        rebuilt.attributes,
        vec![
            ("http.response.status_code".into(), Value::Int(503)),
            ("http.request.method".into(), Value::Str("GET".into())),
        ]
    );
    assert_eq!(
        rebuilt.links,
        vec![(
            "0af7651916cd43dd8448eb211c80319c".into(),
            "00f067aa0ba902b8".into()
        )]
    );
    // The pod is where the instance came from: no service.instance.id is made up.
    let keys: Vec<&str> = rebuilt.resource.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "service.name",
            "telemetry.sdk.language",
            "telemetry.sdk.name",
            "telemetry.sdk.version",
            "k8s.pod.name"
        ]
    );
    assert_eq!(rebuilt.service_name(), "api");
}

#[test]
fn envelope_rows_keep_their_columns_and_legacy_ids_are_hashed() {
    let mut call = row(SpanTable::Dependency, "|abc.1.", "|abc.");
    call.sdk_version = "py3:2.0".into();
    call.dependency_type = "SQL".into();
    call.target = "db".into();
    call.result_code = "0".into();
    let rebuilt = span("app", &call);
    assert_eq!(rebuilt.span_id.len(), 16);
    assert_eq!(rebuilt.parent_span_id, span_id_hex("|abc."));
    assert!(
        rebuilt
            .attributes
            .contains(&("appinsights.target".into(), Value::Str("db".into())))
    );
    assert!(
        rebuilt
            .attributes
            .contains(&("appinsights.type".into(), Value::Str("SQL".into())))
    );
    assert_eq!(trace_id_hex("NOT-HEX").len(), 32);
    assert_eq!(
        trace_id_hex("0AF7651916CD43DD8448EB211C80319C"),
        "0af7651916cd43dd8448eb211c80319c"
    );
}

#[test]
fn log_lines_and_exceptions_become_events_of_their_span() {
    let mut items = seed_story();
    items.exceptions.push(ExceptionRecord {
        timestamp_ns: 1,
        item_id: "x".into(),
        operation_id: "op".into(),
        parent_id: "req".into(),
        problem_id: "p".into(),
        exception_type: "ValueError".into(),
        message: "bad".into(),
        method: String::new(),
        stack: "trace".into(),
        severity_level: 3,
        cloud_role_name: "api".into(),
        cloud_role_instance: "pod-1".into(),
        item_count: 1,
        dimensions: Vec::new(),
    });
    let spans = rebuild("app", &items);
    let root = spans
        .iter()
        .find(|s| s.span_id == span_id_hex("req"))
        .expect("root");
    let names: Vec<&str> = root.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["exception", "answering"]);
    assert_eq!(
        root.events[0].attributes[0],
        ("exception.type".into(), Value::Str("ValueError".into()))
    );
    // The log line under a span that was never stored belongs to no span.
    let events: usize = spans.iter().map(|s| s.events.len()).sum();
    assert_eq!(events, 2);
    let data = crate::query::otlp_encode::traces_data(&spans);
    let encoded: usize = data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(encoded, spans.len());
}

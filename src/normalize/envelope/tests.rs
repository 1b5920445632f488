use serde_json::Value;

use super::*;
use crate::normalize::Limits;
use crate::normalize::test_support::fixture;

/// Just after the fixtures were captured (2026-11-22T15:55:40Z).
const NOW_NS: i64 = 1_795_362_940_000_000_000;

fn context(limits: &Limits) -> Context<'_> {
    Context {
        limits,
        now_ns: NOW_NS,
        ikey: "".into(),
        app_name: "".into(),
    }
}

/// Normalizes with every key accepted for the app "app".
fn normalize(body: &[u8]) -> Track {
    let limits = Limits::default();
    envelopes(body, &context(&limits), &|_| Some(Arc::from("app"))).expect("body")
}

fn envelope(base_type: &str, base_data: Value) -> Value {
    serde_json::json!({
        "name": format!("Microsoft.ApplicationInsights.{base_type}"),
        "time": "2026-11-22T15:54:37.986588Z",
        "iKey": "00000000-0000-0000-0000-000000000001",
        "tags": {
            "ai.cloud.role": "api",
            "ai.operation.id": "1957330c99ecc7cab77772f305704791",
            "ai.operation.parentId": "00e43dc04d37740b",
        },
        "data": { "baseType": base_type, "baseData": base_data },
    })
}

#[test]
fn the_python_distro_fixture_lands_in_every_table() {
    let track = normalize(&fixture("appinsights/rag-api-429-retries.json"));
    assert_eq!(
        (track.received, track.accepted),
        (10, 10),
        "{:?}",
        track.errors
    );
    let batch = &track.batch;
    assert_eq!(batch.requests.len(), 1);
    assert_eq!(batch.dependencies.len(), 7);
    assert_eq!(batch.exceptions.len(), 1);
    // The resource envelope is accepted but is no metric.
    assert!(batch.custom_metrics.is_empty());
    let request = &batch.requests[0];
    assert_eq!(request.data.name, "POST /chat");
    assert_eq!(request.data.duration_ms, 893.0);
    assert_eq!(
        request.common.operation_id,
        "1957330c99ecc7cab77772f305704791"
    );
    assert_eq!(request.common.resource.cloud_role_name, "rag-api");
    assert_eq!(request.common.client_ip, "127.0.0.1");
    assert_eq!(&*request.common.app_name, "app");
    let throttled = batch
        .dependencies
        .iter()
        .filter(|d| d.data.result_code == "429")
        .count();
    assert!(throttled >= 1, "the fixture holds the 429 retries");
    let exception = &batch.exceptions[0];
    assert_eq!(
        exception.data.exception_type,
        "requests.exceptions.ConnectionError"
    );
    assert!(
        exception
            .data
            .problem_id
            .starts_with("requests.exceptions.ConnectionError")
    );
}

#[test]
fn the_worker_fixture_splits_logs_events_metrics_and_counters() {
    let track = normalize(&fixture("appinsights/worker-logs-metrics-events.json"));
    assert_eq!(track.accepted, track.received, "{:?}", track.errors);
    let batch = &track.batch;
    assert_eq!(batch.traces[0].data.message, "job started");
    assert_eq!(batch.traces[0].data.severity_level, 1);
    assert_eq!(batch.exceptions[0].data.exception_type, "ZeroDivisionError");
    assert_eq!(batch.exceptions[0].data.severity_level, 3);
    assert_eq!(batch.custom_events[0].data.name, "AnswerRated");
    assert_eq!(
        batch.custom_events[0].common.dimensions.get("rating"),
        Some("4")
    );
    assert_eq!(batch.performance_counters.len(), 41);
    let memory = batch
        .performance_counters
        .iter()
        .find(|c| c.data.counter == "Available Bytes")
        .expect("memory counter");
    assert_eq!(
        (memory.data.category.as_str(), memory.data.instance.as_str()),
        ("Memory", "")
    );
    let cpu = batch
        .performance_counters
        .iter()
        .find(|c| c.data.counter == "% Processor Time" && c.data.category == "Processor")
        .expect("cpu counter");
    assert_eq!(cpu.data.instance, "_Total");
    assert!(
        batch
            .custom_metrics
            .iter()
            .any(|m| m.data.name == "tokens.used")
    );
    assert!(
        !batch
            .custom_metrics
            .iter()
            .any(|m| m.data.name == RESOURCE_METRIC)
    );
}

#[test]
fn durations_parse_in_every_sdk_format() {
    for (text, ms) in [
        ("0.00:00:01.234", 1_234.0),
        ("00:00:01.2340000", 1_234.0),
        ("00:00:01.234", 1_234.0),
        ("00:00:01", 1_000.0),
        ("1.02:03:04.5", ((26.0 * 60.0 + 3.0) * 60.0 + 4.5) * 1_000.0),
        ("0:00:00.0000001", 0.0001),
    ] {
        let parsed = parse_duration(text).unwrap_or_else(|| panic!("{text}"));
        assert!((parsed - ms).abs() < 1e-9, "{text}: {parsed}");
    }
    for bad in [
        "",
        "1.5",
        "00:61:00",
        "1000.00:00:00",
        "00:00:01.12345678",
        "aa:bb:cc",
        "-1:00:00",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn absurd_numeric_durations_are_refused_item_by_item() {
    let request = |duration: Value| {
        envelope(
            "RequestData",
            serde_json::json!({"id": "a1", "name": "GET /", "duration": duration, "responseCode": "200", "success": true}),
        )
    };
    let body = serde_json::json!([
        request(serde_json::json!(1e308)),
        request(serde_json::json!(-1.0)),
        request(serde_json::json!(86_400_000_000.0)),
        request(serde_json::json!(250.5)),
    ]);
    let track = normalize(body.to_string().as_bytes());
    assert_eq!((track.received, track.accepted), (4, 1));
    assert!(
        track.errors[0].message.contains("out of range"),
        "{}",
        track.errors[0].message
    );
    assert_eq!(track.batch.requests[0].data.duration_ms, 250.5);
}

#[test]
fn ndjson_bodies_with_dotnet_durations_and_string_severity_work() {
    let lines = [
        envelope(
            "RemoteDependencyData",
            serde_json::json!({"name": "GET /x", "id": "a1", "duration": "00:00:00.2500000", "resultCode": 429, "success": false, "type": "Http", "target": "h"}),
        ),
        envelope(
            "MessageData",
            serde_json::json!({"message": "careful", "severityLevel": "Warning"}),
        ),
    ];
    let body = format!("{}\n\n{}\n", lines[0], lines[1]);
    let track = normalize(body.as_bytes());
    assert_eq!(
        (track.received, track.accepted),
        (2, 2),
        "{:?}",
        track.errors
    );
    let dependency = &track.batch.dependencies[0].data;
    assert_eq!(
        (
            dependency.dependency_type.as_str(),
            dependency.result_code.as_str()
        ),
        ("HTTP", "429")
    );
    assert_eq!(dependency.duration_ms, 250.0);
    assert_eq!(track.batch.traces[0].data.severity_level, 2);
}

#[test]
fn sample_rate_becomes_item_count_and_zero_ids_mean_none() {
    let mut item = envelope("MessageData", serde_json::json!({"message": "x"}));
    item["sampleRate"] = serde_json::json!(25.0);
    item["tags"]["ai.operation.id"] = serde_json::json!("00000000000000000000000000000000");
    item["tags"]["ai.operation.parentId"] = serde_json::json!("0000000000000000");
    let track = normalize(serde_json::json!([item]).to_string().as_bytes());
    let common = &track.batch.traces[0].common;
    assert_eq!(common.item_count, 4);
    assert_eq!(
        (
            common.operation_id.as_str(),
            common.operation_parent_id.as_str()
        ),
        ("", "")
    );
}

#[test]
fn bad_items_are_answered_one_by_one_and_the_rest_are_kept() {
    let good = envelope("EventData", serde_json::json!({"name": "ok"}));
    let no_base_type =
        serde_json::json!({"time": "2026-11-22T15:54:37Z", "iKey": "k", "data": {"baseData": {}}});
    let unknown = envelope("SomethingData", serde_json::json!({}));
    let bad_time = {
        let mut e = envelope("EventData", serde_json::json!({"name": "x"}));
        e["time"] = serde_json::json!("yesterday");
        e
    };
    let ancient = {
        let mut e = envelope("EventData", serde_json::json!({"name": "x"}));
        e["time"] = serde_json::json!("1999-01-01T00:00:00Z");
        e
    };
    let huge = envelope(
        "MessageData",
        serde_json::json!({"message": "x".repeat(MAX_ENVELOPE_BYTES)}),
    );
    let body = serde_json::json!([
        good,
        no_base_type,
        unknown,
        bad_time,
        ancient,
        huge,
        42,
        good
    ]);
    let track = normalize(body.to_string().as_bytes());
    assert_eq!((track.received, track.accepted), (8, 2));
    let indexes: Vec<usize> = track.errors.iter().map(|e| e.index).collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6]);
    assert!(track.errors.iter().all(|e| e.status == 400));
    assert!(
        track.errors[0].message.contains("baseType"),
        "{}",
        track.errors[0].message
    );
    assert!(
        track.errors[4].message.contains("exceeds"),
        "{}",
        track.errors[4].message
    );
}

#[test]
fn a_line_that_is_not_json_costs_only_itself() {
    let good = envelope("EventData", serde_json::json!({"name": "ok"}));
    let body = format!("{good}\n{{not json\n{good}\n");
    let track = normalize(body.as_bytes());
    assert_eq!((track.received, track.accepted), (3, 2));
    assert_eq!(track.errors[0].index, 1);
}

#[test]
fn bodies_that_are_not_envelopes_are_refused_whole() {
    let limits = Limits::default();
    let ctx = context(&limits);
    for body in [&b"hello"[..], b"[1, 2", b"\xff\xfe"] {
        assert!(
            envelopes(body, &ctx, &|_| Some(Arc::from(""))).is_err(),
            "{body:?}"
        );
    }
    let empty = envelopes(b"  ", &ctx, &|_| Some(Arc::from(""))).expect("empty body");
    assert_eq!(empty.received, 0);
}

#[test]
fn refused_keys_are_401_items() {
    let limits = Limits::default();
    let ctx = context(&limits);
    let body = serde_json::json!([envelope("EventData", serde_json::json!({"name": "ok"}))]);
    let track = envelopes(body.to_string().as_bytes(), &ctx, &|_| None).expect("body");
    assert_eq!(track.errors[0].status, 401);
    assert!(track.batch.custom_events.is_empty());
}

#[test]
fn genai_properties_on_dependencies_fill_the_genai_columns() {
    let item = envelope(
        "RemoteDependencyData",
        serde_json::json!({
            "name": "chat gpt-4o", "id": "b2", "duration": "0.00:00:07.350", "success": true,
            "type": "GenAI", "target": "aoai.openai.azure.com",
            "properties": {
                "gen_ai.system": "openai", "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "15",
                "gen_ai.usage.output_tokens": "12",
            },
        }),
    );
    let track = normalize(serde_json::json!([item]).to_string().as_bytes());
    let genai = track.batch.dependencies[0]
        .data
        .genai
        .0
        .as_ref()
        .expect("genai columns");
    assert_eq!(
        (
            genai.request_model.as_str(),
            genai.input_tokens,
            genai.output_tokens
        ),
        ("gpt-4o", 15, 12)
    );
}

proptest::proptest! {
    /// Bodies a fuzzer would send: arbitrary bytes, and envelope-shaped JSON with arbitrary
    /// values where fields are expected. Nothing panics, and every item received is either
    /// accepted or answered with an error of its own.
    #[test]
    fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let limits = Limits::default();
        if let Ok(track) = envelopes(&bytes, &context(&limits), &|_| Some(Arc::from("app"))) {
            proptest::prop_assert_eq!(track.accepted + track.errors.len(), track.received);
        }
    }

    #[test]
    fn envelopes_with_arbitrary_fields_never_panic(
        base_type in proptest::sample::select(vec!["RequestData", "RemoteDependencyData", "ExceptionData", "MessageData", "EventData", "MetricData", "PageViewData", "AvailabilityData", "Nonsense"]),
        values in proptest::collection::vec(arbitrary_json(), 8),
    ) {
        let mut data = serde_json::Map::new();
        for (field, value) in ["name", "id", "duration", "responseCode", "success", "properties", "exceptions", "metrics"].iter().zip(values) {
            data.insert((*field).to_owned(), value);
        }
        let body = serde_json::json!([envelope(base_type, Value::Object(data))]).to_string();
        let track = normalize(body.as_bytes());
        proptest::prop_assert_eq!(track.received, 1);
        proptest::prop_assert_eq!(track.accepted + track.errors.len(), 1);
    }
}

/// Small JSON values of every kind, nested a little.
fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::hash_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

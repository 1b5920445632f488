//! Normalization of telemetry captured from real SDKs (`../shared/fixtures/otlp`). Each JSON
//! fixture is also re-encoded as protobuf so both encodings are checked to give the same rows.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::test_support::fixture;
use super::{Context, Limits, Normalized, logs, traces};
use crate::model::Batch;
use crate::normalize::wire::WireError;

/// A receive time just after the fixtures were captured (2026-11-22T15:55:40Z).
const NOW_NS: i64 = 1_795_362_940_000_000_000;

fn context(limits: &Limits) -> Context<'_> {
    Context {
        limits,
        now_ns: NOW_NS,
        ikey: "00000000-0000-0000-0000-000000000001".into(),
        app_name: "rag".into(),
    }
}

fn traces_fixture(name: &str) -> Normalized {
    let limits = Limits::default();
    let from_json: ExportTraceServiceRequest =
        serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    traces(&from_json.encode_to_vec(), &context(&limits))
        .unwrap_or_else(|e: WireError| panic!("{name}: {e}"))
}

fn logs_fixture(name: &str) -> Normalized {
    let limits = Limits::default();
    let from_json: ExportLogsServiceRequest =
        serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    logs(&from_json.encode_to_vec(), &context(&limits))
        .unwrap_or_else(|e: WireError| panic!("{name}: {e}"))
}

fn dependency<'a>(batch: &'a Batch, id: &str) -> &'a crate::model::Item<crate::model::Dependency> {
    batch
        .dependencies
        .iter()
        .find(|d| d.data.id == id)
        .unwrap_or_else(|| panic!("dependency {id} missing"))
}

#[test]
fn fastapi_requests_become_requests_with_http_columns() {
    let out = traces_fixture("otlp/rag-api-traces-4.json");
    assert_eq!((out.accepted, out.rejected), (8, 0));
    let ok = out
        .batch
        .requests
        .iter()
        .find(|r| r.data.id == "4a39449be6cb720b")
        .expect("200 request");
    assert_eq!(ok.data.name, "POST /chat");
    assert_eq!(ok.data.url, "http://localhost:19002/chat");
    assert_eq!(ok.data.result_code, "200");
    assert!(ok.data.success);
    assert!((ok.data.duration_ms - 890.755457).abs() < 1e-6);
    assert_eq!(ok.data.performance_bucket, "500ms-1sec");
    assert_eq!(ok.common.operation_id, "525c5c3e165dd9b6d4c8f046107e8324");
    assert_eq!(ok.common.operation_parent_id, "");
    assert_eq!(ok.common.client_ip, "127.0.0.1");
    assert_eq!(ok.common.resource.cloud_role_name, "genai.rag-api");
    assert_eq!(
        ok.common.resource.cloud_role_instance,
        "f8ee7ac4-c78a-4f7b-af8b-f2fe5c21d311"
    );
    assert_eq!(&*ok.common.app_name, "rag");
    assert_eq!(ok.common.dimensions.get("http.route"), Some("/chat"));
    assert_eq!(ok.common.measurements.get("http.status_code"), Some(200.0));

    let failed = out
        .batch
        .requests
        .iter()
        .find(|r| r.data.id == "6544d41861643444")
        .expect("500 request");
    assert_eq!(failed.data.result_code, "500");
    assert!(!failed.data.success);
}

#[test]
fn openai_span_gets_genai_columns() {
    let out = traces_fixture("otlp/rag-api-traces-4.json");
    let chat = dependency(&out.batch, "af82a23c78cee52a");
    assert_eq!(chat.data.name, "chat gpt-4o");
    assert_eq!(chat.data.dependency_type, "GenAI | openai");
    assert_eq!(chat.data.target, "openai");
    assert!(chat.data.success);
    assert_eq!(chat.common.operation_parent_id, "4a39449be6cb720b");
    let genai = &chat.data.genai;
    assert_eq!(genai.provider, "openai");
    assert_eq!(genai.operation, "chat");
    assert_eq!(genai.request_model, "gpt-4o");
    assert_eq!(genai.response_model, "gpt-4o-2024-08-06");
    assert_eq!((genai.input_tokens, genai.output_tokens), (15, 12));
    assert_eq!(genai.finish_reason, "stop");
    assert_eq!(genai.dialect, "otel-legacy");
    assert_eq!(
        chat.common.dimensions.get("gen_ai.response.finish_reasons"),
        Some(r#"["stop"]"#)
    );
}

#[test]
fn asgi_spans_are_in_process_dependencies() {
    let out = traces_fixture("otlp/rag-api-traces-4.json");
    let send = dependency(&out.batch, "0543a844df3e28ca");
    assert_eq!(send.data.dependency_type, "InProc");
    assert_eq!(send.data.name, "POST /chat http send");
    assert!(!send.data.success, "status ERROR");
}

#[test]
fn exception_event_becomes_an_exception_of_its_span() {
    let out = traces_fixture("otlp/rag-api-traces-4.json");
    assert_eq!(out.batch.exceptions.len(), 1);
    let exception = &out.batch.exceptions[0];
    assert_eq!(exception.data.exception_type, "RuntimeError");
    assert_eq!(exception.data.message, "vector index unavailable");
    assert!(exception.data.stack.starts_with("Traceback"));
    assert!(
        exception.data.problem_id.starts_with("RuntimeError at "),
        "{}",
        exception.data.problem_id
    );
    assert_eq!(
        exception.common.operation_id,
        "233bb220b39d9a063db72d57fde61b76"
    );
    assert_eq!(exception.common.operation_parent_id, "6544d41861643444");
    assert_eq!(exception.common.timestamp_ns, 1_795_362_938_712_051_167);
    assert_eq!(exception.common.dimensions.get("exception.type"), None);
}

#[test]
fn raw_protobuf_capture_matches_its_json_rendering() {
    let limits = Limits::default();
    // The SDK's own bytes, read by the zero-copy decoder directly.
    let from_raw = traces(&fixture("otlp/rag-api-traces-2.pb"), &context(&limits)).expect("frames");
    let from_json = traces_fixture("otlp/rag-api-traces-2.json");
    assert_eq!(
        from_raw.batch, from_json.batch,
        "raw capture and its JSON rendering agree"
    );
    assert_eq!(from_raw.accepted, 2);
    assert_eq!(from_raw.batch.dependencies.len(), 2);
    let search = dependency(&from_raw.batch, "dda17b511b32c94f");
    assert_eq!(search.data.dependency_type, "HTTP");
    assert_eq!(search.data.target, "127.0.0.1:19001");
    assert_eq!(search.data.name, "GET /indexes/docs/docs");
    assert_eq!(search.data.result_code, "200");
    assert_eq!(from_json.batch.dependencies.len(), 2);
}

/// The three log exports of the 429 request, in one batch.
fn all_logs() -> Normalized {
    let mut all = Normalized::default();
    for name in [
        "otlp/rag-api-logs-1.json",
        "otlp/rag-api-logs-3.json",
        "otlp/rag-api-logs-5.json",
    ] {
        let out = logs_fixture(name);
        all.accepted += out.accepted;
        all.rejected += out.rejected;
        all.batch.append(out.batch);
    }
    all
}

#[test]
fn log_records_become_log_lines_attached_to_their_span() {
    let out = all_logs();
    assert_eq!((out.accepted, out.rejected), (12, 0));
    assert_eq!(out.batch.traces.len(), 12);
    let retrieved = out
        .batch
        .traces
        .iter()
        .find(|t| t.data.message == "retrieved 1 documents")
        .expect("app log line");
    assert_eq!(retrieved.data.severity_level, 1);
    assert_eq!(
        retrieved.common.operation_id,
        "525c5c3e165dd9b6d4c8f046107e8324"
    );
    assert_eq!(retrieved.common.operation_parent_id, "4a39449be6cb720b");
    assert_eq!(retrieved.common.dimensions.get("logger_name"), Some("rag"));
    assert_eq!(
        retrieved.common.dimensions.get("code.function.name"),
        Some("chat")
    );
    let retries = out
        .batch
        .traces
        .iter()
        .filter(|t| t.data.message.contains("429 Too Many Requests"))
        .count();
    assert_eq!(retries, 3);
}

#[test]
fn genai_event_records_without_time_or_body_are_named_by_their_event() {
    let out = all_logs();
    let system = out
        .batch
        .traces
        .iter()
        .find(|t| t.common.dimensions.get("event.name") == Some("gen_ai.system.message"))
        .expect("system message event");
    assert_eq!(system.data.message, "gen_ai.system.message");
    assert_eq!(
        system.common.timestamp_ns, 1_795_362_937_910_210_999,
        "observed time stands in"
    );
    assert_eq!(system.data.severity_level, 0);
    let choice = out
        .batch
        .traces
        .iter()
        .find(|t| t.common.dimensions.get("event.name") == Some("gen_ai.choice"))
        .expect("choice event");
    assert_eq!(
        choice.data.message,
        r#"{"index":0,"finish_reason":"stop","message":{"role":"assistant"}}"#
    );
}

//! OTLP over gRPC (tonic client, with and without gzip) and HTTP (protobuf, JSON, gzip) into a
//! real server, read back from its store.

mod common;

use common::{TestServer, fixture, gzip};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tracehouse::reads::records::SpanTable;

const OK_TRACE: &str = "525c5c3e165dd9b6d4c8f046107e8324";
const FAILED_TRACE: &str = "233bb220b39d9a063db72d57fde61b76";

fn traces_json(name: &str) -> ExportTraceServiceRequest {
    serde_json::from_slice(&fixture(name)).expect("fixture decodes")
}

fn logs_json(name: &str) -> ExportLogsServiceRequest {
    serde_json::from_slice(&fixture(name)).expect("fixture decodes")
}

async fn assert_rag_trace_stored(server: &TestServer) {
    let ok = server.store.operation("", OK_TRACE).await.expect("read");
    let request = ok
        .spans
        .iter()
        .find(|s| s.table == SpanTable::Request)
        .expect("request stored");
    assert_eq!(
        (request.name.as_str(), request.result_code.as_str()),
        ("POST /chat", "200")
    );
    let chat = ok
        .spans
        .iter()
        .find(|s| s.name == "chat gpt-4o")
        .expect("genai dependency stored");
    assert_eq!(chat.parent_id, request.id);
    assert_eq!(chat.genai.request_model, "gpt-4o");
    assert_eq!(
        (chat.genai.input_tokens, chat.genai.output_tokens),
        (15, 12)
    );
    let failed = server
        .store
        .operation("", FAILED_TRACE)
        .await
        .expect("read");
    assert_eq!(failed.exceptions.len(), 1);
    assert_eq!(failed.exceptions[0].exception_type, "RuntimeError");
}

#[tokio::test]
async fn grpc_traces_with_and_without_gzip() {
    let server = TestServer::start().await;
    let mut client = TraceServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    let response = client
        .export(traces_json("otlp/rag-api-traces-4.json"))
        .await
        .expect("export")
        .into_inner();
    assert_eq!(response.partial_success, None);
    let mut gzip_client = client.send_compressed(CompressionEncoding::Gzip);
    let raw = ExportTraceServiceRequest::decode(fixture("otlp/rag-api-traces-2.pb").as_slice())
        .expect("capture decodes");
    gzip_client.export(raw).await.expect("gzip export");
    assert_rag_trace_stored(&server).await;
    let ok = server.store.operation("", OK_TRACE).await.expect("read");
    assert!(
        ok.spans.iter().any(|s| s.name == "GET /indexes/docs/docs"),
        "gzip batch stored"
    );
    assert_eq!(
        server.metrics().items(
            "traces",
            "grpc",
            tracehouse::self_metrics::Outcome::Accepted
        ),
        10
    );
    server.stop().await;
}

#[tokio::test]
async fn grpc_logs_and_metrics() {
    let server = TestServer::start().await;
    let mut logs = LogsServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    for name in [
        "otlp/rag-api-logs-1.json",
        "otlp/rag-api-logs-3.json",
        "otlp/rag-api-logs-5.json",
    ] {
        logs.export(logs_json(name)).await.expect("logs export");
    }
    let items = server.store.operation("", OK_TRACE).await.expect("read");
    assert_eq!(items.traces.len(), 12);
    assert!(
        items
            .traces
            .iter()
            .any(|t| t.message == "retrieved 1 documents")
    );

    let metrics_request: ExportMetricsServiceRequest = serde_json::from_value(serde_json::json!({
        "resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeMetrics": [{"metrics": [{
                "name": "tokens.used",
                "sum": {"aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [
                    {"timeUnixNano": "1795362938000000000", "asInt": "1234",
                     "attributes": [{"key": "model", "value": {"stringValue": "gpt-4o"}}]}
                ]}
            }]}]
        }]
    }))
    .expect("metrics request");
    let mut metrics = MetricsServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    metrics
        .export(metrics_request)
        .await
        .expect("metrics export");
    let stored = common::stored_metric(&server, "tokens.used", 10).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value, 1234.0);
    assert_eq!(stored[0].cloud_role_name, "svc");
    server.stop().await;
}

#[tokio::test]
async fn http_protobuf_json_and_gzip() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let json = client
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/json")
        .body(fixture("otlp/rag-api-traces-4.json"))
        .send()
        .await
        .expect("json post");
    assert_eq!(json.status(), 200);
    assert_eq!(json.headers()["content-type"], "application/json");
    assert_eq!(json.text().await.expect("body"), "{}");

    let protobuf = client
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gzip(&fixture("otlp/rag-api-traces-2.pb")))
        .send()
        .await
        .expect("protobuf post");
    assert_eq!(protobuf.status(), 200);
    assert_eq!(protobuf.headers()["content-type"], "application/x-protobuf");
    let decoded = ExportTraceServiceResponse::decode(protobuf.bytes().await.expect("body"))
        .expect("protobuf response");
    assert_eq!(decoded.partial_success, None);

    let logs = client
        .post(server.http_url("/v1/logs"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&fixture("otlp/rag-api-logs-1.json")))
        .send()
        .await
        .expect("logs post");
    assert_eq!(logs.status(), 200);
    assert_rag_trace_stored(&server).await;
    let items = server.store.operation("", OK_TRACE).await.expect("read");
    assert_eq!(items.traces.len(), 6);
    server.stop().await;
}

#[tokio::test]
async fn partial_success_reports_rejected_spans_with_http_200() {
    let server = TestServer::start().await;
    let mut request = traces_json("otlp/rag-api-traces-2.json");
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1, 2, 3];
    let response = reqwest::Client::new()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let decoded = ExportTraceServiceResponse::decode(response.bytes().await.expect("body"))
        .expect("response decodes");
    let partial = decoded.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(partial.error_message, "trace id must be 16 bytes, got 3");

    let mut client = TraceServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    let grpc = client
        .export(request)
        .await
        .expect("grpc export")
        .into_inner();
    assert_eq!(grpc.partial_success.map(|p| p.rejected_spans), Some(1));
    server.stop().await;
}

#[tokio::test]
async fn empty_requests_are_accepted() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for (content_type, body) in [
        ("application/json", &b"{}"[..]),
        ("application/json", b""),
        ("application/x-protobuf", b""),
    ] {
        for path in ["/v1/traces", "/v1/logs", "/v1/metrics"] {
            let response = client
                .post(server.http_url(path))
                .header("content-type", content_type)
                .body(body.to_vec())
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 200, "{path} {content_type} {body:?}");
        }
    }
    let mut grpc = TraceServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    grpc.export(ExportTraceServiceRequest::default())
        .await
        .expect("empty grpc export");
    server.stop().await;
}

/// The protobuf JSON mapping lets enums be named (`"kind": "SPAN_KIND_SERVER"`), and the
/// OpenTelemetry Collector takes that; so does tracehouse, with the same result as numbers.
#[tokio::test]
async fn otlp_json_takes_enum_names() {
    let server = TestServer::start().await;
    let mut request: serde_json::Value =
        serde_json::from_slice(&fixture("otlp/rag-api-traces-4.json")).expect("fixture");
    let kinds = [
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
    ];
    let mut named = 0;
    for resource in request["resourceSpans"].as_array_mut().expect("resources") {
        for scope in resource["scopeSpans"].as_array_mut().expect("scopes") {
            for span in scope["spans"].as_array_mut().expect("spans") {
                if let Some(kind) = span["kind"].as_u64() {
                    span["kind"] = kinds[kind as usize].into();
                    named += 1;
                }
                if span["status"]["code"].as_u64() == Some(2) {
                    span["status"]["code"] = "STATUS_CODE_ERROR".into();
                }
            }
        }
    }
    assert!(named > 0);
    let response = reqwest::Client::new()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let stored = server.store.operation("", OK_TRACE).await.expect("read");
    let request = stored
        .spans
        .iter()
        .find(|s| s.table == SpanTable::Request)
        .expect("the SERVER span is a request");
    assert_eq!(request.name, "POST /chat");
    server.stop().await;
}

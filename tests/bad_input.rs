//! Hostile and broken input: each gets the documented response, nothing else is lost, and the
//! server keeps serving.

mod common;

use common::{TestServer, fixture, gzip};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tracehouse::ingest::RpcStatus;

const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const OK_TRACE: &str = "525c5c3e165dd9b6d4c8f046107e8324";

async fn post(server: &TestServer, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http_url("/v1/traces"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post")
}

/// A span from the fixture, with its attributes replaced by the given JSON.
fn span_with_attributes(attributes: serde_json::Value) -> serde_json::Value {
    let mut request: serde_json::Value =
        serde_json::from_slice(&fixture("otlp/rag-api-traces-2.json")).expect("fixture");
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = attributes;
    request["resourceSpans"][0]["scopeSpans"]
        .as_array_mut()
        .expect("scopes")
        .truncate(1);
    request
}

async fn assert_still_serving(server: &TestServer) {
    let response = post(
        server,
        "application/json",
        fixture("otlp/rag-api-traces-4.json"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        !server
            .store
            .operation("", OK_TRACE)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn undecodable_bodies_get_400_with_a_status_in_their_encoding() {
    let server = TestServer::start().await;
    let mut truncated = fixture("otlp/rag-api-traces-2.pb");
    truncated.truncate(truncated.len() / 2);
    let response = post(&server, "application/x-protobuf", truncated).await;
    assert_eq!(response.status(), 400);
    let status = RpcStatus::decode(response.bytes().await.expect("body")).expect("rpc status");
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(
        status.message.starts_with("invalid protobuf"),
        "{}",
        status.message
    );

    let response = post(
        &server,
        "application/json",
        b"{\"resourceSpans\": [".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let status: serde_json::Value = response.json().await.expect("json status");
    assert_eq!(status["code"], 3);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid OTLP/JSON")
    );

    let response = post(&server, "application/json", b"[1,2,3]".to_vec()).await;
    assert_eq!(response.status(), 400, "JSON of the wrong shape");

    let response = post(&server, "text/plain", b"hello".to_vec()).await;
    assert_eq!(response.status(), 415);
    assert_still_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_rejects_the_span_and_keeps_the_rest() {
    let server = TestServer::start().await;
    let mut request =
        ExportTraceServiceRequest::decode(fixture("otlp/rag-api-traces-2.pb").as_slice())
            .expect("capture");
    request.resource_spans[0].scope_spans[0].spans[0].name = "MARKER".into();
    let mut body = request.encode_to_vec();
    let at = body
        .windows(6)
        .position(|w| w == b"MARKER")
        .expect("marker in encoding");
    body[at] = 0xff;
    let response = post(&server, "application/x-protobuf", body.clone()).await;
    assert_eq!(response.status(), 200);
    let decoded = ExportTraceServiceResponse::decode(response.bytes().await.expect("body"))
        .expect("response");
    let partial = decoded.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(partial.error_message, "invalid UTF-8 in span name");
    let stored = server.store.operation("", OK_TRACE).await.expect("read");
    assert_eq!(
        stored.spans.len(),
        1,
        "the well-formed span of the request is kept"
    );

    let reply = common::raw_grpc_call(server.grpc_url(), TRACE_EXPORT, body)
        .await
        .expect("grpc answers with partial success");
    let decoded = ExportTraceServiceResponse::decode(reply.as_slice()).expect("response");
    assert_eq!(decoded.partial_success.map(|p| p.rejected_spans), Some(1));

    // Broken framing is still a whole-request error, on both transports.
    let error = common::raw_grpc_call(server.grpc_url(), TRACE_EXPORT, vec![0x0a, 0x05, 0x01])
        .await
        .expect_err("truncated");
    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error:?}");
    assert_still_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_and_gzip_bombs_get_413() {
    let server = TestServer::start_with(|c| c.ingest.max_body_bytes = 64 * 1024, None).await;
    let response = post(&server, "application/x-protobuf", vec![0u8; 100 * 1024]).await;
    assert_eq!(response.status(), 413);

    let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let response = reqwest::Client::new()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let status: serde_json::Value = response.json().await.expect("json status");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("decompressed")
    );

    let mut client = TraceServiceClient::connect(server.grpc_url())
        .await
        .expect("connect");
    let mut big = ExportTraceServiceRequest::decode(fixture("otlp/rag-api-traces-2.pb").as_slice())
        .expect("capture");
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(100 * 1024);
    let error = client.export(big).await.expect_err("too large");
    assert_eq!(
        error.code(),
        tonic::Code::OutOfRange,
        "tonic's message size limit"
    );
    // A gzip bomb over gRPC is over the same limit once inflated: OUT_OF_RANGE too, which
    // exporters do not retry (tonic says RESOURCE_EXHAUSTED, which they would retry forever).
    let mut bomb =
        ExportTraceServiceRequest::decode(fixture("otlp/rag-api-traces-2.pb").as_slice())
            .expect("capture");
    bomb.resource_spans[0].scope_spans[0].spans[0].name = " ".repeat(1024 * 1024);
    let error = client
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .export(bomb)
        .await
        .expect_err("too large once inflated");
    assert_eq!(error.code(), tonic::Code::OutOfRange, "{error}");
    assert!(error.message().contains("65536"), "{error}");
    assert_still_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn ten_thousand_attributes_are_capped_not_refused() {
    let server = TestServer::start().await;
    let attributes: Vec<serde_json::Value> = (0..10_000)
        .map(|i| serde_json::json!({"key": format!("k{i}"), "value": {"stringValue": "v"}}))
        .collect();
    let request = span_with_attributes(serde_json::Value::Array(attributes));
    let response = post(
        &server,
        "application/json",
        request.to_string().into_bytes(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "{}");
    let items = server.store.operation("", OK_TRACE).await.expect("read");
    let dims = &items.spans[0].dimensions;
    // The cap is on what the client sent; tracehouse's own keys (the drop marker, the service
    // name and namespace as sent, span name, kind and status where the row does not imply them)
    // come on top and are never crowded out.
    let sent = dims
        .iter()
        .filter(|(k, _)| k.starts_with('k') && k[1..].parse::<u32>().is_ok())
        .count();
    assert_eq!(sent, 256, "{dims:?}");
    assert!(dims.len() <= 256 + 8, "{dims:?}");
    assert!(
        dims.iter()
            .any(|(k, v)| k == "_tracehouse.dropped_attributes" && v == "9744")
    );
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_values_are_rendered_or_refused_never_crash() {
    // Each AnyValue level is three JSON levels; serde_json stops at 128.
    let server = TestServer::start().await;
    // Built as text: a deeply nested serde_json::Value would overflow the test's own stack.
    let nested = |depth: usize| {
        let open = r#"{"arrayValue":{"values":["#.repeat(depth);
        let close = "]}}".repeat(depth);
        let value = format!(r#"{open}{{"stringValue":"leaf"}}{close}"#);
        let request = span_with_attributes(serde_json::json!([])).to_string();
        request.replacen(
            r#""attributes":[]"#,
            &format!(r#""attributes":[{{"key":"deep","value":{value}}}]"#),
            1,
        )
    };
    let shallow = post(&server, "application/json", nested(20).into_bytes()).await;
    assert_eq!(shallow.status(), 200);
    // Past serde_json's 128 levels (100 values deep is 300 JSON levels) the request is still
    // taken, as its protobuf form would be; the value is cut when rendered.
    let hundred = post(&server, "application/json", nested(100).into_bytes()).await;
    assert_eq!(hundred.status(), 200);
    let deep = post(&server, "application/json", nested(5_000).into_bytes()).await;
    assert_eq!(deep.status(), 400);

    let within_prost_limit =
        post(&server, "application/x-protobuf", nested_protobuf_span(45)).await;
    assert_eq!(within_prost_limit.status(), 200);
    // Nested values are read lazily, so depth costs nothing until rendered, and rendering
    // stops at 32 levels.
    let response = post(&server, "application/x-protobuf", nested_protobuf_span(150)).await;
    assert_eq!(response.status(), 200);
    let stored = server
        .store
        .operation("", &hex::encode([7u8; 16]))
        .await
        .expect("read");
    // The 100-deep JSON value and the 150-deep protobuf one, each cut at 32 levels.
    let capped = stored
        .spans
        .iter()
        .filter_map(|span| span.dimensions.iter().find(|(k, _)| k == "deep"))
        .filter(|(_, value)| value.contains("\"...\""))
        .count();
    assert_eq!(capped, 2, "rendering was capped");
    assert_still_serving(&server).await;
    server.stop().await;
}

/// A length-delimited protobuf field.
fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// An export request whose one span carries an attribute nested `depth` arrays deep, encoded
/// by hand because prost refuses to encode what it would refuse to decode.
fn nested_protobuf_span(depth: usize) -> Vec<u8> {
    let mut value = field(0x0a, b"leaf"); // AnyValue.string_value
    for _ in 0..depth {
        let array = field(0x0a, &value); // ArrayValue.values
        value = field(0x2a, &array); // AnyValue.array_value
    }
    let key_value = [field(0x0a, b"deep"), field(0x12, &value)].concat();
    let now = 1_795_362_937_000_000_000u64;
    let mut span = [field(0x0a, &[7; 16]), field(0x12, &[8; 8])].concat();
    span.push(0x39); // start_time_unix_nano, fixed64
    span.extend_from_slice(&now.to_le_bytes());
    span.push(0x41); // end_time_unix_nano, fixed64
    span.extend_from_slice(&(now + 1).to_le_bytes());
    span.extend(field(0x4a, &key_value)); // attributes
    let scope_spans = field(0x12, &span);
    let resource_spans = field(0x12, &scope_spans);
    field(0x0a, &resource_spans)
}

#[tokio::test]
async fn a_span_ending_before_it_starts_is_rejected_alone() {
    let server = TestServer::start().await;
    let mut request =
        ExportTraceServiceRequest::decode(fixture("otlp/rag-api-traces-2.pb").as_slice())
            .expect("capture");
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.end_time_unix_nano = span.start_time_unix_nano - 1;
    let response = post(&server, "application/x-protobuf", request.encode_to_vec()).await;
    assert_eq!(response.status(), 200);
    let decoded = ExportTraceServiceResponse::decode(response.bytes().await.expect("body"))
        .expect("response");
    let partial = decoded.partial_success.expect("partial");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial
            .error_message
            .starts_with("span ends before it starts")
    );
    let items = server.store.operation("", OK_TRACE).await.expect("read");
    assert_eq!(
        items.spans.len(),
        1,
        "the other span of the request is stored"
    );
    server.stop().await;
}

/// Resource attributes are stored with every row: 64 of 16,000 bytes shared by 2,000 tiny spans
/// (a 1 MB request) would store 2 GB. It is refused with 413 before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_small_request_whose_rows_would_store_gigabytes_is_refused() {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let server = TestServer::start().await;
    let now = tracehouse::clock::now_ns() as u64;
    let attributes = (0..64)
        .map(|i| KeyValue {
            key: format!("big.{i}"),
            value: Some(AnyValue {
                value: Some(Value::StringValue("x".repeat(16_000))),
            }),
            ..Default::default()
        })
        .collect();
    let spans = (0..2_000u64)
        .map(|i| Span {
            trace_id: [7u8; 16].to_vec(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: "tiny".into(),
            kind: 3,
            start_time_unix_nano: now - 2_000_000,
            end_time_unix_nano: now - 1_000_000,
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = request.encode_to_vec();
    assert!(body.len() < 2 * 1024 * 1024, "{}", body.len());
    let response = post(&server, "application/x-protobuf", body).await;
    assert_eq!(response.status(), 413);
    let status = RpcStatus::decode(response.bytes().await.expect("body")).expect("status");
    assert!(
        status.message.contains("--max-request-stored-bytes"),
        "{}",
        status.message
    );
    let stored = server
        .store
        .operation("", &hex::encode([7u8; 16]))
        .await
        .expect("read");
    assert!(stored.is_empty(), "nothing of it was written");
    assert_still_serving(&server).await;
    server.stop().await;
}

/// A Live Metrics post over the body limit gets the limit's `413` (and a gzip bomb the same),
/// like every ingest path, not a generic `400`.
#[tokio::test(flavor = "multi_thread")]
async fn live_metrics_bodies_over_the_limit_get_413() {
    let server = TestServer::start_with(|config| config.ingest.max_body_bytes = 4096, None).await;
    let point = format!(
        r#"[{{"Instance": "pod-1", "RoleName": "api", "Padding": "{}"}}]"#,
        "x".repeat(10_000)
    );
    for (encoding, body) in [
        (None, point.clone().into_bytes()),
        (Some("gzip"), gzip(point.as_bytes())),
    ] {
        let mut request = reqwest::Client::new()
            .post(server.http_url("/QuickPulseService.svc/post"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = request.send().await.expect("post");
        assert_eq!(response.status(), 413, "{encoding:?}");
    }
    server.stop().await;
}

//! The Tempo (`/tempo`) and Jaeger (`/jaeger`) APIs Grafana's built-in data sources call, on
//! SQLite and both ClickHouse engines: the trace sent as OTLP comes back span by span as OTLP
//! protobuf (ids, parents, names, kinds, times to the nanosecond, typed attributes, status,
//! events), TraceQL search finds the seed story's slow call and its throttled attempts, and
//! Jaeger lists services, operations, traces and dependencies.

mod common;

use common::TestServer;
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::{SEED, Scenario, operation_id, post};
use common::tempo::{attributes, get_json, get_raw, protobuf_trace, spans_of};
use opentelemetry_proto::tonic::trace::v1::{Span, TracesData};
use prost::Message;

async fn traces_round_trip_and_search(server: TestServer) {
    let scenario = Scenario::new();
    let request = scenario.traces_request();
    post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        request.encode_to_vec(),
    )
    .await;
    let seed = operation_id(SEED);
    let sent: Vec<Span> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| hex::encode(&s.trace_id) == seed)
        .cloned()
        .collect();
    let data = protobuf_trace(&server, &format!("/tempo/api/traces/{seed}"), sent.len()).await;
    let received = spans_of(&data);
    assert_eq!(received.len(), sent.len());
    for span in &sent {
        let (_, got) = received
            .iter()
            .find(|(_, r)| r.span_id == span.span_id)
            .unwrap_or_else(|| panic!("span {} missing", span.name));
        assert_eq!(got.trace_id, span.trace_id);
        assert_eq!(got.parent_span_id, span.parent_span_id, "{}", span.name);
        assert_eq!(got.name, span.name);
        assert_eq!(got.kind, span.kind, "{}", span.name);
        assert_eq!(got.start_time_unix_nano, span.start_time_unix_nano);
        assert_eq!(got.end_time_unix_nano, span.end_time_unix_nano);
        assert_eq!(
            attributes(&got.attributes),
            attributes(&span.attributes),
            "{}",
            span.name
        );
        let code = |s: &Span| s.status.as_ref().map_or(0, |s| s.code);
        assert_eq!(code(got), code(span), "{}", span.name);
        let events = |s: &Span| {
            s.events
                .iter()
                .map(|e| (e.name.clone(), e.time_unix_nano))
                .collect::<Vec<_>>()
        };
        assert_eq!(events(got), events(span), "{}", span.name);
    }
    // v2 wraps the same trace; JSON has it as batches.
    let (status, body) = get_raw(
        &server,
        &format!("/tempo/api/v2/traces/{seed}"),
        "application/protobuf",
    )
    .await;
    assert_eq!(status, 200);
    let mut wrapped = body.as_slice();
    let tag = prost::encoding::decode_varint(&mut wrapped).expect("tag");
    assert_eq!(tag, (1 << 3) | 2, "field 1, length-delimited");
    let len = prost::encoding::decode_varint(&mut wrapped).expect("length") as usize;
    assert_eq!(TracesData::decode(&wrapped[..len]).expect("trace"), data);
    let (status, json) = get_json(&server, &format!("/tempo/api/traces/{seed}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        json["batches"].as_array().map(Vec::len),
        Some(data.resource_spans.len())
    );
    let (status, _) = get_json(
        &server,
        "/tempo/api/traces/00000000000000000000000000000bad",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&server, "/tempo/api/traces/not-hex").await;
    assert_eq!(status, 400);

    // Search, as Grafana's search form asks it.
    let range = format!(
        "start={}&end={}",
        scenario.start(0) / 1_000_000_000 - 60,
        scenario.start(SEED) / 1_000_000_000 + 60
    );
    let q = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let (status, slow) = get_json(
        &server,
        &format!(
            "/tempo/api/search?q={}&limit=20&spss=3&{range}",
            q(r#"{resource.service.name="chat-api" && name="POST /chat" && duration>5s}"#)
        ),
    )
    .await;
    assert_eq!(status, 200, "{slow}");
    let traces = slow["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 1, "{slow}");
    assert_eq!(traces[0]["traceID"], seed);
    assert_eq!(traces[0]["rootServiceName"], "chat-api");
    assert_eq!(traces[0]["rootTraceName"], "POST /chat");
    assert!(traces[0]["durationMs"].as_i64() >= Some(7_700), "{slow}");
    let (_, throttled) = get_json(
        &server,
        &format!(
            "/tempo/api/search?q={}&spss=10&{range}",
            q("{span.http.response.status_code=429}")
        ),
    )
    .await;
    let hit = throttled["traces"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["traceID"] == seed).cloned())
        .unwrap_or_else(|| panic!("seed not found: {throttled}"));
    assert_eq!(hit["spanSets"][0]["matched"], 3, "{hit}");
    assert_eq!(
        hit["spanSets"][0]["spans"][0]["attributes"][0]["key"],
        "http.response.status_code"
    );
    let (status, refused) = get_json(
        &server,
        &format!("/tempo/api/search?q={}", q("{} | count() > 2")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(refused.to_string().contains("not supported"), "{refused}");

    // Tags and values; Grafana encodes the tag name, some versions twice.
    let (_, tags) = get_json(&server, &format!("/tempo/api/v2/search/tags?{range}")).await;
    let scope = |name: &str| {
        tags["scopes"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_default()
            .to_string()
    };
    assert!(scope("resource").contains("service.name"), "{tags}");
    assert!(scope("span").contains("http.route"), "{tags}");
    assert!(scope("intrinsic").contains("duration"), "{tags}");
    let (_, values) = get_json(
        &server,
        &format!("/tempo/api/v2/search/tag/resource.service%252Ename/values?{range}"),
    )
    .await;
    assert!(values.to_string().contains("chat-api"), "{values}");
    let (_, codes) = get_json(
        &server,
        &format!("/tempo/api/v2/search/tag/span.http.response.status_code/values?{range}"),
    )
    .await;
    assert!(
        codes
            .to_string()
            .contains(r#"{"type":"int","value":"429"}"#),
        "{codes}"
    );
    let (status, echo) = get_raw(&server, "/tempo/api/echo", "*/*").await;
    assert_eq!((status, echo.as_slice()), (200, b"echo".as_slice()));
    let (_, build) = get_json(&server, "/tempo/api/status/buildinfo").await;
    assert!(
        build["version"]
            .as_str()
            .is_some_and(|v| v.starts_with('2'))
    );

    // Jaeger.
    let (_, services) = get_json(&server, "/jaeger/api/services").await;
    assert!(
        services["data"].to_string().contains("chat-api"),
        "{services}"
    );
    assert!(
        services["data"].to_string().contains("search-svc"),
        "{services}"
    );
    let (_, operations) = get_json(
        &server,
        "/jaeger/api/operations?service=chat-api&spanKind=server",
    )
    .await;
    assert!(
        operations["data"].as_array().is_some_and(|o| o
            .iter()
            .any(|o| o["name"] == "POST /chat" && o["spanKind"] == "server")),
        "{operations}"
    );
    let micros = |ns: u64| ns / 1_000;
    let (_, found) = get_json(
        &server,
        &format!(
            "/jaeger/api/traces?service=chat-api&operation={}&minDuration=5s&limit=20&start={}&end={}",
            q("POST /chat"),
            micros(scenario.start(0)) - 60_000_000,
            micros(scenario.start(SEED)) + 60_000_000
        ),
    )
    .await;
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["data"][0]["traceID"], seed);
    let (_, trace) = get_json(&server, &format!("/jaeger/api/traces/{seed}")).await;
    let spans = trace["data"][0]["spans"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(spans.len(), sent.len(), "{trace}");
    assert!(
        spans
            .iter()
            .all(|s| s["processID"].is_string() && s["startTime"].is_u64())
    );
    let (_, graph) = get_json(
        &server,
        &format!(
            "/jaeger/api/dependencies?endTs={}&lookback=3600000",
            scenario.start(SEED) / 1_000_000 + 60_000
        ),
    )
    .await;
    assert!(
        graph["data"].as_array().is_some_and(|d| d
            .iter()
            .any(|l| l["parent"] == "chat-api" && l["child"] == "search-svc")),
        "{graph}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tempo_and_jaeger_on_sqlite() {
    traces_round_trip_and_search(TestServer::start().await).await;
}

async fn tempo_and_jaeger_on(engine: Engine) {
    let server = TestServer::start_on_engine(engine, &database_for("tempo"), |_| {}).await;
    traces_round_trip_and_search(server).await;
}

on_both_engines!(tempo_and_jaeger_on);

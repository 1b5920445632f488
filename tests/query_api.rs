//! The query API conformance suite: the same telemetry (generated traces with known durations,
//! the seed story, and the captured fixtures) goes through the OTLP endpoints of a SQLite and a
//! ClickHouse tracehouse; both must give identical answers, equal to values computed here from
//! the generated durations.

mod common;

use std::time::{Duration, Instant};

use common::clickhouse::{database_for, shared_url};
use common::{TestServer, fixture};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::Value;
use tracehouse::query::time::format_instant;

const MS: u64 = 1_000_000;
/// `POST /chat` calls: 49 ordinary ones and the seed story.
const CALLS: u64 = 50;
const SEED: u64 = CALLS;
const AOAI: &str = "aoai.openai.azure.com";

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn trace_id(call: u64) -> Vec<u8> {
    let mut id = vec![0x5e; 8];
    id.extend_from_slice(&call.to_be_bytes());
    id
}

fn operation_id(call: u64) -> String {
    hex::encode(trace_id(call))
}

fn span_id(call: u64, n: u8) -> Vec<u8> {
    let mut id = call.to_be_bytes().to_vec();
    id[0] = n;
    id
}

/// Duration of call `i`'s `POST /chat` in ms: 1010..=1490, and 7700 for the seed.
fn request_ms(call: u64) -> u64 {
    if call == SEED {
        7_700
    } else {
        1_000 + 10 * call
    }
}

fn fails(call: u64) -> bool {
    call.is_multiple_of(10) && call != SEED
}

struct Scenario {
    base_ns: u64,
}

impl Scenario {
    fn new() -> Self {
        let now = tracehouse::clock::now_ns() as u64;
        let minute = 60_000 * MS;
        Scenario {
            base_ns: (now - 20 * minute) / minute * minute,
        }
    }

    fn start(&self, call: u64) -> u64 {
        self.base_ns + call * 1_000 * MS
    }

    fn range(&self) -> String {
        format!(
            "from={}&to={}",
            format_instant((self.base_ns - 60_000 * MS) as i64),
            format_instant((self.base_ns + 600_000 * MS) as i64)
        )
    }

    fn span(&self, call: u64, n: u8, parent: Option<u8>, name: &str, kind: i32) -> Span {
        Span {
            trace_id: trace_id(call),
            span_id: span_id(call, n),
            parent_span_id: parent.map(|p| span_id(call, p)).unwrap_or_default(),
            name: name.into(),
            kind,
            ..Default::default()
        }
    }

    fn timed(mut span: Span, start: u64, ms: u64) -> Span {
        span.start_time_unix_nano = start;
        span.end_time_unix_nano = start + ms * MS;
        span
    }

    /// The chat API's spans for one call: the request, a search call, the GenAI call and its
    /// HTTP attempts (three 429s before the answer in the seed story).
    fn chat_api_spans(&self, call: u64) -> Vec<Span> {
        let start = self.start(call);
        let total = request_ms(call);
        let search_ms = if call == SEED { 300 } else { 100 };
        let mut request = Self::timed(self.span(call, 1, None, "POST /chat", 2), start, total);
        let status = if fails(call) { 500 } else { 200 };
        request.attributes = vec![
            text("http.request.method", "POST"),
            text("http.route", "/chat"),
            text("url.path", "/chat"),
            text("url.scheme", "http"),
            int("http.response.status_code", status),
            text(
                "tenant",
                if call.is_multiple_of(2) {
                    "contoso"
                } else {
                    "fabrikam"
                },
            ),
        ];
        if fails(call) {
            request.status = Some(Status {
                code: 2,
                message: "bad prompt".into(),
            });
            request.events = vec![Event {
                time_unix_nano: start + 5 * MS,
                name: "exception".into(),
                attributes: vec![
                    text("exception.type", "ValueError"),
                    text("exception.message", &format!("bad prompt {call}")),
                    text(
                        "exception.stacktrace",
                        "Traceback (most recent call last):\n  File \"app.py\", line 1\nValueError",
                    ),
                ],
                ..Default::default()
            }];
        }
        let mut search = Self::timed(
            self.span(call, 2, Some(1), "GET", 3),
            start + 2 * MS,
            search_ms,
        );
        search.attributes = vec![
            text("http.request.method", "GET"),
            text("url.full", "http://search-svc:8000/search?q=x"),
            text("server.address", "search-svc"),
            int("server.port", 8000),
            int("http.response.status_code", 200),
        ];
        let chat_start = start + (search_ms + 10) * MS;
        let chat_ms = total - search_ms - 20;
        let mut chat = Self::timed(
            self.span(call, 3, Some(1), "chat gpt-4o", 3),
            chat_start,
            chat_ms,
        );
        chat.attributes = vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.system", "openai"),
            text("gen_ai.request.model", "gpt-4o"),
            text("gen_ai.response.model", "gpt-4o-2024-08-06"),
            int("gen_ai.usage.input_tokens", 100),
            int("gen_ai.usage.output_tokens", 50),
            text("server.address", AOAI),
        ];
        let mut spans = vec![request, search, chat];
        let attempts: Vec<(u64, u64, i64)> = if call == SEED {
            vec![
                (10, 200, 429),
                (1_220, 210, 429),
                (3_440, 190, 429),
                (5_680, 1_650, 200),
            ]
        } else {
            vec![(5, chat_ms - 10, 200)]
        };
        for (n, (offset, ms, status)) in attempts.into_iter().enumerate() {
            let mut attempt = Self::timed(
                self.span(call, 4 + n as u8, Some(3), "POST", 3),
                chat_start + offset * MS,
                ms,
            );
            attempt.attributes = vec![
                text("http.request.method", "POST"),
                text(
                    "url.full",
                    &format!("https://{AOAI}/openai/deployments/gpt-4o/chat/completions"),
                ),
                text("server.address", AOAI),
                int("http.response.status_code", status),
            ];
            if status >= 400 {
                attempt.status = Some(Status {
                    code: 2,
                    message: String::new(),
                });
            }
            spans.push(attempt);
        }
        spans
    }

    /// The search service's request, child of the chat API's search call.
    fn search_svc_span(&self, call: u64) -> Span {
        let mut span = Self::timed(
            self.span(call, 9, Some(2), "GET /search", 2),
            self.start(call) + 3 * MS,
            80,
        );
        span.attributes = vec![
            text("http.request.method", "GET"),
            text("http.route", "/search"),
            int("http.response.status_code", 200),
        ];
        span
    }

    fn traces_request(&self) -> ExportTraceServiceRequest {
        let resource = |name: &str| {
            Some(Resource {
                attributes: vec![
                    text("service.name", name),
                    text("service.instance.id", "pod-1"),
                ],
                ..Default::default()
            })
        };
        let calls = 1..=CALLS;
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: resource("chat-api"),
                    scope_spans: vec![ScopeSpans {
                        spans: calls.clone().flat_map(|c| self.chat_api_spans(c)).collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: resource("search-svc"),
                    scope_spans: vec![ScopeSpans {
                        spans: calls.map(|c| self.search_svc_span(c)).collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        }
    }

    fn logs_request(&self) -> ExportLogsServiceRequest {
        let records = (1..=CALLS)
            .map(|call| LogRecord {
                time_unix_nano: self.start(call) + MS,
                severity_number: if fails(call) { 17 } else { 9 },
                severity_text: if fails(call) { "ERROR" } else { "INFO" }.into(),
                body: Some(AnyValue {
                    value: Some(Any::StringValue(format!("answered chat call {call}"))),
                }),
                trace_id: trace_id(call),
                span_id: span_id(call, 1),
                ..Default::default()
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![text("service.name", "chat-api")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

async fn post(server: &TestServer, path: &str, content_type: &str, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(server.http_url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200, "{path}");
}

async fn load(server: &TestServer, scenario: &Scenario) {
    post(
        server,
        "/v1/traces",
        "application/x-protobuf",
        scenario.traces_request().encode_to_vec(),
    )
    .await;
    post(
        server,
        "/v1/logs",
        "application/x-protobuf",
        scenario.logs_request().encode_to_vec(),
    )
    .await;
    post(
        server,
        "/v1/traces",
        "application/json",
        fixture("otlp/rag-api-traces-4.json"),
    )
    .await;
    post(
        server,
        "/v1/logs",
        "application/json",
        fixture("otlp/rag-api-logs-1.json"),
    )
    .await;
}

async fn get(server: &TestServer, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(server.api_url(path_and_query))
        .send()
        .await
        .expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

async fn ok(server: &TestServer, path_and_query: &str) -> Value {
    let (status, body) = get(server, path_and_query).await;
    assert_eq!(status, 200, "{path_and_query}: {body}");
    body
}

/// Waits until everything sent is queryable (ClickHouse gets it through the spool).
async fn wait_until_stored(server: &TestServer, scenario: &Scenario) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let path = format!("/api/v1/performance?group_by=role&{}", scenario.range());
    let dependencies = format!(
        "/api/v1/performance?table=dependencies&group_by=role&{}",
        scenario.range()
    );
    let logs = format!(
        "/api/v1/search?kind=traces&q=answered&limit=1000&{}",
        scenario.range()
    );
    loop {
        let requests = ok(server, &path).await["rows"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r["count"].as_u64()).sum::<u64>())
            .unwrap_or(0);
        let calls = ok(server, &dependencies).await["rows"][0]["count"]
            .as_u64()
            .unwrap_or(0);
        let lines = ok(server, &logs).await["items"]
            .as_array()
            .map_or(0, Vec::len);
        if (requests, calls, lines) == (2 * CALLS, 3 * CALLS + 3, CALLS as usize) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored: {requests} requests, {calls} calls, {lines} lines"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Nearest-rank percentile over unweighted integer durations, computed independently.
fn nearest_rank(sorted: &[u64], percent: u64) -> u64 {
    let rank = (percent * sorted.len() as u64).div_ceil(100).max(1);
    sorted[rank as usize - 1]
}

/// Every query of the suite, with its answer; each answer is also checked against the
/// generated data.
async fn answers(server: &TestServer, scenario: &Scenario) -> Vec<(String, Value)> {
    let range = scenario.range();
    let mut all = Vec::new();
    let mut record = |path: String, value: Value| all.push((path, value));

    // The seed transaction: retries grouped, throttled time, the log line on its request.
    let path = format!("/api/v1/operations/{}", operation_id(SEED));
    let tx = ok(server, &path).await;
    assert_eq!(tx["operation_name"], "POST /chat");
    let names = tx["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| &n["operation_name"]);
    assert!(
        names.clone().all(|n| n == "POST /chat"),
        "every item named: {:?}",
        names.collect::<Vec<_>>()
    );
    assert_eq!(tx["roles"], serde_json::json!(["chat-api", "search-svc"]));
    let shape: Vec<(String, u64)> = tx["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or("").to_owned(),
                n["depth"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    let attempt = "POST /openai/deployments/gpt-4o/chat/completions";
    let expected: Vec<(String, u64)> = [
        ("POST /chat", 0),
        ("GET /search", 1),
        ("GET /search", 2),
        ("chat gpt-4o", 1),
        (attempt, 2),
        (attempt, 2),
        (attempt, 2),
        (attempt, 2),
    ]
    .iter()
    .map(|(n, d)| (n.to_string(), *d))
    .collect();
    assert_eq!(shape, expected);
    let retry = &tx["retries"][0];
    assert_eq!(
        (retry["throttled"].as_u64(), retry["succeeded"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(retry["time_before_success_ms"], 5_670.0);
    assert_eq!(retry["throttled_time_ms"], 600.0);
    assert_eq!(
        tx["nodes"][0]["logs"][0]["message"],
        "answered chat call 50"
    );
    assert_eq!(tx["duration_ms"], 7_700.0);
    record(path, tx);

    // A failing call: its exception sits on its request.
    let path = format!("/api/v1/operations/{}", operation_id(10));
    let tx = ok(server, &path).await;
    assert_eq!(
        tx["nodes"][0]["exceptions"][0]["exception_type"],
        "ValueError"
    );
    record(path, tx);

    // The captured fixture's transaction.
    let path = "/api/v1/operations/525c5c3e165dd9b6d4c8f046107e8324".to_owned();
    let tx = ok(server, &path).await;
    assert_eq!(tx["nodes"].as_array().map(Vec::len), Some(4));
    record(path, tx);

    // Percentiles of POST /chat, equal to the nearest rank of the generated durations.
    let mut durations: Vec<u64> = (1..=CALLS).map(request_ms).collect();
    durations.sort_unstable();
    let path = format!("/api/v1/performance?filter.role=chat-api&{range}");
    let perf = ok(server, &path).await;
    let row = &perf["rows"][0];
    assert_eq!(row["group"]["name"], "POST /chat");
    assert_eq!(row["count"], CALLS);
    assert_eq!(row["failed"], 4);
    for (name, percent) in [
        ("p50_ms", 50),
        ("p90_ms", 90),
        ("p95_ms", 95),
        ("p99_ms", 99),
    ] {
        assert_eq!(
            row[name].as_f64(),
            Some(nearest_rank(&durations, percent) as f64),
            "{name}"
        );
    }
    // The seed call is the p99, far from the p50.
    assert_eq!(row["p99_ms"], 7_700.0);
    assert_eq!(row["p50_ms"], 1_250.0);
    let sum: u64 = durations.iter().sum();
    assert_eq!(row["avg_ms"].as_f64(), Some(sum as f64 / CALLS as f64));
    assert_eq!(row["max_ms"], 7_700.0);
    record(path, perf);

    // A time series in one-minute buckets, grouped by a customDimensions filter.
    let path =
        format!("/api/v1/performance?filter.role=chat-api&dim.tenant=contoso&interval=1m&{range}");
    let series = ok(server, &path).await;
    let counted: u64 = series["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert_eq!(counted, CALLS / 2);
    record(path, series);

    // Dependencies by target and type.
    let path = format!(
        "/api/v1/performance?table=dependencies&group_by=target,type&filter.role=chat-api&{range}"
    );
    let deps = ok(server, &path).await;
    let aoai_attempts = deps["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["group"]["target"] == AOAI && r["group"]["type"] == "HTTP")
        .unwrap_or_else(|| panic!("{deps}"));
    assert_eq!(aoai_attempts["count"], CALLS + 3);
    assert_eq!(aoai_attempts["failed"], 3);
    record(path, deps);

    // The samples behind p95–p99 include the seed call; p50–p90 does not.
    let path = format!(
        "/api/v1/samples?filter.name=POST%20/chat&filter.role=chat-api&band=p95-p99&{range}"
    );
    let samples = ok(server, &path).await;
    let ids: Vec<&str> = samples["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["operation_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [operation_id(SEED), operation_id(49), operation_id(48)]
    );
    record(path, samples);
    let path = format!(
        "/api/v1/samples?filter.name=POST%20/chat&filter.role=chat-api&band=p50-p90&limit=50&{range}"
    );
    let samples = ok(server, &path).await;
    assert_eq!(samples["items"].as_array().map(Vec::len), Some(21));
    assert!(!samples.to_string().contains(&operation_id(SEED)));
    record(path, samples);

    // Pages follow each other without gaps or repeats.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let path =
            format!("/api/v1/samples?filter.role=chat-api&order=newest&limit=20{cursor}&{range}");
        let page = ok(server, &path).await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|s| s["operation_id"].clone()),
        );
        let next = page["next_cursor"].as_str().map(str::to_owned);
        record(path, page);
        match next {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<Value> = (1..=CALLS)
        .rev()
        .map(|c| Value::from(operation_id(c)))
        .collect();
    assert_eq!(seen, expected);

    // Failures: the 500s, the 429s, the exceptions.
    let path = format!("/api/v1/failures?filter.role=chat-api&{range}");
    let failures = ok(server, &path).await;
    let requests = &failures["requests"]["rows"][0];
    assert_eq!(
        (
            requests["group"]["result_code"].as_str(),
            requests["count"].as_u64()
        ),
        (Some("500"), Some(4))
    );
    let throttled = failures["dependencies"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["group"]["result_code"] == "429" && r["group"]["target"] == AOAI)
        .unwrap_or_else(|| panic!("{failures}"));
    assert_eq!(throttled["count"], 3);
    assert_eq!(throttled["sample_operation_id"], operation_id(SEED));
    let exceptions = &failures["exceptions"]["rows"][0];
    assert_eq!(
        (
            exceptions["group"]["exception_type"].as_str(),
            exceptions["count"].as_u64()
        ),
        (Some("ValueError"), Some(4))
    );
    record(path, failures);

    // The application map: chat-api calls search-svc (its request was received) and Azure OpenAI.
    let path = format!("/api/v1/map?{range}");
    let map = ok(server, &path).await;
    let edges: Vec<(String, String, u64)> = map["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap_or("").into(),
                e["to"].as_str().unwrap_or("").into(),
                e["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        edges.contains(&("role:chat-api".into(), "role:search-svc".into(), CALLS)),
        "{edges:?}"
    );
    assert!(
        edges.contains(&(
            "role:chat-api".into(),
            format!("external:HTTP:{AOAI}"),
            CALLS + 3
        )),
        "{edges:?}"
    );
    record(path, map);

    // GenAI usage: tokens, throttling inside the calls, latency per output token.
    let path = format!("/api/v1/genai/usage?{range}");
    let usage = ok(server, &path).await;
    let gpt = usage["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["model"] == "gpt-4o" && r["target"] == AOAI)
        .unwrap_or_else(|| panic!("{usage}"));
    assert_eq!(
        (
            gpt["calls"].as_u64(),
            gpt["input_tokens"].as_u64(),
            gpt["output_tokens"].as_u64()
        ),
        (Some(CALLS), Some(100 * CALLS), Some(50 * CALLS))
    );
    assert_eq!(gpt["throttled_attempts"], 3);
    assert_eq!(gpt["throttled_time_ms"], 600.0);
    // Calls start a second apart from a minute's start: all fall in one minute.
    assert_eq!(gpt["peak_tokens_per_minute"], 150 * CALLS);
    record(path, usage);

    // Search: text, severity, kind.
    let path = format!("/api/v1/search?q=CALL%2049&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"][0]["message"], "answered chat call 49");
    record(path, found);
    let path = format!("/api/v1/search?severity=error&kind=traces&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(4));
    record(path, found);
    let path = format!("/api/v1/search?kind=exceptions&q=valueerror&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(4));
    record(path, found);
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_and_clickhouse_give_the_same_answers() {
    let scenario = Scenario::new();
    let sqlite = TestServer::start().await;
    let clickhouse =
        TestServer::start_on_clickhouse(&shared_url(), &database_for("query_api"), |_| {}).await;
    let mut results = Vec::new();
    for server in [&sqlite, &clickhouse] {
        load(server, &scenario).await;
        wait_until_stored(server, &scenario).await;
        results.push(answers(server, &scenario).await);
    }
    for ((path, on_sqlite), (_, on_clickhouse)) in results[0].iter().zip(&results[1]) {
        assert_eq!(on_sqlite, on_clickhouse, "{path}");
    }
    assert_eq!(results[0].len(), results[1].len());
    sqlite.stop().await;
    clickhouse.stop().await;
}

#[tokio::test]
async fn hostile_parameters_get_400_naming_the_parameter() {
    let server = TestServer::start().await;
    for (query, parameter) in [
        (
            "/api/v1/performance?group_by=name;DROP TABLE requests",
            "group_by",
        ),
        ("/api/v1/performance?group_by=password", "group_by"),
        (
            "/api/v1/performance?filter.name'%20OR%20--=x",
            "filter.name' OR --",
        ),
        ("/api/v1/performance?from=1970-01-01T00:00:00Z", "from"),
        ("/api/v1/performance?from=yesterday", "from"),
        ("/api/v1/performance?from=2h&to=3h", "from"),
        ("/api/v1/performance?limit=-1", "limit"),
        ("/api/v1/performance?limit=99999999999999999999", "limit"),
        ("/api/v1/performance?interval=1s&from=7d", "interval"),
        ("/api/v1/performance?table=users", "table"),
        ("/api/v1/performance?select=*", "select"),
        ("/api/v1/performance?limit=1&limit=2", "limit"),
        ("/api/v1/samples?band=p99-p95", "band"),
        ("/api/v1/samples?min_ms=-5", "min_ms"),
        ("/api/v1/samples?cursor=AAAA", "cursor"),
        ("/api/v1/samples?order=random", "order"),
        ("/api/v1/search?severity=loud", "severity"),
        ("/api/v1/search?operation_id=x'%20OR%20''='", "operation_id"),
        ("/api/v1/operations/abc'%20OR%201=1", "operation_id"),
    ] {
        let (status, body) = get(&server, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
    // Values are data, never SQL: a name full of SQL simply matches nothing.
    let body = ok(&server, "/api/v1/performance?filter.name=x'%20OR%20'1'='1").await;
    assert_eq!(body["rows"], serde_json::json!([]));
    let (status, _) = get(
        &server,
        "/api/v1/operations/0123456789abcdef0123456789abcdef",
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_and_parameter() {
    let server = TestServer::start().await;
    let doc = ok(&server, "/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/api/v1/operations/{operation_id}",
        "/api/v1/performance",
        "/api/v1/samples",
        "/api/v1/failures",
        "/api/v1/map",
        "/api/v1/genai/usage",
        "/api/v1/search",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    let names: Vec<&str> = doc["paths"]["/api/v1/samples"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"band") && names.contains(&"cursor"),
        "{names:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let server = TestServer::start_with(
        |config| config.cors_origins = vec!["https://ops.example".into()],
        None,
    )
    .await;
    let client = reqwest::Client::new();
    let allowed = |origin: &'static str| {
        let request = client
            .get(server.api_url("/api/v1/openapi.json"))
            .header("origin", origin)
            .send();
        async move {
            request
                .await
                .expect("get")
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(
        allowed("https://ops.example").await.as_deref(),
        Some("https://ops.example")
    );
    assert_eq!(allowed("https://evil.example").await, None);
    server.stop().await;
}

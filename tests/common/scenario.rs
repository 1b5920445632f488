//! The seed story and its neighbours as OTLP: 50 `POST /chat` calls with known durations (the
//! last one the 7.7 s call throttled three times by Azure OpenAI), their log lines, and the
//! captured fixtures; loaded into a tracehouse and waited for until queryable.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::Value;
use tracehouse::time::format_instant;

use super::{TestServer, fixture};

pub const MS: u64 = 1_000_000;
/// `POST /chat` calls: 49 ordinary ones and the seed story.
pub const CALLS: u64 = 50;
pub const SEED: u64 = CALLS;
pub const AOAI: &str = "aoai.openai.azure.com";

pub fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

pub fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::IntValue(value)),
        }),
        ..Default::default()
    }
}

pub fn trace_id(call: u64) -> Vec<u8> {
    let mut id = vec![0x5e; 8];
    id.extend_from_slice(&call.to_be_bytes());
    id
}

pub fn operation_id(call: u64) -> String {
    hex::encode(trace_id(call))
}

pub fn span_id(call: u64, n: u8) -> Vec<u8> {
    let mut id = call.to_be_bytes().to_vec();
    id[0] = n;
    id
}

/// Duration of call `i`'s `POST /chat` in ms: 1010..=1490, and 7700 for the seed.
pub fn request_ms(call: u64) -> u64 {
    if call == SEED {
        7_700
    } else {
        1_000 + 10 * call
    }
}

pub fn fails(call: u64) -> bool {
    call.is_multiple_of(10) && call != SEED
}

pub struct Scenario {
    pub base_ns: u64,
}

impl Scenario {
    pub fn new() -> Self {
        let now = tracehouse::clock::now_ns() as u64;
        let minute = 60_000 * MS;
        Scenario {
            base_ns: (now - 20 * minute) / minute * minute,
        }
    }

    pub fn start(&self, call: u64) -> u64 {
        self.base_ns + call * 1_000 * MS
    }

    pub fn range(&self) -> String {
        format!(
            "from={}&to={}",
            format_instant((self.base_ns - 60_000 * MS) as i64),
            format_instant((self.base_ns + 600_000 * MS) as i64)
        )
    }

    pub fn span(&self, call: u64, n: u8, parent: Option<u8>, name: &str, kind: i32) -> Span {
        Span {
            trace_id: trace_id(call),
            span_id: span_id(call, n),
            parent_span_id: parent.map(|p| span_id(call, p)).unwrap_or_default(),
            name: name.into(),
            kind,
            ..Default::default()
        }
    }

    pub fn timed(mut span: Span, start: u64, ms: u64) -> Span {
        span.start_time_unix_nano = start;
        span.end_time_unix_nano = start + ms * MS;
        span
    }

    /// The chat API's spans for one call: the request, a search call, the GenAI call and its
    /// HTTP attempts (three 429s before the answer in the seed story).
    pub fn chat_api_spans(&self, call: u64) -> Vec<Span> {
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
            // Conversations of a few users; the GenAI call beneath inherits them.
            text("session.id", &format!("session-{}", call % 7)),
            text("user.id", &format!("user-{}", call % 3)),
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
            int("gen_ai.usage.reasoning_tokens", 20),
            text("server.address", AOAI),
            // A managed prompt, its version rolled out to the later calls.
            text("langfuse.prompt.name", "chat-answer"),
            int("langfuse.prompt.version", if call > 40 { 3 } else { 2 }),
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
    pub fn search_svc_span(&self, call: u64) -> Span {
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

    pub fn traces_request(&self) -> ExportTraceServiceRequest {
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

    pub fn logs_request(&self) -> ExportLogsServiceRequest {
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

pub async fn post(server: &TestServer, path: &str, content_type: &str, body: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(server.http_url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200, "{path}");
}

pub async fn load(server: &TestServer, scenario: &Scenario) {
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

pub async fn get(server: &TestServer, path_and_query: &str) -> (u16, Value) {
    get_as(server, None, path_and_query).await
}

/// A query API call with `Authorization: Bearer <token>` when a token is given.
pub async fn get_as(
    server: &TestServer,
    token: Option<&str>,
    path_and_query: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(server.api_url(path_and_query));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

pub async fn ok(server: &TestServer, path_and_query: &str) -> Value {
    let (status, body) = get(server, path_and_query).await;
    assert_eq!(status, 200, "{path_and_query}: {body}");
    body
}

/// Waits until everything sent is queryable (ClickHouse gets it through the spool).
pub async fn wait_until_stored(server: &TestServer, scenario: &Scenario) {
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
            server.wait_until_shipped().await;
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stored: {requests} requests, {calls} calls, {lines} lines"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts with `key`, retrying while the server has not yet read the key issued a moment ago.
pub async fn post_with_key(server: &TestServer, key: &str, path: &str, body: Vec<u8>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let response = reqwest::Client::new()
            .post(server.http_url(path))
            .header("content-type", "application/x-protobuf")
            .header("x-instrumentation-key", key)
            .body(body.clone())
            .send()
            .await
            .expect("post");
        if response.status() == 401 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(response.status(), 200, "{path}");
        return;
    }
}

pub async fn ok_as(server: &TestServer, token: &str, path: &str) -> Value {
    let (status, body) = get_as(server, Some(token), path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

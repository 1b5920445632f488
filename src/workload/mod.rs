//! A synthetic GenAI workload shaped like the FastAPI RAG service of the fixtures, for the
//! benchmarks and the load generator: per operation a `POST /chat` server span, a search call,
//! a `chat gpt-4o` span with GenAI attributes and its HTTP attempts (some 429), eleven
//! attributes per span on average. ASGI receive/send spans are left out, as many deployments
//! exclude them.

pub mod envelopes;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

/// Spans one synthetic operation produces (without throttling).
pub const SPANS_PER_OPERATION: usize = 4;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.to_owned()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// A tiny deterministic generator (xorshift) so runs are repeatable without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn bytes<const N: usize>(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(N);
        while out.len() < N {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(N);
        out
    }
}

/// Builds synthetic operations.
pub struct Workload {
    rng: Rng,
    /// Share of LLM calls answered with 429s first, in percent.
    pub throttled_percent: u64,
    /// When set, requests carry `session.id` and `user.id` (the chat's conversation and its
    /// user): a session runs for [`REQUESTS_PER_SESSION`] requests on average, of one of
    /// [`USERS`] users.
    pub sessions: bool,
    session: (u64, u64),
}

/// Requests one synthetic chat session makes, on average.
pub const REQUESTS_PER_SESSION: u64 = 8;
/// Users the synthetic sessions belong to.
pub const USERS: u64 = 1_000;

impl Workload {
    pub fn new(seed: u64) -> Self {
        Workload {
            rng: Rng::new(seed),
            throttled_percent: 5,
            sessions: false,
            session: (0, 0),
        }
    }

    /// One export request holding `operations` operations that ended just before `now_ns`.
    pub fn request(&mut self, operations: usize, now_ns: u64) -> ExportTraceServiceRequest {
        let mut server = Vec::new();
        let mut clients = Vec::new();
        let mut genai = Vec::new();
        for _ in 0..operations {
            self.operation(now_ns, &mut server, &mut clients, &mut genai);
        }
        let scope = |name: &str, spans| ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.to_owned(),
                version: "0.66b2".to_owned(),
                ..Default::default()
            }),
            spans,
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        s("telemetry.sdk.language", "python"),
                        s("telemetry.sdk.name", "opentelemetry"),
                        s("telemetry.sdk.version", "1.45.2"),
                        s("service.name", "rag-api"),
                        s("service.namespace", "genai"),
                        s(
                            "service.instance.id",
                            "f8ee7ac4-c78a-4f7b-af8b-f2fe5c21d311",
                        ),
                        s("deployment.environment", "prod"),
                        s("k8s.pod.name", "rag-api-7d9f8-abcde"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![
                    scope("opentelemetry.instrumentation.fastapi", server),
                    scope("opentelemetry.instrumentation.httpx", clients),
                    scope("opentelemetry.instrumentation.openai_v2", genai),
                ],
                ..Default::default()
            }],
        }
    }

    fn operation(
        &mut self,
        now_ns: u64,
        server: &mut Vec<Span>,
        clients: &mut Vec<Span>,
        genai: &mut Vec<Span>,
    ) {
        let trace_id = self.rng.bytes::<16>();
        let root_id = self.rng.bytes::<8>();
        let throttled = self.rng.below(100) < self.throttled_percent;
        let attempts_429 = if throttled {
            1 + self.rng.below(3) as usize
        } else {
            0
        };
        let llm_ms = 400 + self.rng.below(900) + attempts_429 as u64 * 1_900;
        let search_ms = 20 + self.rng.below(200);
        let total_ms = llm_ms + search_ms + 30;
        let start = now_ns.saturating_sub(total_ms * 1_000_000 + self.rng.below(1_000_000_000));
        let ms = |n: u64| n * 1_000_000;
        let status_code = if self.rng.below(100) == 0 { 500 } else { 200 };
        let peer_port = 40_000 + self.rng.below(20_000) as i64;
        let input_tokens = 2_000 + self.rng.below(2_000) as i64;
        let output_tokens = 100 + self.rng.below(400) as i64;
        let span = |rng: &mut Rng,
                    parent: &[u8],
                    name: &str,
                    kind: SpanKind,
                    from: u64,
                    to: u64,
                    attributes| Span {
            trace_id: trace_id.clone(),
            span_id: rng.bytes::<8>(),
            parent_span_id: parent.to_vec(),
            name: name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: from,
            end_time_unix_nano: to,
            attributes,
            flags: 0x100,
            ..Default::default()
        };

        let mut root = span(
            &mut self.rng,
            &[],
            "POST /chat",
            SpanKind::Server,
            start,
            start + ms(total_ms),
            vec![
                s("http.scheme", "http"),
                s("http.host", "rag-api.genai.svc:8000"),
                i("net.host.port", 8000),
                s("http.flavor", "1.1"),
                s("http.target", "/chat"),
                s("http.url", "http://rag-api.genai.svc:8000/chat"),
                s("http.method", "POST"),
                s("http.server_name", "rag-api.genai.svc:8000"),
                s("http.user_agent", "python-httpx/0.28.1"),
                s("net.peer.ip", "10.1.2.3"),
                i("net.peer.port", peer_port),
                s("http.route", "/chat"),
                i("http.status_code", status_code),
            ],
        );
        root.span_id = root_id.clone();
        if self.sessions {
            if self.session.0 == 0 || self.rng.below(REQUESTS_PER_SESSION) == 0 {
                self.session = (self.rng.next_u64(), self.rng.below(USERS));
            }
            root.attributes.extend([
                s("session.id", &format!("session-{:016x}", self.session.0)),
                s("user.id", &format!("user-{}", self.session.1)),
            ]);
        }
        if status_code >= 500 {
            root.status = Some(Status {
                code: status::StatusCode::Error as i32,
                message: String::new(),
            });
        }
        clients.push(span(
            &mut self.rng,
            &root_id,
            "GET",
            SpanKind::Client,
            start + ms(1),
            start + ms(1 + search_ms),
            vec![
                s("http.request.method", "GET"),
                s(
                    "url.full",
                    "http://search.genai.svc:7700/indexes/docs/search?q=why+slow",
                ),
                s("server.address", "search.genai.svc"),
                i("server.port", 7700),
                s("network.protocol.version", "1.1"),
                s("network.peer.address", "10.1.7.20"),
                i("network.peer.port", 7700),
                s("user_agent.original", "python-httpx/0.28.1"),
                i("http.response.status_code", 200),
            ],
        ));
        let llm_start = start + ms(2 + search_ms);
        let llm_end = llm_start + ms(llm_ms);
        let llm = span(
            &mut self.rng,
            &root_id,
            "chat gpt-4o",
            SpanKind::Client,
            llm_start,
            llm_end,
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.system", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                i("gen_ai.request.max_tokens", 800),
                kv("gen_ai.request.temperature", Value::DoubleValue(0.2)),
                s("server.address", "contoso.openai.azure.com"),
                s("gen_ai.response.model", "gpt-4o-2024-08-06"),
                s(
                    "gen_ai.response.id",
                    "chatcmpl-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                ),
                kv(
                    "gen_ai.response.finish_reasons",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::StringValue("stop".to_owned())),
                        }],
                    }),
                ),
                i("gen_ai.usage.input_tokens", input_tokens),
                i("gen_ai.usage.output_tokens", output_tokens),
                s("gen_ai.openai.response.system_fingerprint", "fp_50cad350e4"),
            ],
        );
        let llm_id = llm.span_id.clone();
        genai.push(llm);
        let url = "https://contoso.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
        let mut attempt_start = llm_start + ms(1);
        for attempt in 0..=attempts_429 {
            let last = attempt == attempts_429;
            let duration = if last {
                llm_ms - attempts_429 as u64 * 1_900 - 5
            } else {
                80
            };
            let code = if last { 200 } else { 429 };
            let mut attributes = vec![
                s("http.request.method", "POST"),
                s("url.full", url),
                s("server.address", "contoso.openai.azure.com"),
                i("server.port", 443),
                s("network.protocol.version", "1.1"),
                s("network.peer.address", "20.62.58.131"),
                i("network.peer.port", 443),
                s("user_agent.original", "AzureOpenAI/Python 3.54.0"),
                i("http.response.status_code", code),
                i("http.request.resend_count", attempt as i64),
            ];
            if !last {
                attributes.push(s("error.type", "429"));
            }
            let mut call = span(
                &mut self.rng,
                &llm_id,
                "POST",
                SpanKind::Client,
                attempt_start,
                attempt_start + ms(duration),
                attributes,
            );
            if !last {
                call.status = Some(Status {
                    code: status::StatusCode::Error as i32,
                    message: String::new(),
                });
            }
            clients.push(call);
            attempt_start += ms(duration + 1_820);
        }
        server.push(root);
    }
}

/// Spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{Context, Limits, traces};

    #[test]
    fn synthetic_operations_normalize_cleanly() {
        let now = 1_800_000_000_000_000_000;
        let mut workload = Workload::new(7);
        workload.throttled_percent = 100;
        let request = workload.request(10, now);
        let spans = span_count(&request);
        assert!(spans >= 10 * (SPANS_PER_OPERATION + 1));
        let attributes: usize = request.resource_spans[0]
            .scope_spans
            .iter()
            .flat_map(|s| &s.spans)
            .map(|s| s.attributes.len())
            .sum();
        assert!(
            attributes / spans >= 10,
            "realistic attribute counts: {attributes} over {spans}"
        );
        let limits = Limits::default();
        let out = traces(
            &prost::Message::encode_to_vec(&request),
            &Context {
                limits: &limits,
                now_ns: now as i64,
                ikey: "".into(),
                app_name: "".into(),
            },
        )
        .expect("frames");
        assert_eq!((out.accepted as usize, out.rejected), (spans, 0));
        assert_eq!(out.batch.requests.len(), 10);
        assert!(
            out.batch
                .dependencies
                .iter()
                .any(|d| d.data.result_code == "429")
        );
        assert!(
            out.batch
                .dependencies
                .iter()
                .any(|d| d.data.genai.input_tokens > 0)
        );
        assert!(
            out.batch
                .requests
                .iter()
                .all(|r| r.common.session_id.is_empty())
        );
    }

    #[test]
    fn with_sessions_requests_and_their_calls_name_one() {
        let now = 1_800_000_000_000_000_000;
        let mut workload = Workload::new(7);
        workload.sessions = true;
        let request = workload.request(200, now);
        let limits = Limits::default();
        let context = Context {
            limits: &limits,
            now_ns: now as i64,
            ikey: "".into(),
            app_name: "".into(),
        };
        let out = traces(&prost::Message::encode_to_vec(&request), &context).expect("frames");
        let batch = &out.batch;
        assert!(
            batch
                .requests
                .iter()
                .all(|r| !r.common.session_id.is_empty())
        );
        assert!(
            batch
                .requests
                .iter()
                .all(|r| r.common.user_id.starts_with("user-"))
        );
        assert!(
            batch
                .dependencies
                .iter()
                .all(|d| !d.common.session_id.is_empty())
        );
        let sessions: std::collections::HashSet<&str> = batch
            .requests
            .iter()
            .map(|r| r.common.session_id.as_str())
            .collect();
        // About REQUESTS_PER_SESSION requests a session.
        assert!((10..=60).contains(&sessions.len()), "{}", sessions.len());
    }
}

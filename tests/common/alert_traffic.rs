//! Telemetry that makes the six recommended alerts fire, or keeps them quiet: the metrics of
//! the collector's kubeletstats, k8s_cluster and hostmetrics receivers for a 3-node cluster,
//! `POST /chat` requests and the LLM calls behind them, all stamped with the time of sending.
#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::cluster::{CLUSTER_RECEIVER, KUBELET, NODES, gauge, point, resource};
use super::scenario::{int, text};

const HOSTMETRICS_MEMORY: &str = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/memoryscraper";
pub const CRASHING_POD: (&str, &str) = ("production", "crashy-7f9");
pub const LLM_ENDPOINT: &str = "myaoai.openai.azure.com";

/// What the cluster and the app are doing at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// aks-node-1 at 90 % of its CPU (else 25 %).
    pub cpu_busy: bool,
    /// aks-node-1's memory at 93 % (else 40 %).
    pub memory_low: bool,
    /// The crashing pod's container restart count, as k8s_cluster reports it.
    pub restarts: i64,
    /// Nodes reporting Ready (the first ones).
    pub ready_nodes: usize,
    /// 5xx answers per 40 requests.
    pub failures_per_40: usize,
    /// How long each LLM call takes.
    pub llm_ms: u64,
}

impl Health {
    pub const fn healthy(restarts: i64) -> Self {
        Health {
            cpu_busy: false,
            memory_low: false,
            restarts,
            ready_nodes: 3,
            failures_per_40: 0,
            llm_ms: 900,
        }
    }

    pub const fn troubled(restarts: i64) -> Self {
        Health {
            cpu_busy: true,
            memory_low: true,
            restarts,
            ready_nodes: 1,
            failures_per_40: 10,
            llm_ms: 35_000,
        }
    }
}

/// One collection of every receiver at `t_ns`.
pub fn metrics(t_ns: u64, health: Health) -> ExportMetricsServiceRequest {
    let mut resources = Vec::new();
    for (i, node) in NODES.iter().enumerate() {
        let busy = i == 0 && health.cpu_busy;
        let used = if busy { 3.6 } else { 1.0 };
        resources.push(resource(
            vec![text("k8s.node.name", node)],
            KUBELET,
            vec![gauge(
                "k8s.node.cpu.usage",
                "{cpu}",
                vec![point(t_ns, Number::AsDouble(used), vec![])],
            )],
        ));
        let ready = i64::from(i < health.ready_nodes);
        resources.push(resource(
            vec![text("k8s.node.name", node)],
            CLUSTER_RECEIVER,
            vec![
                gauge(
                    "k8s.node.allocatable_cpu",
                    "{cpu}",
                    vec![point(t_ns, Number::AsDouble(4.0), vec![])],
                ),
                gauge(
                    "k8s.node.condition_ready",
                    "",
                    vec![point(t_ns, Number::AsInt(ready), vec![])],
                ),
            ],
        ));
        let used = if i == 0 && health.memory_low {
            0.93
        } else {
            0.40
        };
        resources.push(resource(
            vec![text("host.name", node)],
            HOSTMETRICS_MEMORY,
            vec![gauge(
                "system.memory.utilization",
                "1",
                vec![
                    point(t_ns, Number::AsDouble(used), vec![text("state", "used")]),
                    point(
                        t_ns,
                        Number::AsDouble(1.0 - used),
                        vec![text("state", "free")],
                    ),
                ],
            )],
        ));
    }
    let (namespace, pod) = CRASHING_POD;
    resources.push(resource(
        vec![
            text("k8s.namespace.name", namespace),
            text("k8s.pod.name", pod),
            text("k8s.pod.uid", "uid-crashy"),
            text("k8s.container.name", "crashy"),
            text("k8s.node.name", NODES[0]),
        ],
        CLUSTER_RECEIVER,
        vec![gauge(
            "k8s.container.restarts",
            "{restart}",
            vec![point(t_ns, Number::AsInt(health.restarts), vec![])],
        )],
    ));
    ExportMetricsServiceRequest {
        resource_metrics: resources,
    }
}

fn span(id: u64, n: u8, name: &str, kind: i32, start_ns: u64, ms: u64) -> Span {
    let mut trace_id = vec![0xa1; 8];
    trace_id.extend_from_slice(&id.to_be_bytes());
    let mut span_id = id.to_be_bytes().to_vec();
    span_id[0] = n;
    Span {
        trace_id,
        span_id,
        name: name.into(),
        kind,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + ms * 1_000_000,
        ..Default::default()
    }
}

/// 40 `POST /chat` requests ending by `t_ns` (the first `failures_per_40` answer 500) and
/// two LLM calls to Azure OpenAI taking `llm_ms` each; `batch` keeps ids apart.
pub fn traces(t_ns: u64, batch: u64, health: Health) -> ExportTraceServiceRequest {
    let mut spans = Vec::new();
    for i in 0..40u64 {
        let id = batch * 100 + i;
        let status = if (i as usize) < health.failures_per_40 {
            500
        } else {
            200
        };
        let mut request = span(id, 1, "POST /chat", 2, t_ns - 120 * 1_000_000, 120);
        request.attributes = vec![
            text("http.request.method", "POST"),
            text("http.route", "/chat"),
            text("url.path", "/chat"),
            int("http.response.status_code", status),
        ];
        if status >= 500 {
            request.status = Some(Status {
                code: 2,
                ..Default::default()
            });
        }
        spans.push(request);
    }
    for i in 0..2u64 {
        let id = batch * 100 + 50 + i;
        // Stamped with its start, like any span: now, so a short test window holds it.
        let start = t_ns;
        let mut call = span(id, 2, "chat gpt-4o", 3, start, health.llm_ms);
        call.attributes = vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.system", "openai"),
            text("gen_ai.request.model", "gpt-4o"),
            text("server.address", LLM_ENDPOINT),
            int("server.port", 443),
            int("gen_ai.usage.input_tokens", 1200),
            int("gen_ai.usage.output_tokens", 300),
        ];
        spans.push(call);
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "chat-api")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

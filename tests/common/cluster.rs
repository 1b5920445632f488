//! A 3-node AKS-like cluster as the OpenTelemetry Collector reports it: the `kubelet_stats`
//! receiver's node, pod and container metrics, the `k8s_cluster` receiver's allocatable,
//! readiness, phase, restart and ready metrics, and `file_log` container log lines enriched
//! by `k8s_attributes` (names, types, units and resource attributes as the receivers'
//! metadata.yaml documents them). Over 10 minutes at 30 s: node-3 goes not-ready after
//! minute 5, and `production/crashy-7f9` restarts 7 times.
#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
    number_data_point::Value as Number,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::scenario::{int, text};

pub const CLUSTER: &str = "aks-prod";
pub const NODES: [&str; 3] = ["aks-node-1", "aks-node-2", "aks-node-3"];
/// 21 collections, 30 s apart: minutes 0..=10.
pub const POINTS: u64 = 21;
pub const STEP_NS: u64 = 30_000_000_000;
/// Cores in use per node (allocatable: 4).
pub const NODE_CPU: [f64; 3] = [3.6, 1.0, 0.5];
pub const ALLOCATABLE_CPU: f64 = 4.0;
pub const ALLOCATABLE_MEMORY: i64 = 16 << 30;
pub const NODE_MEMORY: [i64; 3] = [14 << 30, 4 << 30, 2 << 30];
/// The collection from which node-3 reports not ready.
pub const NOT_READY_FROM: u64 = 11;
/// `(namespace, pod, node index, container, restart count at the start)`.
pub const PODS: [(&str, &str, usize, &str, i64); 4] = [
    ("production", "api-5d8c", 0, "api", 2),
    ("production", "worker-6b7", 1, "worker", 0),
    ("production", "crashy-7f9", 0, "crashy", 1),
    ("kube-system", "coredns-77x", 2, "coredns", 0),
];
pub const CRASHY: usize = 2;
pub const RESTARTS: i64 = 7;
/// Log lines per pod; every third contains ERROR (on stderr).
pub const LOG_LINES: u64 = 9;

pub fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

pub fn point(time_ns: u64, value: Number, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: time_ns,
        start_time_unix_nano: 0,
        value: Some(value),
        attributes,
        ..Default::default()
    }
}

pub fn resource(attributes: Vec<KeyValue>, scope: &str, metrics: Vec<Metric>) -> ResourceMetrics {
    let mut attributes = attributes;
    // What a resource processor adds on the collector; no receiver sets it.
    attributes.push(text("k8s.cluster.name", CLUSTER));
    ResourceMetrics {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: scope.into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub const KUBELET: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kubeletstatsreceiver";
pub const CLUSTER_RECEIVER: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/k8sclusterreceiver";

fn pod_resource(i: usize) -> Vec<KeyValue> {
    let (namespace, pod, _, _, _) = PODS[i];
    vec![
        text("k8s.pod.uid", &format!("uid-{pod}")),
        text("k8s.pod.name", pod),
        text("k8s.namespace.name", namespace),
    ]
}

/// The collections from `start_ns`, one request per collection as the collector batches them.
pub fn metrics_requests(start_ns: u64) -> Vec<ExportMetricsServiceRequest> {
    (0..POINTS)
        .map(|n| {
            let t = start_ns + n * STEP_NS;
            let mut resources = Vec::new();
            for (i, node) in NODES.iter().enumerate() {
                let ready = if i == 2 && n >= NOT_READY_FROM { 0 } else { 1 };
                resources.push(resource(
                    vec![text("k8s.node.name", node)],
                    KUBELET,
                    vec![
                        gauge(
                            "k8s.node.cpu.usage",
                            "{cpu}",
                            vec![point(t, Number::AsDouble(NODE_CPU[i]), vec![])],
                        ),
                        gauge(
                            "k8s.node.memory.working_set",
                            "By",
                            vec![point(t, Number::AsInt(NODE_MEMORY[i]), vec![])],
                        ),
                    ],
                ));
                resources.push(resource(
                    vec![
                        text("k8s.node.uid", &format!("uid-{node}")),
                        text("k8s.node.name", node),
                    ],
                    CLUSTER_RECEIVER,
                    vec![
                        gauge(
                            "k8s.node.allocatable_cpu",
                            "{cpu}",
                            vec![point(t, Number::AsDouble(ALLOCATABLE_CPU), vec![])],
                        ),
                        gauge(
                            "k8s.node.allocatable_memory",
                            "By",
                            vec![point(t, Number::AsInt(ALLOCATABLE_MEMORY), vec![])],
                        ),
                        gauge(
                            "k8s.node.condition_ready",
                            "",
                            vec![point(t, Number::AsInt(ready), vec![])],
                        ),
                    ],
                ));
            }
            for (i, (_, pod, node, container, restarts_before)) in PODS.iter().enumerate() {
                let mut cluster_pod = pod_resource(i);
                cluster_pod.push(text("k8s.node.name", NODES[*node]));
                resources.push(resource(
                    cluster_pod.clone(),
                    CLUSTER_RECEIVER,
                    vec![gauge(
                        "k8s.pod.phase",
                        "",
                        vec![point(t, Number::AsInt(2), vec![])],
                    )],
                ));
                // crashy restarts at collections 2, 4, …, 14: 7 times.
                let restarts = if i == CRASHY {
                    restarts_before + (n / 2).min(RESTARTS as u64) as i64
                } else {
                    *restarts_before
                };
                let mut cluster_container = cluster_pod;
                cluster_container.extend([
                    text("k8s.container.name", container),
                    text("container.id", &format!("containerd-{pod}")),
                    text("container.image.name", &format!("registry/{container}")),
                ]);
                resources.push(resource(
                    cluster_container,
                    CLUSTER_RECEIVER,
                    vec![
                        gauge(
                            "k8s.container.restarts",
                            "{restart}",
                            vec![point(t, Number::AsInt(restarts), vec![])],
                        ),
                        gauge(
                            "k8s.container.ready",
                            "",
                            vec![point(t, Number::AsInt(i64::from(i != CRASHY)), vec![])],
                        ),
                    ],
                ));
                resources.push(resource(
                    pod_resource(i),
                    KUBELET,
                    vec![
                        gauge(
                            "k8s.pod.cpu.usage",
                            "{cpu}",
                            vec![point(t, Number::AsDouble(0.25 * (i + 1) as f64), vec![])],
                        ),
                        gauge(
                            "k8s.pod.memory.working_set",
                            "By",
                            vec![point(t, Number::AsInt(((i + 1) as i64) << 28), vec![])],
                        ),
                    ],
                ));
                let mut kubelet_container = pod_resource(i);
                kubelet_container.push(text("k8s.container.name", container));
                resources.push(resource(
                    kubelet_container,
                    KUBELET,
                    vec![
                        gauge(
                            "container.cpu.usage",
                            "{cpu}",
                            vec![point(t, Number::AsDouble(0.2 * (i + 1) as f64), vec![])],
                        ),
                        gauge(
                            "container.memory.working_set",
                            "By",
                            vec![point(t, Number::AsInt(((i + 1) as i64) << 27), vec![])],
                        ),
                    ],
                ));
            }
            ExportMetricsServiceRequest {
                resource_metrics: resources,
            }
        })
        .collect()
}

/// Container log lines as `file_log` (container parser) + `k8s_attributes` send them.
pub fn logs_request(start_ns: u64) -> ExportLogsServiceRequest {
    let resource_logs = PODS
        .iter()
        .enumerate()
        .map(|(i, (_, pod, node, container, _))| {
            let mut attributes = pod_resource(i);
            attributes.extend([
                text("k8s.container.name", container),
                int("k8s.container.restart_count", 0),
                text("k8s.node.name", NODES[*node]),
                text("k8s.cluster.name", CLUSTER),
            ]);
            let records = (0..LOG_LINES)
                .map(|n| {
                    let error = n % 3 == 0;
                    let body = if error {
                        format!("ERROR {pod} failed to reach the database (attempt {n})")
                    } else {
                        format!("INFO {pod} served request {n}")
                    };
                    LogRecord {
                        time_unix_nano: start_ns + n * STEP_NS,
                        observed_time_unix_nano: start_ns + n * STEP_NS,
                        body: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                            value: Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(body)),
                        }),
                        attributes: vec![
                            text("log.iostream", if error { "stderr" } else { "stdout" }),
                            text("log.file.path", &format!("/var/log/pods/{pod}/{container}/0.log")),
                            text("logtag", "F"),
                        ],
                        ..Default::default()
                    }
                })
                .collect();
            ResourceLogs {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

//! Response schemas of the metric and Kubernetes endpoints.

use serde_json::Value;

use super::{array, boolean, integer, nullable, number, object, string, strings_by_key};

fn range(mut fields: Vec<(&'static str, Value)>) -> Value {
    fields.insert(0, ("from", string("start of the range (ISO 8601)")));
    fields.insert(1, ("to", string("end of the range, exclusive (ISO 8601)")));
    object(&fields)
}

fn buckets() -> Vec<(&'static str, Value)> {
    vec![
        ("interval_s", integer("bucket width, seconds")),
        (
            "timestamps",
            array(string("bucket start (ISO 8601)"), "the buckets' starts"),
        ),
    ]
}

pub fn response(path: &str) -> Option<Value> {
    let cores = |what: &str| nullable(number(&format!("{what}, CPU cores; null without data")));
    let bytes = |what: &str| nullable(number(&format!("{what}, bytes; null without data")));
    Some(match path {
        "/api/v1/metrics" => range(vec![(
            "metrics",
            array(
                object(&[
                    ("name", string("metric name")),
                    (
                        "type",
                        string(
                            "gauge, sum, nonmonotonic_sum, histogram, exponential_histogram, summary, Measurement or Aggregation",
                        ),
                    ),
                    ("unit", string("unit as sent (UCUM)")),
                    ("temporality", string("cumulative, delta or empty")),
                    (
                        "namespace",
                        string("the instrumentation scope that sent it"),
                    ),
                    ("points", integer("points in the range")),
                    ("first", string("first point (ISO 8601)")),
                    ("last", string("last point (ISO 8601)")),
                    (
                        "dimension_keys",
                        array(
                            string("key"),
                            "customDimensions keys of its points, resource attributes included",
                        ),
                    ),
                ]),
                "stored metrics, by name",
            ),
        )]),
        "/api/v1/metrics/series" => {
            let mut fields = vec![
                ("name", string("the metric")),
                ("aggregation", string("the aggregation applied")),
            ];
            fields.extend(buckets());
            fields.push((
                "series",
                array(
                    object(&[
                        ("group", strings_by_key("the group_by values, by key")),
                        (
                            "values",
                            array(
                                nullable(number("the bucket's value")),
                                "one per bucket; null where no point fell",
                            ),
                        ),
                    ]),
                    "one series per group",
                ),
            ));
            range(fields)
        }
        "/api/v1/k8s/nodes" => range(vec![(
            "nodes",
            array(
                object(&[
                    ("node", string("k8s.node.name")),
                    (
                        "cluster",
                        string("k8s.cluster.name, where a resource processor adds it"),
                    ),
                    (
                        "status",
                        string("Ready, NotReady or Unknown: the latest readiness in the range"),
                    ),
                    ("cpu_cores", cores("average usage (k8s.node.cpu.usage)")),
                    (
                        "cpu_allocatable_cores",
                        cores("allocatable (k8s.node.allocatable_cpu)"),
                    ),
                    ("cpu_percent", nullable(number("usage over allocatable, %"))),
                    (
                        "memory_bytes",
                        bytes("average working set (k8s.node.memory.working_set)"),
                    ),
                    (
                        "memory_allocatable_bytes",
                        bytes("allocatable (k8s.node.allocatable_memory)"),
                    ),
                    (
                        "memory_percent",
                        nullable(number("working set over allocatable, %")),
                    ),
                    (
                        "running_pods",
                        integer("pods whose latest phase is Running"),
                    ),
                    ("pods", integer("pods reported on the node in the range")),
                ]),
                "nodes by name",
            ),
        )]),
        "/api/v1/k8s/pods" => range(vec![(
            "pods",
            array(
                object(&[
                    ("namespace", string("k8s.namespace.name")),
                    ("pod", string("k8s.pod.name")),
                    ("node", string("the node it ran on")),
                    (
                        "phase",
                        string(
                            "Pending, Running, Succeeded, Failed or Unknown: the latest in the range",
                        ),
                    ),
                    ("restarts", integer("container restarts within the range")),
                    ("cpu_cores", cores("average usage (k8s.pod.cpu.usage)")),
                    (
                        "memory_bytes",
                        bytes("average working set (k8s.pod.memory.working_set)"),
                    ),
                ]),
                "pods by namespace and name",
            ),
        )]),
        "/api/v1/k8s/containers" => range(vec![(
            "containers",
            array(
                object(&[
                    ("namespace", string("k8s.namespace.name")),
                    ("pod", string("k8s.pod.name")),
                    ("container", string("k8s.container.name")),
                    ("ready", nullable(boolean("the latest k8s.container.ready"))),
                    ("restarts", integer("restarts within the range")),
                    (
                        "restart_count",
                        nullable(integer("the latest restart count the receiver reported")),
                    ),
                    ("cpu_cores", cores("average usage (container.cpu.usage)")),
                    (
                        "memory_bytes",
                        bytes("average working set (container.memory.working_set)"),
                    ),
                ]),
                "containers by namespace, pod and name",
            ),
        )]),
        "/api/v1/k8s/ready-nodes" => {
            let mut fields = buckets();
            fields.push((
                "ready_nodes",
                array(nullable(integer("nodes ready")), "per bucket, the nodes whose latest readiness in it was ready; null where none reported"),
            ));
            fields.push((
                "nodes",
                integer("nodes that reported readiness in the range"),
            ));
            range(fields)
        }
        _ => return None,
    })
}

//! `/infrastructure`: the Kubernetes view — nodes with readiness, CPU and memory against
//! allocatable, CPU per node over time, pods with phase and restarts (a node opens its pods,
//! a pod its containers), and each pod's container logs through the query view.

use axum::extract::{RawQuery, State};
use maud::{Markup, html};

use super::chart::{self, Size};
use super::format::{self, percent};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::k8s::{INVENTORY_PARAMS, node_cpu_series, node_rows, pod_rows};
use crate::api::metrics::default_width_ns;
use crate::api::params::Params;
use crate::api::{ApiError, ApiState};
use crate::query::k8s::{NodeRow, PodRow};
use crate::reads::metric_series::Buckets;
use crate::reads::{AppScope, TimeRange};

/// CPU cores in use per node over the range, one line per node (the palette's first five).
async fn cpu_lines(
    state: &ApiState,
    scope: &AppScope,
    params: &Params,
    range: TimeRange,
) -> Result<Vec<(String, Vec<(i64, f64)>)>, ApiError> {
    let Some(buckets) = Buckets::new(range.from_ns, range.to_ns, default_width_ns(range)) else {
        return Ok(Vec::new());
    };
    let series = node_cpu_series(state, scope, params, buckets).await?;
    Ok(series
        .into_iter()
        .map(|s| {
            let points = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((buckets.time_ns(i), (*v)?)))
                .collect();
            (s.group.concat(), points)
        })
        .collect())
}

fn optional(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "–".to_owned(), show)
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / f64::from(1u32 << 30))
}

/// The pod's container log lines, newest first, as a KQL query in the query view.
fn logs_link(query: &format::Query, pod: &PodRow) -> String {
    let kql = format!(
        "ContainerLogV2\n| where PodNamespace == \"{}\" and PodName == \"{}\"\n| project TimeGenerated, ContainerName, LogSource, LogMessage\n| order by TimeGenerated desc\n| take 200",
        pod.namespace.replace('"', "\\\""),
        pod.pod.replace('"', "\\\"")
    );
    query.link("/query", &[("q", Some(&kql))])
}

fn nodes_table(query: &format::Query, nodes: &[NodeRow]) -> Markup {
    html! {
        table.grid {
            thead { tr {
                th { "Node" } th { "Status" } th.num { "CPU" } th.num { "CPU of allocatable" }
                th.num { "Memory" } th.num { "Memory of allocatable" } th.num { "Pods running" }
            }}
            tbody {
                @for node in nodes {
                    tr {
                        td { a href=(query.link("/infrastructure", &[("node", Some(&node.node))])) { (node.node) } }
                        td class=[(node.status != "Ready").then_some("failed")] { (node.status) }
                        td.num { (optional(node.cpu_cores, |c| format!("{c:.2} cores"))) }
                        td.num { (optional(node.cpu_percent, |p| percent(p / 100.0))) }
                        td.num { (optional(node.memory_bytes, gib)) }
                        td.num { (optional(node.memory_percent, |p| percent(p / 100.0))) }
                        td.num { (node.running_pods) " / " (node.pods) }
                    }
                }
            }
        }
    }
}

fn pods_table(query: &format::Query, pods: &[PodRow]) -> Markup {
    html! {
        table.grid {
            thead { tr {
                th { "Namespace" } th { "Pod" } th { "Node" } th { "Phase" }
                th.num { "Restarts" } th.num { "CPU" } th.num { "Memory" } th { "Logs" }
            }}
            tbody {
                @for pod in pods {
                    tr {
                        td { (pod.namespace) }
                        td { (pod.pod) }
                        td { (pod.node) }
                        td { (pod.phase) }
                        td.num class=[(pod.restarts > 0).then_some("failed")] { (pod.restarts) }
                        td.num { (optional(pod.cpu_cores, |c| format!("{c:.2} cores"))) }
                        td.num { (optional(pod.memory_bytes, gib)) }
                        td { a href=(logs_link(query, pod)) { "container logs" } }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let (access, query) = super::open(access, raw.as_deref(), INVENTORY_PARAMS)?;
    let params = &query.params;
    let node = params.get("node");
    let ((range, nodes), (_, mut pods)) = tokio::try_join!(
        node_rows(&state, &access.scope, params),
        pod_rows(&state, &access.scope, params)
    )?;
    let lines = cpu_lines(&state, &access.scope, params, range).await?;
    // The restarting pods first: what an operator opens this view for.
    pods.sort_by(|a, b| b.restarts.cmp(&a.restarts).then_with(|| a.pod.cmp(&b.pod)));
    let ready = nodes.iter().filter(|n| n.status == "Ready").count();
    let body = html! {
        h1 { "Infrastructure" }
        @if nodes.is_empty() && pods.is_empty() {
            p.empty { "No Kubernetes metrics in this time range. docs/kubernetes.md shows the collector receivers and settings that send them." }
        } @else {
            p { (ready) " of " (nodes.len()) " nodes ready, " (pods.len()) " pods"
                @if let Some(node) = node { " on " (node) " — " a href=(query.link("/infrastructure", &[("node", None)])) { "all nodes" } } }
            h2 { "Nodes" }
            (nodes_table(&query, &nodes))
            @if !lines.is_empty() {
                h2 { "CPU in use per node (cores)" }
                (chart::time_series(Size::Wide, range, &chart::palette_series(&lines), |v| format!("{v:.1}")))
            }
            h2 { "Pods" }
            (pods_table(&query, &pods))
        }
    };
    Ok(layout("Infrastructure", "/infrastructure", &query, body))
}

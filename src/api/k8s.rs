//! `GET /api/v1/k8s/nodes`, `/pods`, `/containers` and `/ready-nodes`: the Kubernetes
//! inventory Container Insights shows, from the collector's `k8s_cluster` and `kubelet_stats`
//! metrics (docs/kubernetes.md lists them and the receiver settings they need).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::access::Access;
use super::params::{FROM, INTERVAL, ParamSpec, ParamType, Params, TO, param};
use super::{ApiError, ApiState, ok};
use crate::query::k8s::{self, ContainerInputs, NodeInputs, PodInputs, Values};
use crate::reads::metric_series::{Aggregation, Buckets, GroupSeries};
use crate::reads::metrics::{GroupKey, SeriesQuery};
use crate::reads::{AppScope, Filter, TimeRange};
use crate::time::format_instant;

const NAMESPACE: ParamSpec = param("namespace", ParamType::String, "only this namespace");
const NODE: ParamSpec = param("node", ParamType::String, "only this node");
const CLUSTER: ParamSpec = param(
    "cluster",
    ParamType::String,
    "only this cluster (`k8s.cluster.name`, which a resource processor adds)",
);

pub const INVENTORY_PARAMS: &[ParamSpec] = &[FROM, TO, NAMESPACE, NODE, CLUSTER];
pub const READY_PARAMS: &[ParamSpec] = &[FROM, TO, INTERVAL, CLUSTER];

const NODE_NAME: &str = "k8s.node.name";
const NAMESPACE_NAME: &str = "k8s.namespace.name";
const POD_NAME: &str = "k8s.pod.name";
const CONTAINER_NAME: &str = "k8s.container.name";
const CLUSTER_NAME: &str = "k8s.cluster.name";

/// What one inventory request reads: its range, scope and the entity filters.
struct Inventory<'a> {
    state: &'a ApiState,
    scope: &'a AppScope,
    range: TimeRange,
    filters: Vec<Filter>,
    node: Option<String>,
}

impl<'a> Inventory<'a> {
    fn new(state: &'a ApiState, scope: &'a AppScope, params: &Params) -> Result<Self, ApiError> {
        let mut filters = Vec::new();
        for (name, key) in [("namespace", NAMESPACE_NAME), ("cluster", CLUSTER_NAME)] {
            if let Some(value) = params.get(name) {
                filters.push(Filter::Dimension(key.to_owned(), value.to_owned()));
            }
        }
        Ok(Inventory {
            state,
            scope,
            range: params.range()?,
            filters,
            node: params.get("node").map(str::to_owned),
        })
    }

    /// Series of `name` in `buckets`, grouped by the dimension keys.
    async fn series(
        &self,
        name: &str,
        aggregation: Aggregation,
        keys: &[&str],
        buckets: Buckets,
        extra: &[Filter],
    ) -> Result<Vec<GroupSeries>, ApiError> {
        let mut filters = self.filters.clone();
        filters.extend_from_slice(extra);
        let query = SeriesQuery::over(
            buckets,
            self.scope.clone(),
            vec![name.to_owned()],
            filters,
            keys.iter()
                .map(|k| GroupKey::Dimension((*k).to_owned()))
                .collect(),
            aggregation,
        );
        Ok(self.state.store.metric_series(&query).await?)
    }

    /// One value per entity over the whole range.
    async fn totals(
        &self,
        name: &str,
        aggregation: Aggregation,
        keys: &[&str],
    ) -> Result<Values, ApiError> {
        self.totals_where(name, aggregation, keys, &[]).await
    }

    async fn totals_where(
        &self,
        name: &str,
        aggregation: Aggregation,
        keys: &[&str],
        extra: &[Filter],
    ) -> Result<Values, ApiError> {
        let whole = Buckets::whole(self.range.from_ns, self.range.to_ns)
            .ok_or_else(|| ApiError::invalid("from", "must be before `to`"))?;
        let series = self.series(name, aggregation, keys, whole, extra).await?;
        Ok(series
            .into_iter()
            .filter_map(|s| Some((s.group, s.values.first().copied().flatten()?)))
            .collect())
    }

    /// Node readiness by `[node, cluster]`: `k8s.node.condition_ready`, else the newer
    /// `k8s.node.condition{condition=Ready}`.
    async fn readiness(&self) -> Result<Values, ApiError> {
        let keys = [NODE_NAME, CLUSTER_NAME];
        let ready = self
            .totals("k8s.node.condition_ready", Aggregation::Last, &keys)
            .await?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        let condition = [Filter::Dimension("condition".into(), "Ready".into())];
        self.totals_where("k8s.node.condition", Aggregation::Last, &keys, &condition)
            .await
    }

    /// Each pod's latest phase keyed `[namespace, pod, node]`, on its newest node.
    async fn placements(&self) -> Result<Values, ApiError> {
        let whole = Buckets::whole(self.range.from_ns, self.range.to_ns)
            .ok_or_else(|| ApiError::invalid("from", "must be before `to`"))?;
        let keys = [NAMESPACE_NAME, POD_NAME, NODE_NAME];
        let series = self
            .series("k8s.pod.phase", Aggregation::Last, &keys, whole, &[])
            .await?;
        Ok(k8s::latest_placements(
            series
                .into_iter()
                .filter_map(|s| Some((s.group, s.values.first().copied().flatten()?, s.latest_ns?)))
                .collect(),
        ))
    }

    fn keep_node(&self, node: &str) -> bool {
        self.node.as_deref().is_none_or(|wanted| wanted == node)
    }
}

/// An inventory answer: the range and the rows under `key`.
fn answer(range: TimeRange, key: &str, rows: serde_json::Value) -> Response {
    let mut body = json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
    });
    body[key] = rows;
    ok(body)
}

pub async fn nodes(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), INVENTORY_PARAMS, crate::clock::now_ns())?;
    let (range, rows) = node_rows(&state, &access.scope, &params).await?;
    Ok(answer(range, "nodes", json!(rows)))
}

/// The nodes the inventory parameters select, and the range they cover.
pub async fn node_rows(
    state: &ApiState,
    scope: &AppScope,
    params: &Params,
) -> Result<(TimeRange, Vec<k8s::NodeRow>), ApiError> {
    let inventory = Inventory::new(state, scope, params)?;
    let node = [NODE_NAME];
    let inputs = NodeInputs {
        ready: inventory.readiness().await?,
        cpu: inventory
            .totals("k8s.node.cpu.usage", Aggregation::Avg, &node)
            .await?,
        cpu_allocatable: inventory
            .totals("k8s.node.allocatable_cpu", Aggregation::Last, &node)
            .await?,
        memory: inventory
            .totals("k8s.node.memory.working_set", Aggregation::Avg, &node)
            .await?,
        memory_allocatable: inventory
            .totals("k8s.node.allocatable_memory", Aggregation::Last, &node)
            .await?,
        pod_phase: inventory.placements().await?,
    };
    let rows: Vec<_> = k8s::nodes(&inputs)
        .into_iter()
        .filter(|row| inventory.keep_node(&row.node))
        .collect();
    Ok((inventory.range, rows))
}

pub async fn pods(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), INVENTORY_PARAMS, crate::clock::now_ns())?;
    let (range, rows) = pod_rows(&state, &access.scope, &params).await?;
    Ok(answer(range, "pods", json!(rows)))
}

/// The pods the inventory parameters select, and the range they cover.
pub async fn pod_rows(
    state: &ApiState,
    scope: &AppScope,
    params: &Params,
) -> Result<(TimeRange, Vec<k8s::PodRow>), ApiError> {
    let inventory = Inventory::new(state, scope, params)?;
    let pod = [NAMESPACE_NAME, POD_NAME];
    let inputs = PodInputs {
        phase: inventory.placements().await?,
        restarts: inventory
            .totals("k8s.container.restarts", Aggregation::Increase, &pod)
            .await?,
        cpu: inventory
            .totals("k8s.pod.cpu.usage", Aggregation::Avg, &pod)
            .await?,
        memory: inventory
            .totals("k8s.pod.memory.working_set", Aggregation::Avg, &pod)
            .await?,
    };
    let rows: Vec<_> = k8s::pods(&inputs)
        .into_iter()
        .filter(|row| inventory.keep_node(&row.node))
        .collect();
    Ok((inventory.range, rows))
}

pub async fn containers(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), INVENTORY_PARAMS, crate::clock::now_ns())?;
    let inventory = Inventory::new(&state, &access.scope, &params)?;
    let key = [NAMESPACE_NAME, POD_NAME, CONTAINER_NAME];
    let inputs = ContainerInputs {
        ready: inventory
            .totals("k8s.container.ready", Aggregation::Last, &key)
            .await?,
        restarts: inventory
            .totals("k8s.container.restarts", Aggregation::Increase, &key)
            .await?,
        restart_count: inventory
            .totals("k8s.container.restarts", Aggregation::Last, &key)
            .await?,
        cpu: inventory
            .totals("container.cpu.usage", Aggregation::Avg, &key)
            .await?,
        memory: inventory
            .totals("container.memory.working_set", Aggregation::Avg, &key)
            .await?,
    };
    let mut rows = k8s::containers(&inputs);
    if inventory.node.is_some() {
        // `kubelet_stats` container metrics carry no node: keep the containers of the pods
        // `k8s.pod.phase` places on it.
        let phases = inventory.placements().await?;
        rows.retain(|row| {
            phases.keys().any(|key| {
                matches!(key.as_slice(), [namespace, pod, node]
                    if *namespace == row.namespace && *pod == row.pod && inventory.keep_node(node))
            })
        });
    }
    Ok(answer(inventory.range, "containers", json!(rows)))
}

/// CPU cores in use per node (`k8s.node.cpu.usage`) in `buckets`, with the inventory filters.
pub async fn node_cpu_series(
    state: &ApiState,
    scope: &AppScope,
    params: &Params,
    buckets: Buckets,
) -> Result<Vec<GroupSeries>, ApiError> {
    let inventory = Inventory::new(state, scope, params)?;
    let node: Vec<Filter> = inventory
        .node
        .iter()
        .map(|n| Filter::Dimension(NODE_NAME.into(), n.clone()))
        .collect();
    inventory
        .series(
            "k8s.node.cpu.usage",
            Aggregation::Avg,
            &[NODE_NAME],
            buckets,
            &node,
        )
        .await
}

pub async fn ready_nodes(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), READY_PARAMS, crate::clock::now_ns())?;
    let inventory = Inventory::new(&state, &access.scope, &params)?;
    let range = inventory.range;
    let width_ns = match params.interval_s(range)? {
        Some(seconds) => i64::from(seconds) * 1_000_000_000,
        None => super::metrics::default_width_ns(range),
    };
    let buckets = Buckets::new(range.from_ns, range.to_ns, width_ns)
        .ok_or_else(|| ApiError::invalid("interval", "gives no buckets over this range"))?;
    let mut series = inventory
        .series(
            "k8s.node.condition_ready",
            Aggregation::Last,
            &[NODE_NAME],
            buckets,
            &[],
        )
        .await?;
    if series.is_empty() {
        let condition = [Filter::Dimension("condition".into(), "Ready".into())];
        series = inventory
            .series(
                "k8s.node.condition",
                Aggregation::Last,
                &[NODE_NAME],
                buckets,
                &condition,
            )
            .await?;
    }
    let per_node: Vec<Vec<Option<f64>>> = series.into_iter().map(|s| s.values).collect();
    Ok(ok(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "interval_s": buckets.width_ns / 1_000_000_000,
        "timestamps": (0..buckets.count).map(|i| format_instant(buckets.time_ns(i))).collect::<Vec<_>>(),
        "ready_nodes": k8s::ready_nodes(&per_node, buckets.count),
        "nodes": per_node.len(),
    })))
}

//! The Kubernetes inventory from metric values: nodes, pods and containers as Container
//! Insights lists them, assembled from per-entity values (`reads::metric_series` totals over
//! the range) of the collector's `k8s_cluster` and `kubelet_stats` metrics.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Per-entity values of one metric: the entity's key (its group values) → the value.
pub type Values = HashMap<Vec<String>, f64>;

/// Each pod's latest phase on the node it was last seen on: `k8s.pod.phase` entries keyed
/// `[namespace, pod, node]` with the time of their latest point. A pod rescheduled within the
/// range counts on its newest node only (ties go to the greater node name, so every store
/// answers alike).
pub fn latest_placements(entries: Vec<(Vec<String>, f64, i64)>) -> Values {
    let mut newest: HashMap<Vec<String>, (i64, Vec<String>, f64)> = HashMap::new();
    for (key, value, at) in entries {
        let [namespace, pod, _] = key.as_slice() else {
            continue;
        };
        let pod_key = vec![namespace.clone(), pod.clone()];
        let newer = newest
            .get(&pod_key)
            .is_none_or(|(seen, seen_key, _)| (at, &key) > (*seen, seen_key));
        if newer {
            newest.insert(pod_key, (at, key, value));
        }
    }
    newest
        .into_values()
        .map(|(_, key, value)| (key, value))
        .collect()
}

/// `k8s.pod.phase` as the receiver encodes it.
pub fn phase_name(value: f64) -> &'static str {
    match value.round() as i64 {
        1 => "Pending",
        2 => "Running",
        3 => "Succeeded",
        4 => "Failed",
        _ => "Unknown",
    }
}

/// `k8s.node.condition_ready`: 1 true, 0 false, -1 unknown.
pub fn ready_status(value: Option<f64>) -> &'static str {
    match value.map(|v| v.round() as i64) {
        Some(1) => "Ready",
        Some(0) => "NotReady",
        _ => "Unknown",
    }
}

fn percent(used: Option<f64>, of: Option<f64>) -> Option<f64> {
    match (used, of) {
        (Some(used), Some(of)) if of > 0.0 => Some(used / of * 100.0),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    pub node: String,
    pub cluster: String,
    pub status: &'static str,
    pub cpu_cores: Option<f64>,
    pub cpu_allocatable_cores: Option<f64>,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub memory_allocatable_bytes: Option<f64>,
    pub memory_percent: Option<f64>,
    /// Pods whose latest phase on this node is Running.
    pub running_pods: u64,
    pub pods: u64,
}

/// What the node rows are built from, each keyed by `[node]` (or `[node, cluster]` for
/// `ready`; pods by `[namespace, pod, node]`).
#[derive(Debug, Default)]
pub struct NodeInputs {
    pub ready: HashMap<Vec<String>, f64>,
    pub cpu: Values,
    pub cpu_allocatable: Values,
    pub memory: Values,
    pub memory_allocatable: Values,
    pub pod_phase: Values,
}

pub fn nodes(inputs: &NodeInputs) -> Vec<NodeRow> {
    let mut rows: BTreeMap<String, NodeRow> = BTreeMap::new();
    let mut cluster_of: HashMap<&str, &str> = HashMap::new();
    for key in inputs.ready.keys() {
        if let [node, cluster] = key.as_slice() {
            cluster_of.insert(node, cluster);
        }
    }
    let named = [
        &inputs.cpu,
        &inputs.cpu_allocatable,
        &inputs.memory,
        &inputs.memory_allocatable,
    ];
    let mut names: Vec<&str> = named
        .iter()
        .flat_map(|values| values.keys())
        .filter_map(|key| key.first().map(String::as_str))
        .chain(cluster_of.keys().copied())
        .chain(
            inputs
                .pod_phase
                .keys()
                .filter_map(|k| k.get(2).map(String::as_str)),
        )
        .filter(|name| !name.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let one = |values: &Values| values.get(&vec![name.to_owned()]).copied();
        let cluster = cluster_of.get(name).copied().unwrap_or("");
        let ready = inputs
            .ready
            .get(&vec![name.to_owned(), cluster.to_owned()])
            .copied();
        let (cpu, cpu_allocatable) = (one(&inputs.cpu), one(&inputs.cpu_allocatable));
        let (memory, memory_allocatable) = (one(&inputs.memory), one(&inputs.memory_allocatable));
        let phases = inputs
            .pod_phase
            .iter()
            .filter(|(key, _)| key.get(2).is_some_and(|n| n == name));
        let (mut pods, mut running_pods) = (0, 0);
        for (_, phase) in phases {
            pods += 1;
            running_pods += u64::from(phase_name(*phase) == "Running");
        }
        rows.insert(
            name.to_owned(),
            NodeRow {
                node: name.to_owned(),
                cluster: cluster.to_owned(),
                status: ready_status(ready),
                cpu_cores: cpu,
                cpu_allocatable_cores: cpu_allocatable,
                cpu_percent: percent(cpu, cpu_allocatable),
                memory_bytes: memory,
                memory_allocatable_bytes: memory_allocatable,
                memory_percent: percent(memory, memory_allocatable),
                running_pods,
                pods,
            },
        );
    }
    rows.into_values().collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodRow {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub phase: &'static str,
    /// Container restarts within the range (the increase of `k8s.container.restarts`).
    pub restarts: u64,
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// Inputs keyed by `[namespace, pod]`, the phase by `[namespace, pod, node]`.
#[derive(Debug, Default)]
pub struct PodInputs {
    pub phase: Values,
    pub restarts: Values,
    pub cpu: Values,
    pub memory: Values,
}

pub fn pods(inputs: &PodInputs) -> Vec<PodRow> {
    let mut rows: BTreeMap<(String, String), PodRow> = BTreeMap::new();
    let row = |namespace: &str, pod: &str| -> PodRow {
        PodRow {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            node: String::new(),
            phase: "Unknown",
            restarts: 0,
            cpu_cores: None,
            memory_bytes: None,
        }
    };
    for (key, phase) in &inputs.phase {
        if let [namespace, pod, node] = key.as_slice() {
            let entry = rows
                .entry((namespace.clone(), pod.clone()))
                .or_insert_with(|| row(namespace, pod));
            entry.node = node.clone();
            entry.phase = phase_name(*phase);
        }
    }
    let pairs = [&inputs.restarts, &inputs.cpu, &inputs.memory];
    for key in pairs.iter().flat_map(|values| values.keys()) {
        if let [namespace, pod] = key.as_slice() {
            rows.entry((namespace.clone(), pod.clone()))
                .or_insert_with(|| row(namespace, pod));
        }
    }
    for ((namespace, pod), entry) in rows.iter_mut() {
        let key = vec![namespace.clone(), pod.clone()];
        entry.restarts = inputs
            .restarts
            .get(&key)
            .map_or(0, |r| r.max(0.0).round() as u64);
        entry.cpu_cores = inputs.cpu.get(&key).copied();
        entry.memory_bytes = inputs.memory.get(&key).copied();
    }
    rows.into_values().filter(|r| !r.pod.is_empty()).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerRow {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub ready: Option<bool>,
    pub restarts: u64,
    /// The restart count the receiver last reported (since the pod started).
    pub restart_count: Option<u64>,
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// Inputs keyed by `[namespace, pod, container]`.
#[derive(Debug, Default)]
pub struct ContainerInputs {
    pub ready: Values,
    pub restarts: Values,
    pub restart_count: Values,
    pub cpu: Values,
    pub memory: Values,
}

pub fn containers(inputs: &ContainerInputs) -> Vec<ContainerRow> {
    let all = [
        &inputs.ready,
        &inputs.restarts,
        &inputs.restart_count,
        &inputs.cpu,
        &inputs.memory,
    ];
    let mut keys: Vec<&Vec<String>> = all.iter().flat_map(|v| v.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| match key.as_slice() {
            [namespace, pod, container] if !container.is_empty() => Some(ContainerRow {
                namespace: namespace.clone(),
                pod: pod.clone(),
                container: container.clone(),
                ready: inputs.ready.get(key).map(|v| *v >= 0.5),
                restarts: inputs
                    .restarts
                    .get(key)
                    .map_or(0, |r| r.max(0.0).round() as u64),
                restart_count: inputs
                    .restart_count
                    .get(key)
                    .map(|r| r.max(0.0).round() as u64),
                cpu_cores: inputs.cpu.get(key).copied(),
                memory_bytes: inputs.memory.get(key).copied(),
            }),
            _ => None,
        })
        .collect()
}

/// Per bucket, how many nodes' latest readiness in it was 1; `None` where no node reported.
pub fn ready_nodes(per_node: &[Vec<Option<f64>>], buckets: usize) -> Vec<Option<u64>> {
    (0..buckets)
        .map(|i| {
            let reported: Vec<f64> = per_node
                .iter()
                .filter_map(|s| s.get(i).copied().flatten())
                .collect();
            (!reported.is_empty())
                .then(|| reported.iter().filter(|v| v.round() as i64 == 1).count() as u64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(entries: &[(&[&str], f64)]) -> Values {
        entries
            .iter()
            .map(|(key, value)| (key.iter().map(|k| k.to_string()).collect(), *value))
            .collect()
    }

    #[test]
    fn nodes_join_usage_allocatable_readiness_and_pods() {
        let inputs = NodeInputs {
            ready: values(&[(&["n1", "prod"], 1.0), (&["n2", "prod"], 0.0)]),
            cpu: values(&[(&["n1"], 3.0), (&["n2"], 1.0)]),
            cpu_allocatable: values(&[(&["n1"], 4.0)]),
            memory: values(&[(&["n1"], 6.0)]),
            memory_allocatable: values(&[(&["n1"], 8.0)]),
            pod_phase: values(&[(&["ns", "a", "n1"], 2.0), (&["ns", "b", "n1"], 1.0)]),
        };
        let rows = nodes(&inputs);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].status, rows[0].cpu_percent, rows[0].memory_percent),
            ("Ready", Some(75.0), Some(75.0))
        );
        assert_eq!(
            (rows[0].pods, rows[0].running_pods, rows[0].cluster.as_str()),
            (2, 1, "prod")
        );
        assert_eq!((rows[1].status, rows[1].cpu_percent), ("NotReady", None));
    }

    #[test]
    fn pods_take_phase_node_and_restarts() {
        let inputs = PodInputs {
            phase: values(&[
                (&["prod", "api-1", "n1"], 2.0),
                (&["prod", "job", "n2"], 3.0),
            ]),
            restarts: values(&[(&["prod", "api-1"], 7.0)]),
            cpu: values(&[(&["prod", "web"], 0.5)]),
            memory: Values::new(),
        };
        let rows = pods(&inputs);
        let names: Vec<&str> = rows.iter().map(|r| r.pod.as_str()).collect();
        assert_eq!(names, ["api-1", "job", "web"]);
        assert_eq!(
            (rows[0].phase, rows[0].restarts, rows[0].node.as_str()),
            ("Running", 7, "n1")
        );
        assert_eq!(rows[1].phase, "Succeeded");
        assert_eq!((rows[2].phase, rows[2].cpu_cores), ("Unknown", Some(0.5)));
    }

    #[test]
    fn a_rescheduled_pod_counts_on_its_newest_node() {
        let key = |node: &str| vec!["ns".to_owned(), "db-0".to_owned(), node.to_owned()];
        let placed = latest_placements(vec![(key("n1"), 2.0, 100), (key("n2"), 1.0, 200)]);
        assert_eq!(placed, values(&[(&["ns", "db-0", "n2"], 1.0)]));
        let tie = latest_placements(vec![(key("n2"), 2.0, 100), (key("n1"), 2.0, 100)]);
        assert_eq!(tie, values(&[(&["ns", "db-0", "n2"], 2.0)]));
    }

    #[test]
    fn ready_nodes_count_per_bucket() {
        let per_node = vec![
            vec![Some(1.0), Some(1.0), None],
            vec![Some(1.0), Some(0.0), None],
        ];
        assert_eq!(ready_nodes(&per_node, 3), vec![Some(2), Some(1), None]);
        assert_eq!(phase_name(9.0), "Unknown");
    }
}

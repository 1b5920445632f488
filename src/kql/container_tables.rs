//! Container Insights' tables over what the collector sends: `ContainerLog`/`ContainerLogV2`
//! are the log lines carrying Kubernetes resource attributes; `KubePodInventory` and
//! `KubeNodeInventory` are made from the `k8s_cluster` receiver's metrics; `InsightsMetrics`
//! and `Perf` show every metric point. Azure's `PodRestartCount` is cumulative; here it is the
//! restarts within the collection interval (the increase of `k8s.container.restarts` since the
//! container's previous point), so `sum(PodRestartCount)` is the restarts in the range.

use super::tables::{ColumnDef, Derived, Stored, TableDef};
use super::types::{Dynamic, KqlType};
use crate::reads::tabular::Dialect;

const S: KqlType = KqlType::String;

const NODE: &[&str] = &["k8s.node.name"];
const COMPUTER: &[&str] = &["k8s.node.name", "host.name"];
const CLUSTER: &[&str] = &["k8s.cluster.name"];
const NAMESPACE: &[&str] = &["k8s.namespace.name"];
const POD: &[&str] = &["k8s.pod.name"];
const POD_UID: &[&str] = &["k8s.pod.uid"];
const CONTAINER: &[&str] = &["k8s.container.name"];
const CONTAINER_ID: &[&str] = &["container.id"];
const STREAM: &[&str] = &["log.iostream"];
const INSTANCE: &[&str] = &[
    "k8s.container.name",
    "k8s.pod.name",
    "k8s.node.name",
    "host.name",
];

const CONTAINER_LOGS: Derived = Derived {
    sqlite: "SELECT * FROM {traces} \
             WHERE COALESCE(json_extract(customDimensions, '$.\"k8s.pod.name\"'), '') != ''",
    clickhouse: "SELECT *, timestamp FROM {traces} \
                 WHERE customDimensions_values[indexOf(customDimensions_keys, 'k8s.pod.name')] != ''",
};

const NODE_CONDITIONS: Derived = Derived {
    sqlite: "SELECT *, CASE WHEN value = 1 THEN 'Ready' WHEN value = 0 THEN 'NotReady' \
             ELSE 'Unknown' END AS node_status FROM {customMetrics} \
             WHERE name = 'k8s.node.condition_ready' OR (name = 'k8s.node.condition' \
             AND json_extract(customDimensions, '$.condition') = 'Ready')",
    clickhouse: "SELECT *, timestamp, multiIf(value = 1, 'Ready', value = 0, 'NotReady', \
                 'Unknown') AS node_status FROM {customMetrics} \
                 WHERE name = 'k8s.node.condition_ready' OR (name = 'k8s.node.condition' \
                 AND customDimensions_values[indexOf(customDimensions_keys, 'condition')] = 'Ready')",
};

/// Restart rows (one per container and collection interval, with the increase since the
/// container's previous point: a drop means the count began again) and phase rows (one per
/// pod and interval).
const POD_INVENTORY: Derived = Derived {
    sqlite: "SELECT timestamp_ns, appName, customDimensions, '' AS pod_status, \
             CASE WHEN previous IS NULL THEN 0 WHEN value >= previous \
             THEN CAST(value - previous AS INTEGER) ELSE CAST(value AS INTEGER) END AS restarts \
             FROM (SELECT *, LAG(value) OVER (PARTITION BY appName, cloud_RoleName, \
             cloud_RoleInstance, customDimensions ORDER BY timestamp_ns) AS previous \
             FROM {customMetrics} WHERE name = 'k8s.container.restarts') \
             UNION ALL SELECT timestamp_ns, appName, customDimensions, \
             CASE WHEN value = 1 THEN 'Pending' WHEN value = 2 THEN 'Running' \
             WHEN value = 3 THEN 'Succeeded' WHEN value = 4 THEN 'Failed' ELSE 'Unknown' END, 0 \
             FROM {customMetrics} WHERE name = 'k8s.pod.phase'",
    // ClickHouse 18.16 has no window functions: each container's points are sorted into
    // arrays and differenced there.
    clickhouse: "SELECT appName, customDimensions_keys, customDimensions_values, \
                 t AS timestamp_ns, toDateTime(intDiv(t, 1000000000), 'UTC') AS timestamp, \
                 '' AS pod_status, toInt64(d) AS restarts \
                 FROM (SELECT appName, customDimensions_keys, customDimensions_values, \
                 arraySort(groupArray(timestamp_ns)) AS ts, \
                 arraySort((x, y) -> y, groupArray(value), groupArray(timestamp_ns)) AS vs, \
                 arrayMap((x, p) -> if(x >= p, x - p, x), vs, \
                 arrayPushFront(arrayPopBack(vs), vs[1])) AS ds \
                 FROM {customMetrics} WHERE name = 'k8s.container.restarts' \
                 GROUP BY appName, cloud_RoleName, cloud_RoleInstance, customDimensions_keys, \
                 customDimensions_values) ARRAY JOIN ts AS t, ds AS d \
                 UNION ALL SELECT appName, customDimensions_keys, customDimensions_values, \
                 timestamp_ns, timestamp, multiIf(value = 1, 'Pending', value = 2, 'Running', \
                 value = 3, 'Succeeded', value = 4, 'Failed', 'Unknown'), toInt64(0) \
                 FROM {customMetrics} WHERE name = 'k8s.pod.phase'",
};

fn column(name: &'static str, ty: KqlType, stored: Stored) -> ColumnDef {
    ColumnDef { name, ty, stored }
}

fn dims(name: &'static str, keys: &'static [&'static str]) -> ColumnDef {
    column(name, S, Stored::Dims(keys))
}

fn table(
    name: &'static str,
    stored: &'static str,
    derived: Option<Derived>,
    mut columns: Vec<ColumnDef>,
) -> TableDef {
    columns.insert(0, column("TimeGenerated", KqlType::Datetime, Stored::Time));
    columns.push(column("Type", S, Stored::Constant(name)));
    TableDef {
        name,
        stored,
        columns,
        time_column: "TimeGenerated",
        derived,
    }
}

pub fn tables() -> Vec<TableDef> {
    let tags = KqlType::Dynamic(Dynamic::Bag { numbers: false });
    vec![
        table(
            "ContainerLog",
            "traces",
            Some(CONTAINER_LOGS),
            vec![
                dims("Computer", NODE),
                dims("ContainerID", CONTAINER_ID),
                dims("ContainerName", CONTAINER),
                dims("PodName", POD),
                dims("PodNamespace", NAMESPACE),
                column("LogEntry", S, Stored::Column("message")),
                dims("LogEntrySource", STREAM),
            ],
        ),
        table(
            "ContainerLogV2",
            "traces",
            Some(CONTAINER_LOGS),
            vec![
                dims("Computer", NODE),
                dims("ContainerId", CONTAINER_ID),
                dims("ContainerName", CONTAINER),
                dims("PodName", POD),
                dims("PodNamespace", NAMESPACE),
                column("LogMessage", S, Stored::Column("message")),
                dims("LogSource", STREAM),
            ],
        ),
        table(
            "KubePodInventory",
            "customMetrics",
            Some(POD_INVENTORY),
            vec![
                dims("Computer", NODE),
                dims("ClusterName", CLUSTER),
                dims("Namespace", NAMESPACE),
                dims("PodName", POD),
                dims("PodUid", POD_UID),
                dims("ContainerName", CONTAINER),
                column("PodStatus", S, Stored::Column("pod_status")),
                column("PodRestartCount", KqlType::Long, Stored::Column("restarts")),
            ],
        ),
        table(
            "KubeNodeInventory",
            "customMetrics",
            Some(NODE_CONDITIONS),
            vec![
                dims("Computer", NODE),
                dims("ClusterName", CLUSTER),
                column("Status", S, Stored::Column("node_status")),
            ],
        ),
        table(
            "InsightsMetrics",
            "customMetrics",
            None,
            vec![
                column("Name", S, Stored::Column("name")),
                column("Namespace", S, Stored::Column("namespace")),
                column("Val", KqlType::Real, Stored::Column("value")),
                column("Tags", tags, Stored::Bag("customDimensions")),
                dims("Computer", COMPUTER),
            ],
        ),
        table(
            "Perf",
            "customMetrics",
            None,
            vec![
                column("ObjectName", S, Stored::Column("namespace")),
                column("CounterName", S, Stored::Column("name")),
                column("CounterValue", KqlType::Real, Stored::Column("value")),
                dims("InstanceName", INSTANCE),
                dims("Computer", COMPUTER),
            ],
        ),
    ]
}

/// The first non-empty value of `keys` in a row's `customDimensions`, `''` if none. The keys
/// are constants of this module, so they are written into the SQL.
pub fn first_dimension(keys: &[&str], dialect: Dialect) -> super::sql::Fragment {
    let value = |key: &str| match dialect {
        Dialect::ClickHouse => {
            format!("customDimensions_values[indexOf(customDimensions_keys, '{key}')]")
        }
        Dialect::Sqlite => format!("COALESCE(json_extract(customDimensions, '$.\"{key}\"'), '')"),
    };
    let sql = match (keys, dialect) {
        ([only], _) => value(only),
        (_, Dialect::ClickHouse) => {
            let mut parts: Vec<String> = Vec::new();
            for key in keys {
                parts.push(format!("{} != ''", value(key)));
                parts.push(value(key));
            }
            parts.push("''".into());
            format!("multiIf({})", parts.join(", "))
        }
        (_, Dialect::Sqlite) => {
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("NULLIF({}, '')", value(k)))
                .collect();
            format!("COALESCE({}, '')", parts.join(", "))
        }
    };
    super::sql::Fragment::text(sql)
}

//! Container Insights from collector-shaped OTLP (tests/common/cluster.rs): the Kubernetes
//! inventory endpoints, the metric series and catalog, and the runbook's KQL over
//! `KubePodInventory` and `ContainerLog`, with the same answers on SQLite and both ClickHouse
//! engines.

mod common;

use std::time::Duration;

use common::TestServer;
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::cluster::*;
use common::scenario::{get, ok, post};
use prost::Message;
use serde_json::{Value, json};
use tracehouse::time::format_instant;

on_both_engines!(the_cluster_reads_alike_on_clickhouse);

const POD_RESTARTS: &str = "KubePodInventory
| where TimeGenerated > ago(24h)
| where Namespace == \"production\"
| summarize RestartCount = sum(PodRestartCount) by PodName
| order by RestartCount desc";

const ERROR_LOGS: &str = "ContainerLog
| where TimeGenerated > ago(1h)
| where LogEntry contains \"ERROR\"
| project TimeGenerated, ContainerName, LogEntry
| order by TimeGenerated desc
| limit 100";

fn start_ns() -> u64 {
    let now = u64::try_from(tracehouse::clock::now_ns()).expect("after 1970");
    now - (POINTS + 1) * STEP_NS
}

async fn send_cluster(server: &TestServer, start_ns: u64) {
    for request in metrics_requests(start_ns) {
        post(
            server,
            "/v1/metrics",
            "application/x-protobuf",
            request.encode_to_vec(),
        )
        .await;
    }
    let logs = logs_request(start_ns).encode_to_vec();
    post(server, "/v1/logs", "application/x-protobuf", logs).await;
}

/// Waits until every point and log line is readable.
async fn wait_until_stored(server: &TestServer) {
    server.wait_until_shipped().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let points = common::stored_metric(server, "k8s.container.restarts", 1000)
            .await
            .len();
        let logs = kql_rows(server, "ContainerLog | count").await;
        if points == PODS.len() * POINTS as usize
            && logs == vec![json!([PODS.len() as u64 * LOG_LINES])]
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stored {points} points, {logs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kql_rows(server: &TestServer, query: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .post(server.api_url("/api/v1/query"))
        .json(&json!({ "query": query, "timespan": "P1D" }))
        .send()
        .await
        .expect("query");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{query}: {body}");
    body["tables"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The endpoints compared across stores, over the cluster's ten minutes.
fn paths(start_ns: u64) -> Vec<String> {
    let range = format!(
        "from={}&to={}",
        format_instant(start_ns as i64 - 60_000_000_000),
        format_instant((start_ns + POINTS * STEP_NS) as i64)
    );
    vec![
        format!("/api/v1/k8s/nodes?{range}"),
        format!("/api/v1/k8s/pods?{range}"),
        format!("/api/v1/k8s/pods?namespace=production&{range}"),
        format!("/api/v1/k8s/pods?node={}&{range}", NODES[0]),
        format!("/api/v1/k8s/containers?{range}"),
        format!("/api/v1/k8s/containers?node={}&{range}", NODES[0]),
        format!("/api/v1/k8s/ready-nodes?interval=1m&{range}"),
        format!("/api/v1/metrics?{range}"),
        format!("/api/v1/metrics?prefix=k8s.node.&{range}"),
        format!(
            "/api/v1/metrics/series?name=k8s.node.cpu.usage&group_by=dim.k8s.node.name&interval=1m&{range}"
        ),
        format!(
            "/api/v1/metrics/series?name=k8s.container.restarts&aggregation=increase&group_by=dim.k8s.pod.name&interval=5m&{range}"
        ),
        format!(
            "/api/v1/metrics/series?name=k8s.node.memory.working_set&aggregation=sum&dim.k8s.cluster.name={CLUSTER}&{range}"
        ),
        format!(
            "/api/v1/metrics/series?name=k8s.pod.cpu.usage&aggregation=p95&group_by=dim.k8s.namespace.name&{range}"
        ),
    ]
}

/// Numbers to 12 significant digits, everything else as it is.
fn rounded(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default();
            json!(format!("{x:.11e}").parse::<f64>().unwrap_or(x))
        }
        Value::Array(items) => Value::Array(items.iter().map(rounded).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), rounded(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn close(value: &Value, expected: f64) -> bool {
    value
        .as_f64()
        .is_some_and(|v| (v - expected).abs() <= 1e-9 * expected.abs().max(1.0))
}

async fn check_inventory(server: &TestServer, start_ns: u64) {
    let paths = paths(start_ns);
    let nodes = ok(server, &paths[0]).await;
    let nodes = nodes["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let node = |i: usize| &nodes[i];
    assert_eq!(node(0)["node"], NODES[0]);
    assert_eq!(node(0)["cluster"], CLUSTER);
    assert_eq!(node(0)["status"], "Ready");
    assert!(close(&node(0)["cpu_percent"], 90.0), "{nodes:?}");
    assert!(close(&node(0)["memory_percent"], 87.5), "{nodes:?}");
    assert_eq!(
        (node(0)["pods"].clone(), node(0)["running_pods"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(node(2)["status"], "NotReady");

    let pods = ok(server, &paths[2]).await;
    let pods = pods["pods"].as_array().expect("pods");
    assert_eq!(pods.len(), 3, "{pods:?}");
    let crashy = pods
        .iter()
        .find(|p| p["pod"] == PODS[CRASHY].1)
        .expect("crashy");
    assert_eq!(crashy["restarts"], json!(RESTARTS));
    assert_eq!(
        (crashy["phase"].clone(), crashy["node"].clone()),
        (json!("Running"), json!(NODES[0]))
    );
    assert!(
        pods.iter()
            .filter(|p| p["pod"] != PODS[CRASHY].1)
            .all(|p| p["restarts"] == json!(0))
    );
    let on_node = ok(server, &paths[3]).await;
    assert_eq!(on_node["pods"].as_array().map(Vec::len), Some(2));

    let containers = ok(server, &paths[4]).await;
    let crashy = containers["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["container"] == PODS[CRASHY].3).cloned())
        .expect("crashy container");
    assert_eq!(crashy["ready"], json!(false));
    assert_eq!(crashy["restarts"], json!(RESTARTS));
    assert_eq!(crashy["restart_count"], json!(PODS[CRASHY].4 + RESTARTS));

    // On a node: its pods' containers, with the CPU and memory kubelet_stats sends without a node.
    let on_node = ok(server, &paths[5]).await;
    let on_node = on_node["containers"].as_array().expect("containers");
    assert_eq!(on_node.len(), 2, "{on_node:?}");
    assert!(
        on_node
            .iter()
            .all(|c| c["cpu_cores"].is_number() && c["memory_bytes"].is_number()),
        "{on_node:?}"
    );
    let ready = ok(server, &paths[6]).await;
    let counts: Vec<u64> = ready["ready_nodes"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(counts.first(), Some(&3), "{ready}");
    assert_eq!(counts.last(), Some(&2), "{ready}");

    let catalog = ok(server, &paths[7]).await;
    let restarts = catalog["metrics"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|m| m["name"] == "k8s.container.restarts")
                .cloned()
        })
        .expect("restarts in the catalog");
    assert_eq!(
        (restarts["type"].clone(), restarts["unit"].clone()),
        (json!("gauge"), json!("{restart}"))
    );
    let keys = restarts["dimension_keys"].as_array().expect("keys");
    for key in [
        "k8s.pod.name",
        "k8s.container.name",
        "k8s.node.name",
        "container.id",
    ] {
        assert!(keys.contains(&json!(key)), "{key} in {keys:?}");
    }

    let cpu = ok(server, &paths[9]).await;
    let series = cpu["series"].as_array().expect("series");
    assert_eq!(series.len(), 3);
    for (i, s) in series.iter().enumerate() {
        assert_eq!(s["group"]["dim.k8s.node.name"], NODES[i]);
        let values: Vec<f64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert!(
            !values.is_empty() && values.iter().all(|v| (v - NODE_CPU[i]).abs() < 1e-9),
            "{s}"
        );
    }
    let increase = ok(server, &paths[10]).await;
    let total: f64 = increase["series"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find(|s| s["group"]["dim.k8s.pod.name"] == PODS[CRASHY].1)
                .cloned()
        })
        .expect("crashy series")["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(Value::as_f64)
        .sum();
    assert_eq!(total, RESTARTS as f64);
    // The cluster's working set: the sum of the nodes' means, 20 GiB.
    let memory = ok(server, &paths[11]).await;
    let values = memory["series"][0]["values"].as_array().expect("values");
    assert!(
        values
            .iter()
            .filter(|v| !v.is_null())
            .all(|v| close(v, (20u64 << 30) as f64)),
        "{memory}"
    );
    assert_eq!(memory["interval_s"], json!(15), "{memory}");
}

async fn check_kql(server: &TestServer) {
    let restarts = kql_rows(server, POD_RESTARTS).await;
    assert_eq!(restarts.len(), 3, "{restarts:?}");
    assert_eq!(restarts[0], json!([PODS[CRASHY].1, RESTARTS]));
    assert!(
        restarts[1..].iter().all(|r| r[1] == json!(0)),
        "{restarts:?}"
    );

    let errors = kql_rows(server, ERROR_LOGS).await;
    assert_eq!(errors.len(), PODS.len() * 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|r| r[2].as_str().is_some_and(|e| e.contains("ERROR")))
    );
    let containers: std::collections::BTreeSet<&str> =
        errors.iter().filter_map(|r| r[1].as_str()).collect();
    assert_eq!(containers.len(), PODS.len(), "{containers:?}");

    let not_ready = kql_rows(
        server,
        "KubeNodeInventory | where Status == \"NotReady\" | distinct Computer",
    )
    .await;
    assert_eq!(not_ready, vec![json!([NODES[2]])]);
    let cpu = kql_rows(
        server,
        "Perf | where CounterName == \"k8s.node.cpu.usage\" | summarize avg(CounterValue) by Computer | order by Computer asc",
    )
    .await;
    assert_eq!(cpu.len(), 3, "{cpu:?}");
    assert_eq!(cpu[0][0], NODES[0]);
    assert!(close(&cpu[0][1], NODE_CPU[0]), "{cpu:?}");
    let memory = kql_rows(
        server,
        "InsightsMetrics | where Name == \"k8s.pod.memory.working_set\" | summarize count() by tostring(Tags[\"k8s.namespace.name\"]) | order by count_ desc",
    )
    .await;
    assert_eq!(memory[0], json!(["production", 3 * POINTS]), "{memory:?}");
    let running = kql_rows(
        server,
        "KubePodInventory | where PodStatus == \"Running\" | distinct PodName | count",
    )
    .await;
    assert_eq!(running, vec![json!([PODS.len()])]);
    let v2 = kql_rows(server, "ContainerLogV2 | where LogSource == \"stderr\" | summarize count() by PodNamespace | order by PodNamespace asc").await;
    assert_eq!(
        v2,
        vec![json!(["kube-system", 3]), json!(["production", 9])]
    );
}

/// The Infrastructure view lists the nodes and pods, the restarting pod first, with a link
/// to its container logs that the query view answers.
async fn check_infrastructure_page(server: &TestServer, start_ns: u64) {
    let range = format!(
        "from={}&to={}",
        format_instant(start_ns as i64 - 60_000_000_000),
        format_instant((start_ns + POINTS * STEP_NS) as i64)
    );
    let page = |path: String| async move {
        let response = reqwest::get(server.api_url(&path)).await.expect("page");
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.expect("html")
    };
    let html = page(format!("/infrastructure?{range}")).await;
    assert!(html.contains("2 of 3 nodes ready, 4 pods"), "{html}");
    for node in NODES {
        assert!(html.contains(node), "{node}");
    }
    let pods_at = html.find("<h2>Pods</h2>").expect("pods table");
    let crashy = html[pods_at..].find(PODS[CRASHY].1).expect("crashy listed");
    for (_, pod, ..) in PODS.iter().filter(|p| p.1 != PODS[CRASHY].1) {
        assert!(
            html[pods_at..].find(pod).is_some_and(|at| at > crashy),
            "{pod} after the restarting pod"
        );
    }
    assert!(html.contains("<svg"), "the CPU chart");
    let anchor = html.find(">container logs</a>").expect("a logs link");
    let link_at = html[..anchor].rfind("href=\"").expect("href") + "href=\"".len();
    let link = &html[link_at..anchor - 1];
    let logs = page(link.replace("&amp;", "&")).await;
    assert!(logs.contains("ERROR"), "the pod's container logs: {logs}");
    let one_node = page(format!("/infrastructure?node={}&{range}", NODES[0])).await;
    assert!(one_node.contains("2 pods on aks-node-1"), "{one_node}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_reads_on_sqlite() {
    let server = TestServer::start().await;
    let start = start_ns();
    send_cluster(&server, start).await;
    wait_until_stored(&server).await;
    check_inventory(&server, start).await;
    check_kql(&server).await;
    let (status, body) = get(
        &server,
        "/api/v1/metrics/series?name=k8s.node.cpu.usage&aggregation=rate",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("gauge")),
        "{body}"
    );
    check_infrastructure_page(&server, start).await;
    let (status, body) = get(&server, "/api/v1/metrics/series?aggregation=avg").await;
    assert_eq!(
        (status, body["error"]["parameter"].clone()),
        (400, json!("name"))
    );
    let (status, _) = get(&server, "/api/v1/metrics/series?name=x&group_by=bogus").await;
    assert_eq!(status, 400);
    server.stop().await;
}

async fn the_cluster_reads_alike_on_clickhouse(engine: Engine) {
    let sqlite = TestServer::start().await;
    let clickhouse = TestServer::start_on_engine(engine, &database_for("cluster"), |_| {}).await;
    let start = start_ns();
    for server in [&sqlite, &clickhouse] {
        send_cluster(server, start).await;
        wait_until_stored(server).await;
    }
    check_inventory(&clickhouse, start).await;
    check_kql(&clickhouse).await;
    let doc = ok(&sqlite, "/api/v1/openapi.json").await;
    for path in paths(start) {
        let (a, on_sqlite) = get(&sqlite, &path).await;
        let (b, on_clickhouse) = get(&clickhouse, &path).await;
        assert_eq!((a, b), (200, 200), "{path}: {on_sqlite} / {on_clickhouse}");
        // The stores fold levels themselves: sums may differ in their last bits.
        assert_eq!(
            rounded(&on_sqlite),
            rounded(&on_clickhouse),
            "{engine:?} {path}"
        );
        // Every field is described in the OpenAPI document, with its type.
        let endpoint = path.split('?').next().unwrap_or(&path);
        let schema = &doc["paths"][endpoint]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        let mut problems = Vec::new();
        common::undescribed(&doc, schema, &on_sqlite, "", &mut problems);
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }
    for query in [POD_RESTARTS, ERROR_LOGS] {
        // Rows that tie on the order (pods without restarts, lines of one instant) may come
        // in either order.
        let mut on_sqlite = kql_rows(&sqlite, query).await;
        let mut on_clickhouse = kql_rows(&clickhouse, query).await;
        on_sqlite.sort_by_key(|r| r.to_string());
        on_clickhouse.sort_by_key(|r| r.to_string());
        assert_eq!(on_sqlite, on_clickhouse, "{query}");
    }
    sqlite.stop().await;
    clickhouse.stop().await;
}

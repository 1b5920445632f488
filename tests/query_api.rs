//! The query API conformance suite: the same telemetry (generated traces with known durations,
//! the seed story, and the captured fixtures) goes through the OTLP endpoints of a SQLite and a
//! ClickHouse tracehouse, on each ClickHouse engine; both must give identical answers, equal
//! to values computed here from the generated durations.

mod common;
#[path = "query_api/genai.rs"]
mod genai;

use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::*;
use common::{TestServer, undescribed};
use serde_json::Value;

/// Nearest-rank percentile over unweighted integer durations, computed independently.
fn nearest_rank(sorted: &[u64], percent: u64) -> u64 {
    let rank = (percent * sorted.len() as u64).div_ceil(100).max(1);
    sorted[rank as usize - 1]
}

/// Every query of the suite, with its answer; each answer is also checked against the
/// generated data.
async fn answers(server: &TestServer, scenario: &Scenario) -> Vec<(String, Value)> {
    let range = scenario.range();
    let mut all = Vec::new();
    let mut record = |path: String, value: Value| all.push((path, value));

    // The seed transaction: retries grouped, throttled time, the log line on its request.
    let path = format!("/api/v1/operations/{}", operation_id(SEED));
    let tx = ok(server, &path).await;
    assert_eq!(tx["operation_name"], "POST /chat");
    let names = tx["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| &n["operation_name"]);
    assert!(
        names.clone().all(|n| n == "POST /chat"),
        "every item named: {:?}",
        names.collect::<Vec<_>>()
    );
    assert_eq!(tx["roles"], serde_json::json!(["chat-api", "search-svc"]));
    let shape: Vec<(String, u64)> = tx["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or("").to_owned(),
                n["depth"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    let attempt = "POST /openai/deployments/gpt-4o/chat/completions";
    let expected: Vec<(String, u64)> = [
        ("POST /chat", 0),
        ("GET /search", 1),
        ("GET /search", 2),
        ("chat gpt-4o", 1),
        (attempt, 2),
        (attempt, 2),
        (attempt, 2),
        (attempt, 2),
    ]
    .iter()
    .map(|(n, d)| (n.to_string(), *d))
    .collect();
    assert_eq!(shape, expected);
    let retry = &tx["retries"][0];
    assert_eq!(
        (retry["throttled"].as_u64(), retry["succeeded"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(retry["time_before_success_ms"], 5_670.0);
    // From the first 429's start to the answering attempt's start, back-off included.
    assert_eq!(retry["throttled_time_ms"], 5_670.0);
    // The diagnosis in the same answer.
    let finding = &tx["findings"][0];
    assert_eq!(
        (
            finding["kind"].as_str(),
            finding["target"].as_str(),
            finding["model"].as_str(),
            finding["attempts"].as_u64(),
            finding["throttled_ms"].as_f64(),
        ),
        (
            Some("throttling"),
            Some(AOAI),
            Some("gpt-4o"),
            Some(3),
            Some(5_670.0)
        ),
        "{tx}"
    );
    assert!(
        (finding["share_of_request"].as_f64().unwrap_or(0.0) - 5_670.0 / 7_700.0).abs() < 1e-9,
        "{finding}"
    );
    // The deployment around it: every call's tokens in that minute, against the quota.
    assert_eq!(
        finding["deployment"],
        serde_json::json!({"peak_tokens_per_minute": 150 * CALLS, "quota_tokens_per_minute": QUOTA_TPM}),
        "{finding}"
    );
    let call_cost = (100.0 * 2.50 + 50.0 * 10.0) / 1e6;
    assert!(
        (tx["cost_usd"].as_f64().unwrap_or(0.0) - call_cost).abs() < 1e-12,
        "{}",
        tx["cost_usd"]
    );
    assert_eq!(
        tx["nodes"][0]["logs"][0]["message"],
        "answered chat call 50"
    );
    assert_eq!(tx["duration_ms"], 7_700.0);
    record(path, tx);

    // A failing call: its exception sits on its request.
    let path = format!("/api/v1/operations/{}", operation_id(10));
    let tx = ok(server, &path).await;
    assert_eq!(
        tx["nodes"][0]["exceptions"][0]["exception_type"],
        "ValueError"
    );
    record(path, tx);

    // The captured fixture's transaction.
    let path = "/api/v1/operations/525c5c3e165dd9b6d4c8f046107e8324".to_owned();
    let tx = ok(server, &path).await;
    assert_eq!(tx["nodes"].as_array().map(Vec::len), Some(4));
    record(path, tx);

    // Percentiles of POST /chat, equal to the nearest rank of the generated durations.
    let mut durations: Vec<u64> = (1..=CALLS).map(request_ms).collect();
    durations.sort_unstable();
    let path = format!("/api/v1/performance?filter.role=chat-api&{range}");
    let perf = ok(server, &path).await;
    let row = &perf["rows"][0];
    assert_eq!(row["group"]["name"], "POST /chat");
    assert_eq!(row["count"], CALLS);
    assert_eq!(row["failed"], 4);
    for (name, percent) in [
        ("p50_ms", 50),
        ("p90_ms", 90),
        ("p95_ms", 95),
        ("p99_ms", 99),
    ] {
        assert_eq!(
            row[name].as_f64(),
            Some(nearest_rank(&durations, percent) as f64),
            "{name}"
        );
    }
    // The seed call is the p99, far from the p50.
    assert_eq!(row["p99_ms"], 7_700.0);
    assert_eq!(row["p50_ms"], 1_250.0);
    let sum: u64 = durations.iter().sum();
    assert_eq!(row["avg_ms"].as_f64(), Some(sum as f64 / CALLS as f64));
    assert_eq!(row["max_ms"], 7_700.0);
    record(path, perf);

    // A time series in one-minute buckets, grouped by a customDimensions filter.
    let path =
        format!("/api/v1/performance?filter.role=chat-api&dim.tenant=contoso&interval=1m&{range}");
    let series = ok(server, &path).await;
    let counted: u64 = series["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert_eq!(counted, CALLS / 2);
    record(path, series);

    // Dependencies by target and type.
    let path = format!(
        "/api/v1/performance?table=dependencies&group_by=target,type&filter.role=chat-api&{range}"
    );
    let deps = ok(server, &path).await;
    let aoai_attempts = deps["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["group"]["target"] == AOAI && r["group"]["type"] == "HTTP")
        .unwrap_or_else(|| panic!("{deps}"));
    assert_eq!(aoai_attempts["count"], CALLS + 3);
    assert_eq!(aoai_attempts["failed"], 3);
    record(path, deps);

    // The samples behind p95–p99 include the seed call; p50–p90 does not.
    let path = format!(
        "/api/v1/samples?filter.name=POST%20/chat&filter.role=chat-api&band=p95-p99&{range}"
    );
    let samples = ok(server, &path).await;
    let ids: Vec<&str> = samples["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["operation_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [operation_id(SEED), operation_id(49), operation_id(48)]
    );
    // The seed call's cause comes with it: three throttled attempts at Azure OpenAI.
    assert_eq!(
        samples["items"][0]["failed_calls"],
        serde_json::json!([{
            "target": AOAI, "result_code": "429", "calls": 3, "duration_ms": 600.0,
            "throttled_ms": 5_670.0,
        }]),
        "{samples}"
    );
    assert_eq!(samples["items"][1]["failed_calls"], serde_json::json!([]));
    record(path, samples);

    // The distribution: all 50 calls, the seed alone in the bucket holding 7.7 s.
    let path = format!("/api/v1/performance/histogram?filter.name=POST%20/chat&{range}");
    let histogram = ok(server, &path).await;
    assert_eq!(histogram["total"], 50, "{histogram}");
    let buckets = histogram["buckets"].as_array().expect("buckets");
    let counted: u64 = buckets.iter().filter_map(|b| b["count"].as_u64()).sum();
    assert_eq!(counted, 50);
    let slowest = buckets.last().expect("a bucket");
    assert_eq!(slowest["count"], 1, "{histogram}");
    assert!(
        slowest["low_ms"].as_f64() <= Some(7_700.0) && slowest["high_ms"].as_f64() > Some(7_700.0),
        "{histogram}"
    );
    record(path, histogram);
    let path = format!(
        "/api/v1/samples?filter.name=POST%20/chat&filter.role=chat-api&band=p50-p90&limit=50&{range}"
    );
    let samples = ok(server, &path).await;
    assert_eq!(samples["items"].as_array().map(Vec::len), Some(21));
    assert!(!samples.to_string().contains(&operation_id(SEED)));
    record(path, samples);

    // Pages follow each other without gaps or repeats.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let path =
            format!("/api/v1/samples?filter.role=chat-api&order=newest&limit=20{cursor}&{range}");
        let page = ok(server, &path).await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|s| s["operation_id"].clone()),
        );
        let next = page["next_cursor"].as_str().map(str::to_owned);
        record(path, page);
        match next {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<Value> = (1..=CALLS)
        .rev()
        .map(|c| Value::from(operation_id(c)))
        .collect();
    assert_eq!(seen, expected);

    // Failures: the 500s, the 429s, the exceptions.
    let path = format!("/api/v1/failures?filter.role=chat-api&{range}");
    let failures = ok(server, &path).await;
    let requests = &failures["requests"]["rows"][0];
    assert_eq!(
        (
            requests["group"]["result_code"].as_str(),
            requests["count"].as_u64()
        ),
        (Some("500"), Some(4))
    );
    let throttled = failures["dependencies"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["group"]["result_code"] == "429" && r["group"]["target"] == AOAI)
        .unwrap_or_else(|| panic!("{failures}"));
    assert_eq!(throttled["count"], 3);
    assert_eq!(throttled["sample_operation_id"], operation_id(SEED));
    let exceptions = &failures["exceptions"]["rows"][0];
    assert!(
        exceptions.get("p50_ms").is_none() && exceptions.get("failure_rate").is_none(),
        "exceptions carry no durations: {exceptions}"
    );
    assert_eq!(
        (
            exceptions["group"]["exception_type"].as_str(),
            exceptions["count"].as_u64()
        ),
        (Some("ValueError"), Some(4))
    );
    record(path, failures);

    // The application map: chat-api calls search-svc (its request was received) and Azure OpenAI.
    let path = format!("/api/v1/map?{range}");
    let map = ok(server, &path).await;
    let edges: Vec<(String, String, u64)> = map["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap_or("").into(),
                e["to"].as_str().unwrap_or("").into(),
                e["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        edges.contains(&("role:chat-api".into(), "role:search-svc".into(), CALLS)),
        "{edges:?}"
    );
    assert!(
        edges.contains(&(
            "role:chat-api".into(),
            format!("external:HTTP:{AOAI}"),
            CALLS + 3
        )),
        "{edges:?}"
    );
    // In-process spans (the fixture's INTERNAL ones) are no service on the map.
    assert!(
        !map.to_string().contains("external:InProc"),
        "in-process spans drawn as a node: {map}"
    );
    record(path, map);
    // Filters narrow the map like every read: the search service alone calls nothing.
    let path = format!("/api/v1/map?filter.role=search-svc&{range}");
    let search_only = ok(server, &path).await;
    assert_eq!(search_only["edges"], serde_json::json!([]), "{search_only}");
    let names: Vec<&str> = search_only["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["search-svc"], "{search_only}");
    record(path, search_only);

    for (path, value) in genai::answers(server, scenario).await {
        record(path, value);
    }

    // Search: text, severity, kind.
    let path = format!("/api/v1/search?q=CALL%2049&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"][0]["message"], "answered chat call 49");
    record(path, found);
    let path = format!("/api/v1/search?severity=error&kind=traces&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(4));
    record(path, found);
    let path = format!("/api/v1/search?kind=exceptions&q=valueerror&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(4));
    record(path, found);
    // The same filters as every read: an exception column keeps exceptions only.
    let path = format!("/api/v1/search?filter.exception_type=ValueError&limit=1000&{range}");
    let found = ok(server, &path).await;
    let kinds: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["exception"; 4], "{found}");
    record(path, found);
    let path = format!("/api/v1/search?filter.role=search-svc&q=answered&{range}");
    let found = ok(server, &path).await;
    assert_eq!(found["items"], serde_json::json!([]), "{found}");
    record(path, found);
    all
}

on_both_engines!(sqlite_and_clickhouse_give_the_same_answers);

/// The seed story's deployment has a quota of 8,000 tokens a minute; its 50 calls of 150
/// tokens fall in one minute.
pub(crate) const QUOTA_TPM: u64 = 8_000;

fn with_quota(config: &mut tracehouse::config::ServeConfig) {
    config.genai.quotas = vec![tracehouse::genai::Quota {
        target: AOAI.into(),
        model: "gpt-4o".into(),
        tokens_per_minute: Some(QUOTA_TPM),
        requests_per_minute: None,
    }];
}

async fn sqlite_and_clickhouse_give_the_same_answers(engine: Engine) {
    let scenario = Scenario::new();
    let sqlite = TestServer::start_with(with_quota, None).await;
    let clickhouse =
        TestServer::start_on_engine(engine, &database_for("query_api"), with_quota).await;
    let mut results = Vec::new();
    for server in [&sqlite, &clickhouse] {
        load(server, &scenario).await;
        wait_until_stored(server, &scenario).await;
        results.push(answers(server, &scenario).await);
    }
    for ((path, on_sqlite), (_, on_clickhouse)) in results[0].iter().zip(&results[1]) {
        assert_eq!(on_sqlite, on_clickhouse, "{engine:?} {path}");
    }
    assert_eq!(results[0].len(), results[1].len());
    // Every field of every answer is described in the OpenAPI document, with its type.
    let doc = ok(&sqlite, "/api/v1/openapi.json").await;
    let mut answered = results.swap_remove(0);
    let range = scenario.range();
    for path in [
        format!("/api/v1/failures?interval=1m&{range}"),
        format!("/api/v1/genai/usage?interval=1m&{range}"),
        format!("/api/v1/genai/sessions?{range}"),
        format!("/api/v1/genai/users?{range}"),
        format!("/api/v1/samples?band=p95-p99&{range}"),
        "/api/v1/live".to_owned(),
    ] {
        let body = ok(&sqlite, &path).await;
        answered.push((path, body));
    }
    for (path, body) in &answered {
        let endpoint = path.split('?').next().unwrap_or(path);
        let template = if endpoint.starts_with("/api/v1/operations/") {
            "/api/v1/operations/{operation_id}"
        } else {
            endpoint
        };
        let schema = &doc["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        let mut problems = Vec::new();
        undescribed(&doc, schema, body, "", &mut problems);
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }
    sqlite.stop().await;
    clickhouse.stop().await;
}

#[tokio::test]
async fn hostile_parameters_get_400_naming_the_parameter() {
    let server = TestServer::start().await;
    for (query, parameter) in [
        (
            "/api/v1/performance?group_by=name;DROP TABLE requests",
            "group_by",
        ),
        ("/api/v1/performance?group_by=password", "group_by"),
        (
            "/api/v1/performance?filter.name'%20OR%20--=x",
            "filter.name' OR --",
        ),
        ("/api/v1/performance?from=1970-01-01T00:00:00Z", "from"),
        ("/api/v1/performance?from=yesterday", "from"),
        ("/api/v1/performance?from=2h&to=3h", "from"),
        ("/api/v1/performance?limit=-1", "limit"),
        ("/api/v1/performance?limit=99999999999999999999", "limit"),
        ("/api/v1/performance?interval=1s&from=7d", "interval"),
        ("/api/v1/performance?table=users", "table"),
        ("/api/v1/performance?select=*", "select"),
        ("/api/v1/performance?limit=1&limit=2", "limit"),
        ("/api/v1/samples?band=p99-p95", "band"),
        ("/api/v1/samples?min_ms=-5", "min_ms"),
        ("/api/v1/samples?cursor=AAAA", "cursor"),
        ("/api/v1/samples?order=random", "order"),
        ("/api/v1/search?severity=loud", "severity"),
        ("/api/v1/search?operation_id=x'%20OR%20''='", "operation_id"),
        ("/api/v1/operations/abc'%20OR%201=1", "operation_id"),
    ] {
        let (status, body) = get(&server, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}: {body}");
    }
    // A thousand filters (which SQLite cannot plan and ClickHouse runs for minutes) are refused,
    // naming the first one too many; the cap itself is accepted on both kinds of filter.
    let many = |n: usize| -> String {
        (0..n)
            .map(|i| format!("dim.k{i:04}=v"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let (status, body) = get(&server, &format!("/api/v1/performance?{}", many(1_000))).await;
    assert_eq!(
        (status, &body["error"]["parameter"]),
        (400, &serde_json::json!("dim.k0020"))
    );
    ok(
        &server,
        &format!("/api/v1/performance?filter.role=x&{}", many(19)),
    )
    .await;
    // Values are data, never SQL: a name full of SQL simply matches nothing.
    let body = ok(&server, "/api/v1/performance?filter.name=x'%20OR%20'1'='1").await;
    assert_eq!(body["rows"], serde_json::json!([]));
    let (status, _) = get(
        &server,
        "/api/v1/operations/0123456789abcdef0123456789abcdef",
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_and_parameter() {
    let server = TestServer::start().await;
    let doc = ok(&server, "/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/api/v1/operations/{operation_id}",
        "/api/v1/performance",
        "/api/v1/samples",
        "/api/v1/performance/histogram",
        "/api/v1/failures",
        "/api/v1/map",
        "/api/v1/genai/usage",
        "/api/v1/genai/sessions",
        "/api/v1/genai/users",
        "/api/v1/scores",
        "/api/v1/search",
        "/api/v1/query",
        "/api/v1/metrics",
        "/api/v1/metrics/series",
        "/api/v1/k8s/nodes",
        "/api/v1/k8s/pods",
        "/api/v1/k8s/containers",
        "/api/v1/k8s/ready-nodes",
        "/api/v1/alerts/rules",
        "/api/v1/alerts",
        "/api/v1/alerts/history",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    assert!(doc["paths"]["/api/v1/query"]["post"]["requestBody"].is_object());
    let names: Vec<&str> = doc["paths"]["/api/v1/samples"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"band") && names.contains(&"cursor"),
        "{names:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let server = TestServer::start_with(
        |config| config.cors_origins = vec!["https://ops.example".into()],
        None,
    )
    .await;
    let client = reqwest::Client::new();
    let allowed = |origin: &'static str| {
        let request = client
            .get(server.api_url("/api/v1/openapi.json"))
            .header("origin", origin)
            .send();
        async move {
            request
                .await
                .expect("get")
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(
        allowed("https://ops.example").await.as_deref(),
        Some("https://ops.example")
    );
    assert_eq!(allowed("https://evil.example").await, None);
    server.stop().await;
}

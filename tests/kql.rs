//! KQL against the seed story on SQLite and both ClickHouse engines: the runbook's error-rate
//! query verbatim, a corpus of queries in the style of the App Insights and Log Analytics
//! documentation whose answers are computed here from what the scenario sent, hostile queries,
//! and scoped reads.

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::*;
use serde_json::{Value, json};

on_both_engines!(
    the_runbook_query_and_the_corpus_answer_on_clickhouse,
    hostile_queries_are_refused_or_answered_on_clickhouse,
);

const RUNBOOK: &str = "AppRequests
| where TimeGenerated > ago(6h)
| summarize TotalRequests = count(), ErrorRequests = countif(ResultCode >= 500) by bin(TimeGenerated, 5m)
| extend ErrorRate = ErrorRequests * 100.0 / TotalRequests
| render timechart";

async fn post(server: &TestServer, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.api_url("/api/v1/query"))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("query");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// The rows of a successful answer.
async fn rows(server: &TestServer, query: &str, timespan: &str) -> Vec<Value> {
    let (status, body) = post(
        server,
        json!({ "query": query, "timespan": timespan }),
        None,
    )
    .await;
    assert_eq!(status, 200, "{query}: {body}");
    body["tables"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Lists inside cells sorted, numbers as f64: `make_set` has no order, and the stores give
/// `1250` or `1250.0` alike.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::Number(n) => json!(n.as_f64().map(|x| (x * 1e6).round() / 1e6)),
        other => other.clone(),
    }
}

fn row_set(rows: &[Value]) -> Vec<Value> {
    let mut rows: Vec<Value> = rows
        .iter()
        .map(|row| match row {
            Value::Array(cells) => Value::Array(cells.iter().map(normalized).collect()),
            other => other.clone(),
        })
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// `POST /chat` durations of calls 1..=50 and the nearest-rank percentile of a sorted list.
fn chat_durations() -> Vec<f64> {
    let mut durations: Vec<f64> = (1..=CALLS).map(|c| request_ms(c) as f64).collect();
    durations.sort_by(f64::total_cmp);
    durations
}

fn nearest_rank(sorted: &[f64], percent: f64) -> f64 {
    let rank = ((sorted.len() as f64 * percent / 100.0).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Count of items per bucket of `width_ns` of their start times, as `(bucket start, count)`.
fn per_bucket(starts: impl Iterator<Item = u64>, width_ns: u64) -> BTreeMap<u64, u64> {
    let mut buckets = BTreeMap::new();
    for start in starts {
        *buckets.entry(start / width_ns * width_ns).or_insert(0) += 1;
    }
    buckets
}

fn iso(ns: u64) -> String {
    tracehouse::kql::values::format_datetime(ns as i64)
}

/// Queries with the answer the scenario implies, in any row order unless they sort.
fn corpus(scenario: &Scenario) -> Vec<(String, Vec<Value>)> {
    let durations = chat_durations();
    let mean = durations.iter().sum::<f64>() / durations.len() as f64;
    let failing: Vec<u64> = (1..=CALLS).filter(|c| fails(*c)).collect();
    let failing_mean =
        failing.iter().map(|c| request_ms(*c) as f64).sum::<f64>() / failing.len() as f64;
    let contoso_ok = (1..=CALLS).filter(|c| c % 2 == 0 && !fails(*c)).count();
    let hour_ns = 3_600_000 * MS;
    let hours = per_bucket(
        (1..=CALLS).flat_map(|c| [scenario.start(c), scenario.start(c) + 3 * MS]),
        hour_ns,
    );
    let by_role_hour: Vec<Value> = ["chat-api", "search-svc"]
        .iter()
        .flat_map(|role| {
            let offset = if *role == "chat-api" { 0 } else { 3 * MS };
            per_bucket((1..=CALLS).map(|c| scenario.start(c) + offset), hour_ns)
                .into_iter()
                .map(move |(hour, n)| json!([role, iso(hour), n]))
        })
        .collect();
    let hour_of_day: Vec<Value> = hours
        .iter()
        .map(|(hour, n)| json!([(hour / hour_ns) % 24, n]))
        .collect();
    let log_sum: u64 = (1..=CALLS).sum();
    let messages: Vec<Value> = failing
        .iter()
        .map(|c| json!([format!("answered chat call {c}")]))
        .collect();
    let q = |text: &str, rows: Vec<Value>| (text.to_owned(), rows);
    vec![
        q("AppRequests | count", vec![json!([100])]),
        q("requests | count", vec![json!([100])]),
        q(
            "AppRequests | summarize count() by AppRoleName",
            vec![json!(["chat-api", 50]), json!(["search-svc", 50])],
        ),
        q(
            "requests | where success == false | summarize count() by resultCode",
            vec![json!(["500", 4])],
        ),
        q(
            "AppRequests | where Success == false | summarize FailedCount = count() by ResultCode, Name",
            vec![json!(["500", "POST /chat", 4])],
        ),
        q(
            "AppRequests | where Name == \"POST /chat\" | summarize percentiles(DurationMs, 50, 95, 99)",
            vec![json!([
                nearest_rank(&durations, 50.0),
                nearest_rank(&durations, 95.0),
                nearest_rank(&durations, 99.0)
            ])],
        ),
        q(
            "AppDependencies | summarize calls = count() by Target",
            vec![json!([AOAI, 103]), json!(["search-svc:8000", 50])],
        ),
        q(
            "AppDependencies | where Target == \"search-svc:8000\" | summarize p50 = percentile(DurationMs, 50), p95 = percentile(DurationMs, 95), max(DurationMs)",
            vec![json!([100.0, 100.0, 300.0])],
        ),
        q(
            "AppDependencies | summarize count() by DependencyType | where DependencyType startswith \"GenAI\"",
            vec![json!(["GenAI | azure.ai.openai", 50])],
        ),
        q(
            "AppExceptions | summarize count() by ExceptionType",
            vec![json!(["ValueError", 4])],
        ),
        q(
            "AppExceptions\n| join kind=inner (AppRequests | where AppRoleName == \"chat-api\" | project OperationId, RequestName = Name, DurationMs) on OperationId\n| summarize count(), avg(DurationMs) by ExceptionType, RequestName",
            vec![json!(["ValueError", "POST /chat", 4, failing_mean])],
        ),
        q(
            "AppRequests | summarize count() by AppRoleName, bin(TimeGenerated, 1h)",
            by_role_hour,
        ),
        q(
            "AppRequests | summarize p95 = percentile(DurationMs, 95) by Name | top 10 by p95 desc",
            vec![
                json!(["POST /chat", nearest_rank(&durations, 95.0)]),
                json!(["GET /search", 80.0]),
            ],
        ),
        q(
            "AppTraces | where Message has \"call\" | count",
            vec![json!([50])],
        ),
        q(
            "AppTraces | where Message contains \"call 1\" | count",
            vec![json!([11])],
        ),
        q(
            "AppTraces | where Message has \"answered\" and not(Message has \"call 1\") | count",
            vec![json!([49])],
        ),
        q(
            "traces | where severityLevel >= 3 | project message",
            messages,
        ),
        q(
            "AppDependencies\n| where isnotempty(Properties[\"gen_ai.request.model\"])\n| summarize input = sum(toint(Properties[\"gen_ai.usage.input_tokens\"])), output = sum(tolong(Properties[\"gen_ai.usage.output_tokens\"])) by model = tostring(Properties[\"gen_ai.request.model\"])",
            vec![json!(["gpt-4o", 5000, 2500])],
        ),
        q(
            "dependencies | summarize tokens = sum(todouble(customMeasurements[\"gen_ai.usage.output_tokens\"])) by target | where tokens > 0",
            vec![json!([AOAI, 2500.0])],
        ),
        q(
            "AppDependencies | where GenAIRequestModel != \"\" | summarize sum(GenAIInputTokens), sum(GenAIOutputTokens) by GenAIRequestModel",
            vec![json!(["gpt-4o", 5000, 2500])],
        ),
        q(
            "AppDependencies | where ResultCode == \"429\" | summarize count() by Target",
            vec![json!([AOAI, 3])],
        ),
        q(
            "AppDependencies | where ResultCode == \"429\"\n| join kind=inner (AppRequests | where DurationMs > 5000 | project OperationId, Name) on OperationId\n| summarize throttles = count() by Name1",
            vec![json!(["POST /chat", 3])],
        ),
        q(
            "AppRequests | where DurationMs between (1400 .. 2000) | count",
            vec![json!([10])],
        ),
        q(
            "AppRequests | where Name in (\"POST /chat\", \"GET /search\") and AppRoleName !in (\"search-svc\") | count",
            vec![json!([50])],
        ),
        q(
            "AppRequests | where Name in~ (\"post /CHAT\") | count",
            vec![json!([50])],
        ),
        q(
            "AppRequests | where Name =~ \"post /chat\" | count",
            vec![json!([50])],
        ),
        q(
            "AppRequests | where Name !~ \"post /chat\" | count",
            vec![json!([50])],
        ),
        q(
            "AppRequests | where Name startswith \"post\" | count",
            vec![json!([50])],
        ),
        q(
            "AppRequests | where Name startswith_cs \"post\" | count",
            vec![json!([0])],
        ),
        q(
            "AppRequests | where Name endswith \"/search\" and Name !contains \"chat\" | count",
            vec![json!([50])],
        ),
        q(
            "requests | where name matches regex \"^GET /s.*h$\" | count",
            vec![json!([50])],
        ),
        q(
            "AppDependencies | where Target has \"openai\" | count",
            vec![json!([103])],
        ),
        q(
            "AppRequests | extend tenant = tostring(Properties.tenant) | where isnotempty(tenant) | summarize count() by tenant",
            vec![json!(["contoso", 25]), json!(["fabrikam", 25])],
        ),
        q(
            "AppRequests | where Properties[\"tenant\"] == \"contoso\" and Success | summarize n = count()",
            vec![json!([contoso_ok])],
        ),
        q(
            "AppRequests | where AppRoleName == \"chat-api\" | summarize arg_max(DurationMs, OperationId)",
            vec![json!([7700.0, operation_id(SEED)])],
        ),
        q(
            "AppRequests | top 3 by DurationMs desc | project OperationId, DurationMs",
            vec![
                json!([operation_id(50), 7700.0]),
                json!([operation_id(49), 1490.0]),
                json!([operation_id(48), 1480.0]),
            ],
        ),
        q(
            "AppRequests | where AppRoleName == \"chat-api\" | summarize min(DurationMs), max(DurationMs), sum(ItemCount), dcount(ResultCode)",
            vec![json!([1010.0, 7700.0, 50, 2])],
        ),
        q("requests | summarize sum(itemCount)", vec![json!([100])]),
        q(
            "AppDependencies | summarize make_set(Target) by AppRoleName",
            vec![json!(["chat-api", [AOAI, "search-svc:8000"]])],
        ),
        q(
            "AppRequests | where AppRoleName == \"search-svc\" | summarize make_list(DurationMs)",
            vec![json!([vec![80.0; CALLS as usize]])],
        ),
        q(
            "union AppRequests, AppTraces | summarize count() by Type",
            vec![json!(["AppRequests", 100]), json!(["AppTraces", 50])],
        ),
        q(
            "union requests, exceptions | summarize count() by itemType",
            vec![json!(["exception", 4]), json!(["request", 100])],
        ),
        q(
            "AppRequests | join kind=leftanti (AppExceptions) on OperationId | count",
            vec![json!([92])],
        ),
        q(
            "AppRequests | join kind=leftsemi (AppExceptions) on OperationId | count",
            vec![json!([8])],
        ),
        q(
            "AppRequests | where AppRoleName == \"chat-api\"\n| join kind=leftouter (AppExceptions | project OperationId, ExceptionType) on OperationId\n| summarize count() by ExceptionType",
            vec![json!(["", 46]), json!(["ValueError", 4])],
        ),
        q(
            "let threshold = 1400;\nAppRequests | where DurationMs > threshold | count",
            vec![json!([10])],
        ),
        q(
            "let chat = AppRequests | where Name == \"POST /chat\";\nchat | summarize avg(DurationMs)",
            vec![json!([mean])],
        ),
        q(
            "AppRequests | where AppRoleName == \"chat-api\" | extend seconds = DurationMs / 1000 | summarize max(seconds)",
            vec![json!([7.7])],
        ),
        q(
            "AppRequests | extend speed = iff(DurationMs > 1400, \"slow\", \"ok\") | summarize count() by speed",
            vec![json!(["ok", 90]), json!(["slow", 10])],
        ),
        q(
            "AppRequests | extend bucket = case(DurationMs < 100, \"fast\", DurationMs < 2000, \"normal\", \"slow\") | summarize count() by bucket",
            vec![
                json!(["fast", 50]),
                json!(["normal", 49]),
                json!(["slow", 1]),
            ],
        ),
        q(
            "AppRequests | where AppRoleName == \"chat-api\" | extend label = strcat(Name, \"#\", toint(DurationMs / 1000)) | summarize count() by label",
            vec![json!(["POST /chat#1", 49]), json!(["POST /chat#7", 1])],
        ),
        q(
            "AppTraces | extend n = toint(extract(\"call ([0-9]+)\", 1, Message)) | summarize sum(n)",
            vec![json!([log_sum])],
        ),
        q(
            "AppTraces | extend n = extract(\"(answered) (chat) call ([0-9]+)\", 3, Message) | summarize sum(toint(n)), dcount(extract(\"(a)(n)swered\", 2, Message))",
            vec![json!([log_sum, 1])],
        ),
        q(
            "AppTraces | extend parts = split(Message, \" \") | extend word = tostring(parts[1]) | distinct word",
            vec![json!(["chat"])],
        ),
        q(
            "AppRequests | project-rename Operation = Name | where AppRoleName == \"search-svc\" | distinct Operation",
            vec![json!(["GET /search"])],
        ),
        q(
            "AppRequests | project-away Properties, Measurements, Url* | where AppRoleName == \"search-svc\" | take 1 | project Name",
            vec![json!(["GET /search"])],
        ),
        q(
            "AppRequests | distinct AppRoleName, Name",
            vec![
                json!(["chat-api", "POST /chat"]),
                json!(["search-svc", "GET /search"]),
            ],
        ),
        q(
            "print answer = 6 * 7, span = 90s, at = datetime(2026-12-01T10:00:00Z) + 1d",
            vec![json!([42, "00:01:30", "2026-12-02T10:00:00Z"])],
        ),
        q(
            "AppRequests | summarize count() by hour = hourofday(TimeGenerated)",
            hour_of_day,
        ),
        q(
            "AppRequests | summarize avg(DurationMs) by AppRoleName | where avg_DurationMs > 1000",
            vec![json!(["chat-api", mean])],
        ),
        q(
            "AppRequests | where AppRoleName == \"chat-api\" | sort by DurationMs asc | take 2 | project DurationMs",
            vec![json!([1010.0]), json!([1020.0])],
        ),
    ]
}

async fn the_runbook_query_and_the_corpus_answer(server: &TestServer) {
    let scenario = Scenario::new();
    load(server, &scenario).await;
    wait_until_stored(server, &scenario).await;
    let from = scenario.base_ns - 60_000 * MS;
    let timespan = format!("{}/PT15M", iso(from));

    // The runbook, verbatim, with the time range set by its own `where`.
    let (status, body) = post(server, json!({ "query": RUNBOOK }), None).await;
    assert_eq!(status, 200, "{body}");
    let columns: Vec<(&str, &str)> = body["tables"][0]["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or(""),
                c["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("TimeGenerated", "datetime"),
            ("TotalRequests", "long"),
            ("ErrorRequests", "long"),
            ("ErrorRate", "real")
        ]
    );
    assert_eq!(body["render"]["visualization"], "timechart");
    let five_minutes = 300_000 * MS;
    let totals = per_bucket(
        (1..=CALLS).flat_map(|c| [scenario.start(c), scenario.start(c) + 3 * MS]),
        five_minutes,
    );
    let errors = per_bucket(
        (1..=CALLS).filter(|c| fails(*c)).map(|c| scenario.start(c)),
        five_minutes,
    );
    let expected: Vec<Value> = totals
        .iter()
        .map(|(bucket, total)| {
            let failed = errors.get(bucket).copied().unwrap_or(0);
            json!([
                iso(*bucket),
                total,
                failed,
                failed as f64 * 100.0 / *total as f64
            ])
        })
        .collect();
    let answered = body["tables"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(row_set(&answered), row_set(&expected), "{body}");

    for (query, expected) in corpus(&scenario) {
        let answered = rows(server, &query, &timespan).await;
        let ordered = query.contains("sort by") || query.contains("top ");
        if ordered {
            let normal = |rows: &[Value]| -> Vec<Value> { rows.iter().map(normalized).collect() };
            assert_eq!(normal(&answered), normal(&expected), "{query}");
        } else {
            assert_eq!(row_set(&answered), row_set(&expected), "{query}");
        }
    }
}

async fn hostile_queries_are_refused_or_answered(server: &TestServer) {
    let scenario = Scenario::new();
    load(server, &scenario).await;
    wait_until_stored(server, &scenario).await;
    let timespan = format!("{}/PT15M", iso(scenario.base_ns - 60_000 * MS));
    for injection in [
        "x' OR '1'='1",
        "\\\"); DROP TABLE requests; --",
        "'; SELECT * FROM system.users; --",
        "?",
        "{requests}",
    ] {
        let quoted = tracehouse::kql::print::string(injection);
        let query = format!(
            "AppRequests | where Name == {quoted} or Name has {quoted} or Name contains @'{}' | count",
            injection.replace('\'', "")
        );
        assert_eq!(
            rows(server, &query, &timespan).await,
            vec![json!([0])],
            "{query}"
        );
    }
    assert_eq!(
        rows(server, "AppRequests | count", &timespan).await,
        vec![json!([100])]
    );
    let all = rows(server, "AppRequests | take 9999999999", &timespan).await;
    assert_eq!(all.len(), 100);
    for (query, code) in [
        (
            format!("print x = {}1{}", "(".repeat(1000), ")".repeat(1000)),
            "SyntaxError",
        ),
        ("AppRequests | where".to_owned(), "SyntaxError"),
        (
            "AppRequests | evaluate bag_unpack(Properties)".to_owned(),
            "NotSupported",
        ),
        ("AppRequests | where Nope == 1".to_owned(), "SemanticError"),
        (
            "AppRequests | where Name matches regex \"(\"".to_owned(),
            "SemanticError",
        ),
        ("x".repeat(100_000), "SyntaxError"),
    ] {
        let (status, body) = post(
            server,
            json!({ "query": query, "timespan": timespan }),
            None,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["position"]["line"].is_u64(), "{body}");
    }
    let (status, body) = post(
        server,
        json!({ "query": "AppRequests | count", "timespan": "yesterday" }),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BadArgument"))
    );
    for bad in ["not json", "{\"q\": \"AppRequests\"}", "{\"query\": 5}"] {
        let response = reqwest::Client::new()
            .post(server.api_url("/api/v1/query"))
            .body(bad)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "BadArgument", "{bad}");
    }
    let get = |path: String| {
        let url = server.api_url(&path);
        async move {
            let response = reqwest::get(url).await.expect("get");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("json"),
            )
        }
    };
    let encode =
        |text: &str| -> String { form_urlencoded::byte_serialize(text.as_bytes()).collect() };
    let (status, body) = get(format!(
        "/api/v1/query?query={}&timespan={}",
        encode("AppRequests | count"),
        encode(&timespan)
    ))
    .await;
    assert_eq!(
        (status, body["tables"][0]["rows"].clone()),
        (200, json!([[100]])),
        "{body}"
    );
    let (status, body) = get("/api/v1/query?q=AppRequests".into()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("BadArgument")),
        "{body}"
    );
    let (status, _) = get("/api/v1/query".into()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_runbook_query_and_the_corpus_answer_on_sqlite() {
    the_runbook_query_and_the_corpus_answer(&TestServer::start().await).await;
}

async fn the_runbook_query_and_the_corpus_answer_on_clickhouse(engine: Engine) {
    let database = database_for(&format!("kql_corpus_{engine:?}"));
    let server = TestServer::start_on_engine(engine, &database, |_| {}).await;
    the_runbook_query_and_the_corpus_answer(&server).await;
}

#[tokio::test]
async fn hostile_queries_are_refused_or_answered_on_sqlite() {
    hostile_queries_are_refused_or_answered(&TestServer::start().await).await;
}

async fn hostile_queries_are_refused_or_answered_on_clickhouse(engine: Engine) {
    let database = database_for(&format!("kql_hostile_{engine:?}"));
    let server = TestServer::start_on_engine(engine, &database, |_| {}).await;
    hostile_queries_are_refused_or_answered(&server).await;
}

#[tokio::test]
async fn a_token_reads_only_its_apps_rows() {
    let server = TestServer::start_with(|config| config.require_tokens = true, None).await;
    let scenario = Scenario::new();
    load(&server, &scenario).await;
    server.wait_until_shipped().await;
    let timespan = format!("{}/PT15M", iso(scenario.base_ns - 60_000 * MS));
    let everything = common::issue_token(server.store.as_ref(), &[], true).await;
    let other_app = common::issue_token(server.store.as_ref(), &["another-app"], false).await;
    let body = |query: &str| json!({ "query": query, "timespan": timespan });
    let (status, _) = post(&server, body("AppRequests | count"), None).await;
    assert_eq!(status, 401);
    let (_, all) = post(
        &server,
        body("union AppRequests, AppDependencies | count"),
        Some(&everything),
    )
    .await;
    assert_eq!(all["tables"][0]["rows"], json!([[253]]), "{all}");
    let (_, scoped) = post(
        &server,
        body("union AppRequests, AppDependencies, AppTraces | join kind=leftouter (AppRequests) on OperationId | count"),
        Some(&other_app),
    )
    .await;
    assert_eq!(scoped["tables"][0]["rows"], json!([[0]]), "{scoped}");
}

// Multi-threaded: the CLI runs as a blocking child process while this runtime serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_answer_from_the_store_or_the_server() {
    let server = TestServer::start().await;
    let scenario = Scenario::new();
    load(&server, &scenario).await;
    wait_until_stored(&server, &scenario).await;
    let timespan = format!("{}/PT15M", iso(scenario.base_ns - 60_000 * MS));
    let query = "AppRequests | summarize calls = count(), failed = countif(not(Success)) by AppRoleName | sort by AppRoleName asc";
    let run = |extra: Vec<String>| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tracehouse"))
            .arg("query")
            .args(extra)
            .args(["--timespan", &timespan, query])
            .env_remove("TRACEHOUSE_SERVER")
            .output()
            .expect("tracehouse query runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        )
    };
    let data_dir = server.dir.path().display().to_string();
    let expected = "AppRoleName  calls  failed\n-----------  -----  ------\nchat-api     50     4\nsearch-svc   50     0\n";
    let (ok, direct, stderr) = run(vec!["--data-dir".into(), data_dir.clone()]);
    assert!(ok, "{stderr}");
    assert_eq!(direct, expected);
    let (ok, remote, stderr) = run(vec!["--server".into(), format!("http://{}", server.api)]);
    assert!(ok, "{stderr}");
    assert_eq!(remote, expected);
    let (ok, csv, _) = run(vec![
        "--data-dir".into(),
        data_dir.clone(),
        "--format".into(),
        "csv".into(),
    ]);
    assert!(ok);
    assert_eq!(
        csv,
        "AppRoleName,calls,failed\r\nchat-api,50,4\r\nsearch-svc,50,0\r\n"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .args([
            "query",
            "--data-dir",
            &data_dir,
            "AppRequests | where Nope > 1",
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("1:21: unknown column or name 'Nope'")
    );
}

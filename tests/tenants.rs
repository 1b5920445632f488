//! Tenant scoping of the query API, on SQLite and both ClickHouse engines: app "beta" sends the
//! seed story, app "alpha" sends spans and log lines that reuse beta's trace id and span ids
//! (a child under beta's root, a clone of beta's root, a dependency with the id beta's search
//! request names as parent, a 429 attempt under beta's GenAI call). Every read with alpha's
//! token shows alpha's rows and nothing of beta's; beta's transaction, map and GenAI figures
//! are what beta sent, untouched by alpha's spans.

mod common;

use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::{
    AOAI, MS, SEED, Scenario, get_as, int, ok_as, operation_id, post_with_key as post, span_id,
    text, trace_id,
};
use common::{TestServer, issue_token};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::Value;
use tracehouse::config::ServeConfig;
use tracehouse::store::KeyRecord;

const ALPHA_KEY: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const BETA_KEY: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
/// Text only beta's telemetry contains.
const BETA_MARKS: [&str; 6] = [
    "chat-api",
    "search-svc",
    "/chat",
    AOAI,
    "ValueError",
    "answered",
];

fn require_keys(config: &mut ServeConfig) {
    config.require_keys = true;
    config.live_metrics = true;
}

/// Alpha's own request, and spans forged into beta's seed transaction.
fn alpha_spans(scenario: &Scenario) -> Vec<Span> {
    let start = scenario.start(SEED);
    let forged = |id: Vec<u8>, parent: Vec<u8>, name: &str, kind: i32, attributes| {
        let mut span = Scenario::timed(
            Span {
                trace_id: trace_id(SEED),
                span_id: id,
                parent_span_id: parent,
                name: name.into(),
                kind,
                ..Default::default()
            },
            start + 5 * MS,
            40,
        );
        span.attributes = attributes;
        span
    };
    let http = |status: i64, host: &str| {
        vec![
            text("http.request.method", "POST"),
            text("server.address", host),
            int("http.response.status_code", status),
        ]
    };
    let mut own = Scenario::timed(
        Span {
            trace_id: vec![0xa1; 16],
            span_id: vec![0xa1; 8],
            name: "GET /alpha".into(),
            kind: 2,
            ..Default::default()
        },
        start,
        25,
    );
    own.attributes = vec![
        text("http.request.method", "GET"),
        int("http.response.status_code", 200),
    ];
    vec![
        own,
        // A child under beta's root.
        forged(
            vec![0xa2; 8],
            span_id(SEED, 1),
            "GET /alpha-injected",
            2,
            vec![int("http.response.status_code", 200)],
        ),
        // beta's root span id again.
        forged(
            span_id(SEED, 1),
            Vec::new(),
            "GET /alpha-clone",
            2,
            vec![int("http.response.status_code", 200)],
        ),
        // The id beta's search request names as its parent.
        forged(
            span_id(SEED, 2),
            vec![0xa2; 8],
            "POST",
            3,
            http(200, "alpha-target"),
        ),
        // A throttled attempt under beta's GenAI call.
        forged(
            vec![0xa3; 8],
            span_id(SEED, 3),
            "POST",
            3,
            http(429, "alpha-llm"),
        ),
    ]
}

fn alpha_traces(scenario: &Scenario) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "alpha-api"),
                    text("service.instance.id", "alpha-pod"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: alpha_spans(scenario),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn alpha_logs(scenario: &Scenario) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", "alpha-api")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: scenario.start(SEED) + 6 * MS,
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(Any::StringValue("alpha log in beta's operation".into())),
                    }),
                    trace_id: trace_id(SEED),
                    span_id: span_id(SEED, 1),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn live_post(server: &TestServer, key: &str, instance: &str) {
    let point = serde_json::json!([{
        "Version": "1", "InvariantVersion": 5, "Instance": instance, "RoleName": instance,
        "Metrics": [{"Name": "\\ApplicationInsights\\Requests/Sec", "Value": 3.0, "Weight": 1}],
    }]);
    let response = reqwest::Client::new()
        .post(server.http_url(&format!("/QuickPulseService.svc/post?ikey={key}")))
        .header("content-type", "application/json")
        .body(point.to_string())
        .send()
        .await
        .expect("live post");
    assert_eq!(response.status(), 200);
}

fn assert_nothing_of_beta(path: &str, body: &Value) {
    let text = body.to_string();
    for mark in BETA_MARKS {
        assert!(!text.contains(mark), "{path} shows beta's {mark:?}: {text}");
    }
}

async fn scoped_reads(server: TestServer) {
    for (key, app) in [(ALPHA_KEY, "alpha"), (BETA_KEY, "beta")] {
        server
            .store
            .save_key(&KeyRecord {
                key: key.into(),
                app: app.into(),
                created_ns: 1,
                revoked_ns: None,
            })
            .await
            .expect("key");
    }
    let store = &*server.store;
    let alpha = issue_token(store, &["alpha"], false).await;
    let beta = issue_token(store, &["beta"], false).await;
    let everyone = issue_token(store, &[], true).await;
    let scenario = Scenario::new();
    let range = scenario.range();
    post(
        &server,
        BETA_KEY,
        "/v1/traces",
        scenario.traces_request().encode_to_vec(),
    )
    .await;
    post(
        &server,
        BETA_KEY,
        "/v1/logs",
        scenario.logs_request().encode_to_vec(),
    )
    .await;
    post(
        &server,
        ALPHA_KEY,
        "/v1/traces",
        alpha_traces(&scenario).encode_to_vec(),
    )
    .await;
    post(
        &server,
        ALPHA_KEY,
        "/v1/logs",
        alpha_logs(&scenario).encode_to_vec(),
    )
    .await;
    live_post(&server, BETA_KEY, "beta-pod").await;
    live_post(&server, ALPHA_KEY, "alpha-pod").await;
    server.wait_until_shipped().await;
    let seed = operation_id(SEED);
    let (from_ns, to_ns) = (
        scenario.base_ns - 60_000 * MS,
        scenario.base_ns + 600_000 * MS,
    );
    let seconds = format!(
        "start={}&end={}",
        from_ns / 1_000_000_000,
        to_ns / 1_000_000_000
    );
    let micros = format!("start={}&end={}", from_ns / 1_000, to_ns / 1_000);

    // Everything alpha reads is alpha's, and alpha's rows are there.
    for (path, alpha_mark) in [
        (
            format!("/api/v1/performance?group_by=role,name&{range}"),
            "GET /alpha",
        ),
        (
            format!("/api/v1/performance?table=dependencies&group_by=role,target&{range}"),
            "alpha-llm",
        ),
        (format!("/api/v1/samples?{range}"), "GET /alpha"),
        (
            format!("/api/v1/samples?table=dependencies&order=newest&{range}"),
            "alpha-target",
        ),
        (format!("/api/v1/failures?{range}"), "alpha-llm"),
        (format!("/api/v1/map?{range}"), "alpha-target"),
        (format!("/api/v1/search?{range}"), "alpha log"),
        (
            format!("/api/v1/search?operation_id={seed}&{range}"),
            "alpha log",
        ),
        (format!("/api/v1/operations/{seed}"), "GET /alpha-injected"),
        ("/api/v1/live".to_owned(), "alpha-pod"),
        // Grafana's Tempo and Jaeger data sources with alpha's token.
        (format!("/tempo/api/traces/{seed}"), "alpha-api"),
        (format!("/tempo/api/search?q={{}}&{seconds}"), "alpha-api"),
        (
            format!("/tempo/api/v2/search/tag/resource.service.name/values?{seconds}"),
            "alpha-api",
        ),
        ("/jaeger/api/services".to_owned(), "alpha-api"),
        (format!("/jaeger/api/traces/{seed}"), "alpha-api"),
        (
            format!("/jaeger/api/traces?service=alpha-api&{micros}"),
            "alpha-api",
        ),
    ] {
        let body = ok_as(&server, &alpha, &path).await;
        assert_nothing_of_beta(&path, &body);
        assert!(
            body.to_string().contains(alpha_mark),
            "{path} lacks {alpha_mark:?}: {body}"
        );
    }
    let genai = ok_as(&server, &alpha, &format!("/api/v1/genai/usage?{range}")).await;
    assert_eq!(genai["rows"], serde_json::json!([]), "{genai}");
    // The forged dependency stays an external call of alpha's, not an edge into beta.
    let map = ok_as(&server, &alpha, &format!("/api/v1/map?{range}")).await;
    assert!(
        map.to_string().contains("external:HTTP:alpha-target"),
        "{map}"
    );
    let transaction = ok_as(&server, &alpha, &format!("/api/v1/operations/{seed}")).await;
    assert_eq!(transaction["app"], "alpha");
    assert_eq!(
        transaction["other_apps"],
        serde_json::json!([]),
        "beta's app is not even named"
    );
    for path in [
        format!("/api/v1/operations/{seed}?app=beta"),
        format!("/api/v1/operations/{}", operation_id(1)),
    ] {
        let (status, body) = get_as(&server, Some(&alpha), &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, body) = get_as(&server, Some(&alpha), "/metrics").await;
    assert_eq!(status, 403, "{body}");

    // Beta's transaction, map and GenAI figures are beta's alone.
    let transaction = ok_as(&server, &beta, &format!("/api/v1/operations/{seed}")).await;
    assert!(!transaction.to_string().contains("alpha"), "{transaction}");
    assert_eq!(transaction["app"], "beta");
    assert_eq!(
        transaction["nodes"].as_array().map(Vec::len),
        Some(8),
        "{transaction}"
    );
    assert_eq!(
        transaction["roles"],
        serde_json::json!(["chat-api", "search-svc"])
    );
    let usage = ok_as(&server, &beta, &format!("/api/v1/genai/usage?{range}")).await;
    assert_eq!(usage["rows"][0]["throttled_attempts"], 3, "{usage}");
    for path in [
        format!("/api/v1/map?{range}"),
        format!("/api/v1/search?{range}"),
        "/api/v1/live".into(),
        format!("/tempo/api/traces/{seed}"),
        "/jaeger/api/services".into(),
    ] {
        let body = ok_as(&server, &beta, &path).await;
        assert!(!body.to_string().contains("alpha"), "{path}: {body}");
    }

    // A token for every app must say which app's transaction it means.
    let (status, body) = get_as(
        &server,
        Some(&everyone),
        &format!("/api/v1/operations/{seed}"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["parameter"].as_str()),
        (400, Some("app")),
        "{body}"
    );
    let transaction = ok_as(
        &server,
        &everyone,
        &format!("/api/v1/operations/{seed}?app=beta"),
    )
    .await;
    assert_eq!(transaction["other_apps"], serde_json::json!(["alpha"]));
    assert!(!transaction.to_string().contains("alpha-"), "{transaction}");
    // Reading both apps, alpha's forged spans still join nothing of beta's.
    let usage = ok_as(&server, &everyone, &format!("/api/v1/genai/usage?{range}")).await;
    assert_eq!(usage["rows"][0]["throttled_attempts"], 3, "{usage}");
    let map = ok_as(&server, &everyone, &format!("/api/v1/map?{range}")).await;
    let alpha_edges: Vec<&Value> = map["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["from"] == "role:alpha-api")
        .collect();
    assert!(!alpha_edges.is_empty(), "{map}");
    for edge in alpha_edges {
        assert!(
            edge["to"]
                .as_str()
                .is_some_and(|to| to.starts_with("external:")),
            "alpha's call reaches into beta: {edge}"
        );
    }
    let metrics = reqwest::Client::new()
        .get(server.api_url("/metrics"))
        .bearer_auth(&everyone)
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scoped_reads_on_sqlite() {
    scoped_reads(TestServer::start_with(require_keys, None).await).await;
}

async fn scoped_reads_on(engine: Engine) {
    let server = TestServer::start_on_engine(engine, &database_for("tenants"), require_keys).await;
    scoped_reads(server).await;
}

on_both_engines!(scoped_reads_on);

/// Reads need a valid, unrevoked token once keys or tokens are required.
#[tokio::test(flavor = "multi_thread")]
async fn reads_without_a_valid_token_are_refused() {
    let server = TestServer::start_with(
        |config| {
            config.require_tokens = true;
        },
        None,
    )
    .await;
    let revoked = issue_token(&*server.store, &["alpha"], false).await;
    let mut record = server
        .store
        .tokens()
        .await
        .expect("tokens")
        .pop()
        .expect("issued");
    record.revoked_ns = Some(tracehouse::clock::now_ns());
    server.store.save_token(&record).await.expect("revoke");
    let unknown = format!("th_{}", "A".repeat(43));
    for token in [
        None,
        Some("not-a-token"),
        Some(unknown.as_str()),
        Some(revoked.as_str()),
    ] {
        for path in [
            "/api/v1/performance",
            "/api/v1/live",
            "/metrics",
            "/api/v1/operations/abc",
        ] {
            let mut request = reqwest::Client::new().get(server.api_url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("get");
            assert_eq!(response.status(), 401, "{path} with {token:?}");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"tracehouse\""
            );
            let body: Value = response.json().await.expect("json");
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    }
    let health = reqwest::get(server.api_url("/healthz"))
        .await
        .expect("health");
    assert_eq!(health.status(), 200, "probes need no token");
    let fresh = issue_token(&*server.store, &["alpha"], false).await;
    let (status, body) = get_as(&server, Some(&fresh), "/api/v1/performance").await;
    assert_eq!(
        status, 200,
        "a token issued a moment ago works at once: {body}"
    );
    server.stop().await;
}

fn tokens_command(server: &TestServer, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tracehouse"))
        .arg("tokens")
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(args)
        .output()
        .expect("tracehouse tokens runs")
}

fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `tracehouse tokens create` prints the token once and stores only its hash; the server takes
/// it at once; `list` names it by id; `revoke` takes the id or the token.
#[tokio::test(flavor = "multi_thread")]
async fn the_tokens_command_issues_lists_and_revokes() {
    let server = TestServer::start_with(|config| config.require_tokens = true, None).await;
    let created = tokio::task::block_in_place(|| {
        stdout_of(&tokens_command(
            &server,
            &["create", "--app", "alpha,beta", "--name", "grafana"],
        ))
    });
    let token = created
        .split_whitespace()
        .find(|word| word.starts_with("th_"))
        .expect("token printed")
        .trim_end_matches('`')
        .to_owned();
    let stored = server.store.tokens().await.expect("tokens");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].apps, ["alpha", "beta"]);
    assert_eq!(stored[0].hash, tracehouse::tokens::hash(&token));
    let mut database = Vec::new();
    for file in ["tracehouse.sqlite", "tracehouse.sqlite-wal"] {
        database.extend(std::fs::read(server.dir.path().join(file)).unwrap_or_default());
    }
    assert!(
        database
            .windows(stored[0].hash.len())
            .any(|w| w == stored[0].hash.as_bytes())
    );
    assert!(
        !database.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token itself is never stored"
    );
    let (status, body) = get_as(&server, Some(&token), "/api/v1/performance").await;
    assert_eq!(status, 200, "{body}");

    let listed = tokio::task::block_in_place(|| stdout_of(&tokens_command(&server, &["list"])));
    assert!(
        listed.contains(&stored[0].id)
            && listed.contains("apps alpha,beta")
            && listed.contains("grafana"),
        "{listed}"
    );
    assert!(
        !listed.contains(&token),
        "list never shows the token: {listed}"
    );
    let refused = tokio::task::block_in_place(|| tokens_command(&server, &["create"]));
    assert!(
        !refused.status.success(),
        "a token names its apps or --all-apps"
    );
    tokio::task::block_in_place(|| stdout_of(&tokens_command(&server, &["revoke", &token])));
    let revoked = server.store.tokens().await.expect("tokens");
    assert!(revoked[0].revoked_ns.is_some());
    let again = tokio::task::block_in_place(|| tokens_command(&server, &["revoke", &stored[0].id]));
    assert!(!again.status.success(), "revoking twice says so");
    server.stop().await;
}

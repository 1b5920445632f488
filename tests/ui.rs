//! The web UI: pages render from the store through the query layer with every value escaped,
//! the login page sets the token cookie when reads need one, and a real headless Chromium
//! (Debian's, driven by Playwright from tests/python) follows the seed story from Performance to
//! the throttled transaction in clicks.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::scenario::{
    MS, SEED, Scenario, load, operation_id, post, span_id, text, trace_id, wait_until_stored,
};
use common::{TestServer, issue_token, python, run_summary};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

async fn html(server: &TestServer, path: &str) -> (u16, String) {
    let response = reqwest::get(server.api_url(path)).await.expect("get");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Posts OTLP/HTTP protobuf; SQLite has stored it when acknowledged.
async fn post_traces(server: &TestServer, request: ExportTraceServiceRequest) {
    post(
        server,
        "/v1/traces",
        "application/x-protobuf",
        request.encode_to_vec(),
    )
    .await;
}

/// One service's spans as an OTLP request.
fn request_of(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A span whose name and attribute are markup: they must render as text.
fn hostile_span(scenario: &Scenario) -> ExportTraceServiceRequest {
    let mut span = Scenario::timed(
        Span {
            trace_id: trace_id(9_999),
            span_id: span_id(9_999, 1),
            name: "<script>alert(1)</script>".into(),
            kind: 2,
            ..Default::default()
        },
        scenario.start(SEED) + 5 * MS,
        30,
    );
    span.attributes = vec![text("note", "<img src=x onerror=alert(2)>")];
    request_of("chat-api", vec![span])
}

/// Spans in the wide trace: what a batch job or an agent loop can make of one operation.
const WIDE_SPANS: u64 = 5_000;
const WIDE_CALL: u64 = 7_777;

/// One request with 4,999 calls beneath it, nested up to three deep, each 1 ms apart.
fn wide_trace(scenario: &Scenario) -> ExportTraceServiceRequest {
    let id = |n: u64| (n + 1).to_be_bytes().to_vec();
    let start = scenario.start(SEED) + 20 * MS;
    let spans = (0..WIDE_SPANS)
        .map(|n| {
            let parent = match n {
                0 => None,
                n if n % 10 == 0 => Some(0),
                n => Some(n - n % 10),
            };
            let mut span = Scenario::timed(
                Span {
                    trace_id: trace_id(WIDE_CALL),
                    span_id: id(n),
                    parent_span_id: parent.map(id).unwrap_or_default(),
                    name: if n == 0 {
                        "POST /batch".into()
                    } else {
                        format!("step {n}")
                    },
                    kind: if n == 0 { 2 } else { 3 },
                    ..Default::default()
                },
                start + n * MS,
                if n == 0 { WIDE_SPANS + 5 } else { 1 },
            );
            span.attributes = vec![text("step", &n.to_string())];
            span
        })
        .collect();
    request_of("batch-api", spans)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_of_five_thousand_spans_shows_every_span() {
    let server = TestServer::start().await;
    let scenario = Scenario::new();
    post_traces(&server, wide_trace(&scenario)).await;
    let (status, page) = html(
        &server,
        &format!("/transaction/{}", operation_id(WIDE_CALL)),
    )
    .await;
    assert_eq!(status, 200, "{}", &page[..page.len().min(2_000)]);
    assert_eq!(
        page.matches("<details class=\"span").count(),
        WIDE_SPANS as usize,
        "one row per span"
    );
    assert!(page.contains("5000 spans"), "the summary counts them");
    assert!(page.contains("step 4999"), "the last span is there");
    // About a kilobyte a span: the page stays a page, not a download.
    assert!(
        page.len() < 2_000 * WIDE_SPANS as usize,
        "{} bytes",
        page.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_render_the_seed_story_and_escape_what_apps_send() {
    let server = TestServer::start().await;
    let scenario = Scenario::new();
    load(&server, &scenario).await;
    wait_until_stored(&server, &scenario).await;
    // Stored when acknowledged (SQLite).
    post_traces(&server, hostile_span(&scenario)).await;
    let range = scenario.range();

    let (status, page) = html(&server, &format!("/performance?{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("POST /chat"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<script>alert"),
        "markup from an app must not run"
    );

    let (status, page) = html(
        &server,
        &format!("/performance?operation=POST%20/chat&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Duration distribution"), "{page}");
    assert!(
        page.matches("<svg").count() >= 3,
        "histogram and two series: {page}"
    );
    assert!(
        page.contains("/samples?from=") && page.contains("filter.name=POST+%2Fchat&amp;min_ms="),
        "histogram bars open the operation's samples: {page}"
    );
    assert!(page.contains(" p99 "), "the percentiles are marked: {page}");
    // A dependency is selected by type and target: its bands open just those calls.
    let (status, page) = html(
        &server,
        &format!(
            "/performance?table=dependencies&operation={}&operation_type=HTTP&{range}",
            common::scenario::AOAI
        ),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("filter.type=HTTP&amp;filter.target=aoai.openai.azure.com&amp;band=p95-p99"),
        "{page}"
    );

    let (status, page) = html(
        &server,
        &format!("/samples?filter.name=POST%20/chat&band=p95-p99&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&operation_id(SEED)),
        "the slowest call is listed: {page}"
    );
    assert!(
        page.contains(&format!("3 × 429 from {}", common::scenario::AOAI)),
        "with its cause: {page}"
    );
    let (_, page) = html(
        &server,
        &format!("/samples?filter.name=POST%20/chat&min_ms=5000&{range}"),
    )
    .await;
    assert!(
        page.contains(&operation_id(SEED)),
        "a duration range: {page}"
    );

    let (status, page) = html(&server, &format!("/transaction/{}", operation_id(SEED))).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("3 × 429"), "the retry group: {page}");
    assert!(
        page.contains("Findings") && page.contains("waited 5.67 s"),
        "the diagnosis: {page}"
    );
    assert!(
        page.contains("tokens a minute around it") && page.contains("LLM cost $0.0008"),
        "the deployment's load and the call's cost: {page}"
    );
    assert!(page.contains("before success"), "{page}");
    let (_, page) = html(&server, &format!("/transaction/{}", operation_id(9_999))).await;
    assert!(
        page.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");

    let (status, page) = html(&server, &format!("/failures?{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ValueError"), "{page}");
    assert!(page.contains("<svg"), "failures over time: {page}");
    let (status, page) = html(&server, &format!("/map?{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<svg"), "{page}");
    assert!(
        page.contains("search-svc") && page.contains("aoai.openai.azure.com"),
        "{page}"
    );
    assert!(
        page.contains("filter.target=aoai.openai.azure.com"),
        "an edge opens its dependency: {page}"
    );
    let (status, page) = html(&server, &format!("/genai?{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("gpt-4o") && page.contains("aoai.openai.azure.com"),
        "{page}"
    );
    assert!(
        page.contains("filter.model=gpt-4o"),
        "the model links to its slowest calls: {page}"
    );
    assert!(
        page.contains("Tokens per") && page.contains("<svg"),
        "{page}"
    );
    assert!(
        page.contains("Sessions")
            && page.contains("filter.session_id=session-3")
            && page.contains("user-0, user-1, user-2"),
        "each session opens its requests, with its users: {page}"
    );
    let (status, page) = html(
        &server,
        &format!("/samples?table=requests&filter.session_id=session-3&order=newest&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("POST /chat"), "{page}");
    let (status, tx_page) = html(&server, &format!("/transaction/{}", operation_id(SEED))).await;
    assert_eq!(status, 200, "{tx_page}");
    assert!(
        tx_page.contains("50 out (20 reasoning)") && tx_page.contains("chat-answer v3"),
        "the call's reasoning tokens and prompt version: {tx_page}"
    );
    let (status, page) = html(&server, "/live").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("/ui/live.js"), "{page}");
    let (status, _) = html(&server, "/ui/live.js").await;
    assert_eq!(status, 200);
    let (status, page) = html(
        &server,
        &format!("/samples?table=dependencies&filter.model=gpt-4o&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("chat gpt-4o"), "{page}");
    let (status, page) = html(&server, &format!("/logs?q=call%2049&{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("answered chat call 49"), "{page}");
    let runbook = "AppRequests | summarize n = count(), failed = countif(ResultCode >= 500) by bin(TimeGenerated, 1m), AppRoleName | render timechart";
    let encoded: String = form_urlencoded::byte_serialize(runbook.as_bytes()).collect();
    let (status, page) = html(&server, &format!("/query?q={encoded}&{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<svg") && page.contains("search-svc"),
        "{page}"
    );
    let bars: String = form_urlencoded::byte_serialize(
        b"AppExceptions | summarize count() by ExceptionType | render barchart",
    )
    .collect();
    let (status, page) = html(&server, &format!("/query?q={bars}&{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("class=\"barfill\"") && page.contains("ValueError"),
        "{page}"
    );
    let wrong: String =
        form_urlencoded::byte_serialize(b"AppRequests | where Nope > 1 | take '<script>'")
            .collect();
    let (status, page) = html(&server, &format!("/query?q={wrong}&{range}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("1:21: unknown column or name"), "{page}");
    assert!(
        page.contains("&lt;script&gt;") && !page.contains("<script>'"),
        "{page}"
    );
    let (status, page) = html(&server, "/transaction/not-stored").await;
    assert_eq!(status, 404, "{page}");
    let (status, _) = html(&server, "/performance?from=nonsense").await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_tokens_required_the_ui_asks_for_one_and_keeps_it_in_a_cookie() {
    let server = TestServer::start_with(|config| config.require_tokens = true, None).await;
    let token = issue_token(&*server.store, &["shop"], false).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(server.api_url("/performance"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    let refused = client
        .post(server.api_url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=th_wrong")
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 401);
    let accepted = client
        .post(server.api_url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .expect("post");
    assert_eq!(accepted.status(), 303);
    let cookie = accepted.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let page = client
        .get(server.api_url("/performance"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    // The cookie opens the JSON API too, scoped like the token.
    let api = client
        .get(server.api_url("/api/v1/performance"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("get");
    assert_eq!(api.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_goes_from_performance_to_the_throttled_transaction() {
    let server = TestServer::start_with(
        |config| {
            config.live_metrics = true;
            config.genai.quotas = vec![tracehouse::genai::Quota {
                target: common::scenario::AOAI.into(),
                model: "gpt-4o".into(),
                tokens_per_minute: Some(8_000),
                requests_per_minute: None,
            }];
        },
        None,
    )
    .await;
    let scenario = Scenario::new();
    load(&server, &scenario).await;
    wait_until_stored(&server, &scenario).await;
    // Stored when acknowledged (SQLite).
    post_traces(&server, wide_trace(&scenario)).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/browser_check.py");
    let base = server.api_url("");
    let range = scenario.range();
    let summary = tokio::task::block_in_place(|| {
        run_summary(
            Command::new(python())
                .arg(script)
                .arg(base)
                .arg(range)
                .arg(&shots)
                .arg(server.http_url(""))
                .arg(format!("/transaction/{}", operation_id(WIDE_CALL))),
            "the browser run",
        )
    });
    assert_eq!(summary["problems"], serde_json::json!([]), "{summary}");
    let retry = summary["retry"].as_str().unwrap_or("");
    assert!(retry.contains("3 × 429"), "{retry}");
    let cause = summary["cause"].as_str().unwrap_or("");
    assert!(
        cause.starts_with("3 × 429 from "),
        "the sample's cause: {summary}"
    );
    assert!(
        summary["histogram_samples"].as_u64() >= Some(1),
        "the slowest histogram bar lists its samples: {summary}"
    );
    assert_eq!(
        summary["wide_rows"], WIDE_SPANS,
        "Chromium shows every span of the wide trace: {summary}"
    );
    let live = summary["live"].as_str().unwrap_or("");
    assert!(
        live.contains("4.0") && live.contains("37.5 %"),
        "the live table refreshed with the new instance: {summary}"
    );
    assert!(
        summary["visited"][2]
            .as_str()
            .is_some_and(|url| url.contains(&operation_id(SEED))),
        "the slowest sample is the seed story: {summary}"
    );
    assert_eq!(
        summary["logs"], 1,
        "the search finds the seed call's log line: {summary}"
    );
    assert!(
        summary["query_rows"].as_u64() >= Some(1) && summary["query_chart"] == 1,
        "the runbook query answers with rows and its time chart: {summary}"
    );
    assert!(
        summary["query_header"]
            .as_str()
            .is_some_and(|h| h.contains("ErrorRate")),
        "{summary}"
    );
    for view in [
        "performance",
        "samples",
        "transaction",
        "dependencies",
        "failures",
        "logs",
        "query",
        "live",
    ] {
        assert!(shots.join(format!("{view}.png")).exists(), "{view}");
    }
    server.stop().await;
}

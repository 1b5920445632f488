//! Scores (`POST /api/v1/scores`) on SQLite and both ClickHouse engines: posted with an app's
//! instrumentation key, listed on that app's transaction and summed up per name, never shown to
//! another app even for the same operation id; bad scores and missing keys refused whole.

mod common;

use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::{SEED, Scenario, get_as, ok_as, operation_id, post_with_key, span_id};
use common::{TestServer, issue_token};
use prost::Message;
use serde_json::Value;
use tracehouse::config::ServeConfig;
use tracehouse::store::KeyRecord;

const ALPHA_KEY: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const BETA_KEY: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

fn require_keys(config: &mut ServeConfig) {
    config.require_keys = true;
}

/// Posts scores with `key` to the API port, retrying while the key issued a moment ago is not
/// read yet; returns the status and body of the last answer.
async fn post_scores(server: &TestServer, key: Option<&str>, body: Value) -> (u16, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut request = reqwest::Client::new()
            .post(server.api_url("/api/v1/scores"))
            .json(&body);
        if let Some(key) = key {
            request = request.header("x-instrumentation-key", key);
        }
        let response = request.send().await.expect("post");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == 401 && key.is_some() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        return (status, answer);
    }
}

/// Scores belong to the key's app: they appear on that app's transaction and in its summary,
/// never in another app's, even for the same operation id.
async fn scores_follow_the_key(server: TestServer) {
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
    let scenario = Scenario::new();
    post_with_key(
        &server,
        BETA_KEY,
        "/v1/traces",
        scenario.traces_request().encode_to_vec(),
    )
    .await;
    let seed = operation_id(SEED);
    let chat_span: String = span_id(SEED, 3)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (status, answer) = post_scores(
        &server,
        Some(BETA_KEY),
        serde_json::json!([
            {"operation_id": seed, "span_id": chat_span, "name": "helpfulness", "value": 0.75, "source": "llm-judge", "comment": "cites the search result"},
            {"operation_id": seed, "name": "helpfulness", "value": 0.25, "source": "llm-judge"},
            {"operation_id": seed, "name": "thumbs_up", "value": true, "source": "human"},
            {"operation_id": seed, "name": "tone", "value": "polite", "source": "llm-judge"},
        ]),
    )
    .await;
    assert_eq!(
        (status, &answer["accepted"]),
        (200, &serde_json::json!(4)),
        "{answer}"
    );
    // Alpha scores the same operation id: its own, not beta's.
    let (status, _) = post_scores(
        &server,
        Some(ALPHA_KEY),
        serde_json::json!({"operation_id": seed, "name": "helpfulness", "value": 0.0}),
    )
    .await;
    assert_eq!(status, 200);
    // Refused: no key, an unknown key, bad values; nothing of a refused request is stored.
    let (status, _) = post_scores(
        &server,
        None,
        serde_json::json!({"operation_id": seed, "name": "x", "value": 1}),
    )
    .await;
    assert_eq!(status, 401);
    for bad in [
        serde_json::json!({"operation_id": seed, "name": "x", "value": null}),
        serde_json::json!({"operation_id": seed, "name": "", "value": 1}),
        serde_json::json!({"operation_id": seed, "name": "x", "value": 1, "source": "robot"}),
        serde_json::json!([{"operation_id": seed, "name": "ok", "value": 1}, {"operation_id": "", "name": "x", "value": 1}]),
    ] {
        let (status, answer) = post_scores(&server, Some(BETA_KEY), bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }

    let beta = issue_token(server.store.as_ref(), &["beta"], false).await;
    let alpha = issue_token(server.store.as_ref(), &["alpha"], false).await;
    // The spans are acknowledged before they are stored, and each table is its own insert:
    // wait for the transaction with its LLM call (whose model the call's score carries).
    let path = format!("/api/v1/operations/{seed}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let call_stored = |tx: &serde_json::Value| {
        tx["scores"].as_array().is_some_and(|scores| {
            scores
                .iter()
                .any(|s| s["span_id"] == chat_span.as_str() && s["model"] != "")
        })
    };
    let tx = loop {
        let (status, tx) = get_as(&server, Some(&beta), &path).await;
        if (status == 200 && call_stored(&tx)) || std::time::Instant::now() > deadline {
            assert_eq!(status, 200, "{tx}");
            break tx;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let scores = tx["scores"].as_array().expect("scores");
    let mut names: Vec<(&str, &str)> = scores
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or(""),
                s["span_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("helpfulness", ""),
            ("helpfulness", chat_span.as_str()),
            ("thumbs_up", ""),
            ("tone", "")
        ],
        "beta's four, not alpha's: {tx}"
    );
    let summary = ok_as(&server, &beta, "/api/v1/scores?from=1d").await;
    let rows = summary["rows"].as_array().expect("rows");
    let help = rows
        .iter()
        .find(|r| r["name"] == "helpfulness")
        .expect("helpfulness");
    assert_eq!(
        (&help["count"], &help["mean"], &help["source"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(0.5),
            &serde_json::json!("llm-judge")
        ),
        "{summary}"
    );
    let thumbs = rows
        .iter()
        .find(|r| r["name"] == "thumbs_up")
        .expect("thumbs");
    assert_eq!(thumbs["mean"], 1.0, "{summary}");
    let tone = rows.iter().find(|r| r["name"] == "tone").expect("tone");
    assert_eq!(
        tone["categories"],
        serde_json::json!({"polite": 1}),
        "{summary}"
    );
    // The transaction page lists them too.
    let page = reqwest::Client::new()
        .get(server.api_url(&format!("/transaction/{seed}")))
        .bearer_auth(&beta)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Scores")
            && page.contains("polite")
            && page.contains("cites the search result"),
        "{page}"
    );
    // The scored span is the seed's LLM call: its model and prompt version come with the score.
    let on_call = scores
        .iter()
        .find(|s| s["span_id"] == chat_span.as_str())
        .expect("the call's score");
    assert_eq!(
        (&on_call["model"], &on_call["prompt_version"]),
        (&serde_json::json!("gpt-4o"), &serde_json::json!("3")),
        "{on_call}"
    );
    let by_model = ok_as(
        &server,
        &beta,
        "/api/v1/scores?from=1d&name=helpfulness&group_by=model,prompt_version",
    )
    .await;
    let mut split: Vec<(String, String, f64)> = by_model["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap_or("?").to_owned(),
                r["prompt_version"].as_str().unwrap_or("?").to_owned(),
                r["mean"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    split.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        split,
        [
            (String::new(), String::new(), 0.25),
            ("gpt-4o".to_owned(), "3".to_owned(), 0.75)
        ],
        "{by_model}"
    );
    let theirs = ok_as(&server, &alpha, "/api/v1/scores?from=1d").await;
    assert_eq!(theirs["rows"].as_array().map(Vec::len), Some(1), "{theirs}");
    assert_eq!(theirs["rows"][0]["mean"], 0.0, "{theirs}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scores_follow_the_key_on_sqlite() {
    scores_follow_the_key(TestServer::start_with(require_keys, None).await).await;
}

async fn scores_follow_the_key_on(engine: Engine) {
    let server = TestServer::start_on_engine(engine, &database_for("scores"), require_keys).await;
    scores_follow_the_key(server).await;
}

on_both_engines!(scores_follow_the_key_on);

//! The alert evaluator across restarts, instances and reloads: a restart resumes a firing
//! alert without firing it again; two instances sharing one ClickHouse evaluate one at a time
//! and the second takes over when the first stops; a changed rules file applies, a bad one is
//! refused with its line while the old rules stay; scoped tokens see only their apps' rules.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;
use tracehouse::store::KeyRecord;

use common::alert_peers::HttpReceiver;
use common::alert_rules::*;
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::{get_as, ok};
use common::{TestServer, issue_token};

const CHAT_KEY: &str = "0f3e1c2a-7b4d-4e8f-9a6b-5c2d1e0f3a4b";

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_resumes_a_firing_alert_without_firing_it_again() {
    let webhook = HttpReceiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, rules(&webhook.url("webhook"), 3)).expect("rules");
    let data = dir.path().join("data");
    let start = || {
        let (file, data) = (file.clone(), data.clone());
        TestServer::start_with(
            move |config| {
                config.data_dir = data;
                configure(config, &file, Duration::from_secs(30));
            },
            None,
        )
    };
    let server = start().await;
    let mut batch = 0;
    let fired = drive(&server, &mut batch, 10, "Fired").await;
    server.stop().await;
    assert_eq!(wait_for_posts(&webhook, 1).await[0].0, "Fired");

    let server = start().await;
    let resumed = ok(&server, &format!("/api/v1/alerts?rule={RULE}")).await;
    assert_eq!(resumed["alerts"][0]["alert_id"], fired["alert_id"]);
    // Evaluations while still failing do not fire it again.
    keeps_failing_without_firing_again(&server, &mut batch, &webhook, "the restart").await;
    resolves(&server, &mut batch, &webhook, &fired).await;
    server.stop().await;
}

async fn one_instance_evaluates_and_another_takes_over(engine: Engine) {
    let database = database_for("alert_lease");
    two_instances_evaluate_one_at_a_time([engine.config(&database), engine.config(&database)])
        .await;
}

on_both_engines!(one_instance_evaluates_and_another_takes_over);

async fn rules_answer(server: &TestServer) -> Value {
    ok(server, "/api/v1/alerts/rules").await
}

async fn wait_for_rules(server: &TestServer, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = rules_answer(server).await;
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what}: {answer:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_rules_file_applies_and_a_bad_one_is_refused_naming_its_line() {
    let webhook = HttpReceiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, rules(&webhook.url("webhook"), 3)).expect("rules");
    let server = TestServer::start_with(
        |config| configure(config, &file, Duration::from_secs(30)),
        None,
    )
    .await;
    let threshold = |answer: &Value| answer["rules"][0]["threshold"].as_f64();
    assert_eq!(threshold(&rules_answer(&server).await), Some(3.0));

    let bad = rules(&webhook.url("webhook"), 3).replace("GreaterThan", "Above");
    std::fs::write(&file, &bad).expect("bad rules");
    let refused = wait_for_rules(&server, "the bad file was not refused", |a| {
        a["reload_error"].is_string()
    })
    .await;
    let message = refused["reload_error"].as_str().expect("error");
    assert!(
        message.contains("line 9") && message.contains("Above"),
        "{message}"
    );
    assert_eq!(threshold(&refused), Some(3.0), "the rules before it stay");

    let changed = rules(&webhook.url("webhook"), 100).replace(RULE, "Many errors");
    std::fs::write(&file, changed).expect("rules");
    let applied = wait_for_rules(&server, "the changed file did not apply", |a| {
        a["rules"][0]["name"] == "Many errors"
    })
    .await;
    assert_eq!(threshold(&applied), Some(100.0));
    assert_eq!(applied["reload_error"], Value::Null);

    // SIGHUP re-reads the file at once (the file is also checked every 100 ms here).
    std::fs::write(&file, rules(&webhook.url("webhook"), 7)).expect("rules");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let reloaded = wait_for_rules(&server, "SIGHUP did not reload", |a| {
        a["rules"][0]["threshold"] == 7.0
    })
    .await;
    assert_eq!(reloaded["rules"][0]["name"], RULE);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scoped_tokens_see_only_their_apps_rules_and_alerts() {
    let webhook = HttpReceiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    let scoped = rules(&webhook.url("webhook"), 3).replace(
        "    action_groups: [ops]\n",
        "    action_groups: [ops]\n    app: chat-api\n",
    );
    let every_app = "  - name: Every app\n    severity: 3\n    query: \"AppRequests | summarize n = count()\"\n    operator: GreaterThan\n    threshold: 0\n    window: 20s\n    frequency: 1s\n";
    std::fs::write(&file, scoped + every_app).expect("rules");
    let server = TestServer::start_with(
        |config| {
            configure(config, &file, Duration::from_secs(30));
            config.require_tokens = true;
        },
        None,
    )
    .await;
    // The chat API's telemetry comes with its app's instrumentation key.
    server
        .store
        .save_key(&KeyRecord {
            key: CHAT_KEY.into(),
            app: "chat-api".into(),
            created_ns: 1,
            revoked_ns: None,
        })
        .await
        .expect("key");
    let admin = issue_token(server.store.as_ref(), &[], true).await;
    let chat = issue_token(server.store.as_ref(), &["chat-api"], false).await;
    let other = issue_token(server.store.as_ref(), &["billing"], false).await;
    let names = |answer: &Value, list: &str, field: &str| -> Vec<String> {
        answer[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r[field].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut batch = 0;
    loop {
        batch += 1;
        let response = reqwest::Client::new()
            .post(server.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("x-instrumentation-key", CHAT_KEY)
            .body(traffic(batch, 10))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
        let (_, alerts) = get_as(&server, Some(&admin), "/api/v1/alerts?condition=Fired").await;
        if names(&alerts, "alerts", "rule").len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{alerts}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (token, expected) in [
        (&admin, vec![RULE, "Every app"]),
        (&chat, vec![RULE]),
        (&other, vec![]),
    ] {
        let (status, rules) = get_as(&server, Some(token), "/api/v1/alerts/rules").await;
        assert_eq!(status, 200);
        assert_eq!(names(&rules, "rules", "name"), expected);
        let (_, alerts) = get_as(&server, Some(token), "/api/v1/alerts").await;
        assert_eq!(names(&alerts, "alerts", "rule"), expected);
        let (_, history) = get_as(&server, Some(token), "/api/v1/alerts/history").await;
        let mut seen = names(&history, "events", "rule");
        seen.sort();
        seen.dedup();
        let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }
    let (status, _) = get_as(&server, None, "/api/v1/alerts").await;
    assert_eq!(status, 401);
    server.stop().await;
}

//! The alert evaluator across restarts, instances and reloads: a restart resumes a firing
//! alert without firing it again; two instances sharing one ClickHouse evaluate one at a time
//! and the second takes over when the first stops; a changed rules file applies, a bad one is
//! refused with its line while the old rules stay; scoped tokens see only their apps' rules.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::Value;
use tracehouse::alerts::AlertsConfig;
use tracehouse::alerts::notify::DeliveryPolicy;
use tracehouse::config::ServeConfig;
use tracehouse::store::KeyRecord;

use common::alert_peers::HttpReceiver;
use common::alert_traffic::{Health, traces};
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::{get_as, ok, post};
use common::{TestServer, issue_token};

const RULE: &str = "Errors";
const CHAT_KEY: &str = "0f3e1c2a-7b4d-4e8f-9a6b-5c2d1e0f3a4b";

fn rules(webhook: &str, threshold: u32) -> String {
    format!(
        "action_groups:\n  - name: ops\n    receivers:\n      - {{type: webhook, name: hook, url: \"{webhook}\"}}\n\
         rules:\n  - name: {RULE}\n    severity: 1\n    query: \"AppRequests | where toint(ResultCode) >= 500 | summarize failed = count()\"\n\
         \x20   operator: GreaterThan\n    threshold: {threshold}\n    window: 20s\n    frequency: 1s\n    action_groups: [ops]\n"
    )
}

fn configure(config: &mut ServeConfig, file: &Path, lease_ttl: Duration) {
    let mut alerts = AlertsConfig::new(file.to_path_buf(), "http://tracehouse.test".into());
    alerts.delivery = DeliveryPolicy {
        timeout: Duration::from_secs(2),
        attempts: 2,
        backoff: Duration::from_millis(100),
    };
    alerts.lease_ttl = lease_ttl;
    alerts.reload_interval = Duration::from_millis(100);
    config.alerts = Some(alerts);
}

fn traffic(batch: u64, failures_per_40: usize) -> Vec<u8> {
    let health = Health {
        failures_per_40,
        ..Health::healthy(0)
    };
    let t = u64::try_from(tracehouse::clock::now_ns()).unwrap_or(0);
    traces(t, batch, health).encode_to_vec()
}

async fn send(server: &TestServer, batch: u64, failures_per_40: usize) {
    let body = traffic(batch, failures_per_40);
    post(server, "/v1/traces", "application/x-protobuf", body).await;
}

/// The condition of the rule's one series, once it is `condition` (sending `failures` 5xx
/// per second meanwhile).
async fn drive(server: &TestServer, batch: &mut u64, failures: usize, condition: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        *batch += 1;
        send(server, *batch, failures).await;
        let alerts = ok(server, &format!("/api/v1/alerts?rule={RULE}")).await;
        if let Some(alert) = alerts["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["condition"] == condition))
        {
            return alert.clone();
        }
        assert!(Instant::now() < deadline, "never {condition}: {alerts}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn conditions(webhook: &HttpReceiver) -> Vec<(String, String)> {
    webhook
        .posts("webhook")
        .iter()
        .map(|p| {
            let essentials = &p["data"]["essentials"];
            (
                essentials["monitorCondition"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                essentials["alertId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn wait_for_posts(webhook: &HttpReceiver, count: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while conditions(webhook).len() < count {
        assert!(
            Instant::now() < deadline,
            "posts: {:?}",
            conditions(webhook)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    conditions(webhook)
}

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
    for _ in 0..4 {
        batch += 1;
        send(&server, batch, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        conditions(&webhook).len(),
        1,
        "fired again after the restart"
    );
    let resolved = drive(&server, &mut batch, 0, "Resolved").await;
    assert_eq!(resolved["alert_id"], fired["alert_id"]);
    let posts = wait_for_posts(&webhook, 2).await;
    assert_eq!(posts[1].0, "Resolved");
    assert_eq!(posts[0].1, posts[1].1, "the resolution names the firing");
    server.stop().await;
}

async fn one_instance_evaluates_and_another_takes_over(engine: Engine) {
    let webhook = HttpReceiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, rules(&webhook.url("webhook"), 3)).expect("rules");
    let database = database_for("alert_lease");
    let start = || {
        let file = file.clone();
        TestServer::start_on_engine(engine, &database, move |config| {
            configure(config, &file, Duration::from_secs(6));
        })
    };
    let first = start().await;
    let second = start().await;
    let evaluating = |server: &TestServer| {
        let url = server.api_url("/api/v1/alerts/rules");
        async move {
            let answer: Value = reqwest::get(url)
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            answer["evaluating"] == true
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (holder, other) = loop {
        match (evaluating(&first).await, evaluating(&second).await) {
            (true, false) => break (first, second),
            (false, true) => break (second, first),
            (true, true) => panic!("both instances evaluate"),
            (false, false) => {
                assert!(Instant::now() < deadline, "no instance took the lease");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let mut batch = 0;
    let fired = drive(&holder, &mut batch, 10, "Fired").await;
    for _ in 0..4 {
        batch += 1;
        send(&holder, batch, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !evaluating(&other).await,
            "the second instance evaluates too"
        );
    }
    assert_eq!(
        wait_for_posts(&webhook, 1).await.len(),
        1,
        "fired once by one instance"
    );

    // The holder stops (releasing the lease): the other resumes its alert.
    holder.stop().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !evaluating(&other).await {
        assert!(
            Instant::now() < deadline,
            "the other instance never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..4 {
        batch += 1;
        send(&other, batch, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        conditions(&webhook).len(),
        1,
        "fired again after the takeover"
    );
    let resolved = drive(&other, &mut batch, 0, "Resolved").await;
    assert_eq!(resolved["alert_id"], fired["alert_id"]);
    let posts = wait_for_posts(&webhook, 2).await;
    assert_eq!(posts[0].1, posts[1].1);
    other.stop().await;
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

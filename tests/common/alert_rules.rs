//! Alert rules, traffic and webhook checks the alert tests share, and the lease scenario (two
//! instances evaluate one at a time) run on one server and on a cluster.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::Value;
use tracehouse::alerts::AlertsConfig;
use tracehouse::alerts::notify::DeliveryPolicy;
use tracehouse::config::ServeConfig;
use tracehouse::store::clickhouse::ClickHouseConfig;

use super::TestServer;
use super::alert_peers::HttpReceiver;
use super::alert_traffic::{Health, traces};
use super::scenario::{ok, post};

pub const RULE: &str = "Errors";

pub fn rules(webhook: &str, threshold: u32) -> String {
    format!(
        "action_groups:\n  - name: ops\n    receivers:\n      - {{type: webhook, name: hook, url: \"{webhook}\"}}\n\
         rules:\n  - name: {RULE}\n    severity: 1\n    query: \"AppRequests | where toint(ResultCode) >= 500 | summarize failed = count()\"\n\
         \x20   operator: GreaterThan\n    threshold: {threshold}\n    window: 20s\n    frequency: 1s\n    action_groups: [ops]\n"
    )
}

pub fn configure(config: &mut ServeConfig, file: &Path, lease_ttl: Duration) {
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

pub fn traffic(batch: u64, failures_per_40: usize) -> Vec<u8> {
    let health = Health {
        failures_per_40,
        ..Health::healthy(0)
    };
    let t = u64::try_from(tracehouse::clock::now_ns()).unwrap_or(0);
    traces(t, batch, health).encode_to_vec()
}

pub async fn send(server: &TestServer, batch: u64, failures_per_40: usize) {
    let body = traffic(batch, failures_per_40);
    post(server, "/v1/traces", "application/x-protobuf", body).await;
}

/// The condition of the rule's one series, once it is `condition` (sending `failures` 5xx
/// per second meanwhile).
pub async fn drive(
    server: &TestServer,
    batch: &mut u64,
    failures: usize,
    condition: &str,
) -> Value {
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

pub fn conditions(webhook: &HttpReceiver) -> Vec<(String, String)> {
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

pub async fn wait_for_posts(webhook: &HttpReceiver, count: usize) -> Vec<(String, String)> {
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

/// Two instances sharing one store (`configs`: each instance's, e.g. two nodes of a cluster)
/// evaluate one at a time; when the holder stops, the other takes over and resumes its alert.
pub async fn two_instances_evaluate_one_at_a_time(configs: [ClickHouseConfig; 2]) {
    let webhook = HttpReceiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, rules(&webhook.url("webhook"), 3)).expect("rules");
    let start = |clickhouse: ClickHouseConfig| {
        let file = file.clone();
        TestServer::start_on(clickhouse, move |config| {
            configure(config, &file, Duration::from_secs(6));
        })
    };
    let [first_config, second_config] = configs;
    let first = start(first_config).await;
    let second = start(second_config).await;
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
    keeps_failing_without_firing_again(&other, &mut batch, &webhook, "the takeover").await;
    resolves(&other, &mut batch, &webhook, &fired).await;
    other.stop().await;
}

/// Two seconds more of failures through `server`: the alert, fired once, is not fired again
/// (after `event`).
pub async fn keeps_failing_without_firing_again(
    server: &TestServer,
    batch: &mut u64,
    webhook: &HttpReceiver,
    event: &str,
) {
    for _ in 0..4 {
        *batch += 1;
        send(server, *batch, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(conditions(webhook).len(), 1, "fired again after {event}");
}

/// Healthy traffic until the alert `fired` resolves; the resolution names the firing.
pub async fn resolves(server: &TestServer, batch: &mut u64, webhook: &HttpReceiver, fired: &Value) {
    let resolved = drive(server, batch, 0, "Resolved").await;
    assert_eq!(resolved["alert_id"], fired["alert_id"]);
    let posts = wait_for_posts(webhook, 2).await;
    assert_eq!(posts[1].0, "Resolved");
    assert_eq!(posts[0].1, posts[1].1, "the resolution names the firing");
}

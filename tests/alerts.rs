//! The six recommended alerts of deploy/alerts/recommended.yaml, driven by real OTLP traffic
//! until each fires and then resolves, notifying real receivers: Debian's
//! prometheus-alertmanager, aiosmtpd's SMTP server, and an HTTP server recording the webhook
//! (Azure common alert schema) and Slack bodies. One receiver is down and one never answers:
//! neither may delay the others. On SQLite, ClickHouse 18.16 and chDB.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::Value;
use tracehouse::alerts::AlertsConfig;
use tracehouse::alerts::notify::{DeliveryPolicy, SmtpConfig, SmtpSecurity};
use tracehouse::config::ServeConfig;

use common::alert_peers::{Alertmanager, HttpReceiver, SmtpServer};
use common::alert_traffic::{CRASHING_POD, Health, metrics, traces};
use common::clickhouse::{Engine, database_for, on_both_engines};
use common::scenario::{get, ok, post};
use common::{TestServer, free_port};

const SIX: [&str; 6] = [
    "Node CPU overload",
    "Node memory low",
    "Pod CrashLoop",
    "HTTP error-rate spike",
    "AI API latency spike",
    "Too few nodes",
];
const PUBLIC_URL: &str = "http://tracehouse.example:8080";

struct Peers {
    http: HttpReceiver,
    smtp: SmtpServer,
    alertmanager: Alertmanager,
    dir: tempfile::TempDir,
}

impl Peers {
    async fn start() -> Self {
        Peers {
            http: HttpReceiver::start().await,
            smtp: SmtpServer::start(),
            alertmanager: Alertmanager::start(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The recommended rules with the test's receivers, 20 s windows and 1 s frequency.
    fn rules_file(&self) -> std::path::PathBuf {
        let recommended = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/alerts/recommended.yaml"
        ))
        .expect("recommended rules");
        let rules = &recommended[recommended.find("\nrules:\n").expect("rules section")..];
        let rules = rules
            .replace("window: 5m", "window: 20s")
            .replace("window: 10m", "window: 20s")
            .replace("frequency: 1m", "frequency: 1s");
        let groups = format!(
            "action_groups:\n  - name: oncall\n    receivers:\n\
             \x20     - {{type: webhook, name: ops-webhook, url: \"{}\"}}\n\
             \x20     - {{type: slack, name: slack, url: \"{}\"}}\n\
             \x20     - {{type: email, name: oncall-email, to: [\"oncall@example.com\"]}}\n\
             \x20     - {{type: alertmanager, name: alertmanager, url: \"{}\"}}\n\
             \x20     - {{type: webhook, name: down, url: \"http://127.0.0.1:{}/hook\"}}\n\
             \x20     - {{type: webhook, name: slow, url: \"{}\"}}\n",
            self.http.url("webhook"),
            self.http.url("slack"),
            self.alertmanager.url(),
            free_port(),
            self.http.url("slow"),
        );
        let path = self.dir.path().join("rules.yaml");
        std::fs::write(&path, groups + &rules).expect("rules file");
        path
    }

    fn configure(&self, config: &mut ServeConfig) {
        let mut alerts = AlertsConfig::new(self.rules_file(), PUBLIC_URL.into());
        alerts.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.smtp.port,
            security: SmtpSecurity::None,
            from: "tracehouse <alerts@example.com>".into(),
            user: None,
            password: None,
        });
        alerts.delivery = DeliveryPolicy {
            timeout: Duration::from_secs(2),
            attempts: 2,
            backoff: Duration::from_millis(200),
        };
        alerts.reload_interval = Duration::from_millis(200);
        config.alerts = Some(alerts);
    }
}

fn now_ns() -> u64 {
    u64::try_from(tracehouse::clock::now_ns()).unwrap_or(0)
}

async fn send(server: &TestServer, batch: u64, health: Health) {
    let t = now_ns();
    post(
        server,
        "/v1/metrics",
        "application/x-protobuf",
        metrics(t, health).encode_to_vec(),
    )
    .await;
    post(
        server,
        "/v1/traces",
        "application/x-protobuf",
        traces(t, batch, health).encode_to_vec(),
    )
    .await;
}

/// The rules of `/api/v1/alerts` entries in `condition`.
async fn rules_in(server: &TestServer, condition: &str) -> BTreeSet<String> {
    let answer = ok(server, &format!("/api/v1/alerts?condition={condition}")).await;
    answer["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["rule"].as_str().map(str::to_owned))
        .collect()
}

/// Sends `health` every second (the restart count rising by `restarts_step` each time) until
/// every one of the six rules is in `condition`.
async fn drive_until(
    server: &TestServer,
    batch: &mut u64,
    restarts: &mut i64,
    restarts_step: i64,
    health: fn(i64) -> Health,
    condition: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let wanted: BTreeSet<String> = SIX.iter().map(|s| (*s).to_owned()).collect();
    loop {
        *batch += 1;
        *restarts += restarts_step;
        send(server, *batch, health(*restarts)).await;
        let reached = rules_in(server, condition).await;
        if wanted.is_subset(&reached) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every rule reached {condition}: {reached:?}\n{:#}\n{:#}",
            ok(server, "/api/v1/alerts").await,
            ok(server, "/api/v1/alerts/rules").await["rules"]
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn payload_of<'a>(posts: &'a [Value], rule: &str, condition: &str) -> &'a Value {
    posts
        .iter()
        .find(|p| {
            p["data"]["essentials"]["alertRule"] == rule
                && p["data"]["essentials"]["monitorCondition"] == condition
        })
        .unwrap_or_else(|| panic!("no {condition} webhook for {rule}"))
}

async fn six_alerts_fire_and_resolve(server: TestServer, peers: Peers) {
    let rules = ok(&server, "/api/v1/alerts/rules").await;
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, SIX);
    assert_eq!(rules["reload_error"], Value::Null);

    let (mut batch, mut restarts) = (0, 1);
    for _ in 0..2 {
        batch += 1;
        send(&server, batch, Health::healthy(restarts)).await;
    }
    drive_until(
        &server,
        &mut batch,
        &mut restarts,
        1,
        Health::troubled,
        "Fired",
    )
    .await;

    // While firing: Alertmanager lists them with their labels.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let active = peers.alertmanager.alerts().await;
        let crash = active
            .iter()
            .find(|a| a["labels"]["alertname"] == "Pod CrashLoop");
        if let Some(crash) = crash {
            assert_eq!(crash["labels"]["k8s_pod_name"], CRASHING_POD.1);
            assert_eq!(crash["labels"]["severity"], "Sev1");
            assert_eq!(crash["status"]["state"], "active");
            let names: BTreeSet<&str> = active
                .iter()
                .filter_map(|a| a["labels"]["alertname"].as_str())
                .collect();
            if names.len() == SIX.len() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "alertmanager shows {active:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The web UI's alerts page lists them firing, each opening what it measures.
    let page = reqwest::get(server.api_url("/alerts"))
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let firing = &page[page.find("<h2>Firing</h2>").expect("a firing section")..];
    let firing = &firing[..firing.find("</table>").expect("table")];
    for rule in SIX {
        assert!(firing.contains(rule), "{rule} is not listed firing");
    }
    assert!(firing.contains("k8s.pod.name=crashy-7f9"), "{firing}");
    assert!(firing.contains("href=\"/query?q=AppRequests"), "{firing}");

    drive_until(
        &server,
        &mut batch,
        &mut restarts,
        0,
        Health::healthy,
        "Resolved",
    )
    .await;

    // Webhooks: the common alert schema, once fired and once resolved per rule.
    let deadline = Instant::now() + Duration::from_secs(20);
    while peers.http.posts("webhook").len() < 2 * SIX.len() {
        assert!(
            Instant::now() < deadline,
            "webhooks: {:?}",
            peers.http.posts("webhook")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let webhooks = peers.http.posts("webhook");
    for rule in SIX {
        let fired = payload_of(&webhooks, rule, "Fired");
        let resolved = payload_of(&webhooks, rule, "Resolved");
        assert_eq!(fired["schemaId"], "azureMonitorCommonAlertSchema");
        assert_eq!(
            fired["data"]["essentials"]["alertId"], resolved["data"]["essentials"]["alertId"],
            "{rule}: the resolution names the firing"
        );
        assert!(resolved["data"]["essentials"]["resolvedDateTime"].is_string());
        let link = fired["data"]["essentials"]["investigationLink"]
            .as_str()
            .expect("link");
        assert!(link.starts_with(PUBLIC_URL), "{link}");
    }
    let crash = payload_of(&webhooks, "Pod CrashLoop", "Fired");
    assert_eq!(crash["data"]["essentials"]["severity"], "Sev1");
    assert_eq!(crash["data"]["essentials"]["signalType"], "Metric");
    let criterion = &crash["data"]["alertContext"]["condition"]["allOf"][0];
    assert_eq!(criterion["metricName"], "k8s.container.restarts");
    assert!(
        criterion["metricValue"].as_f64().expect("value") > 5.0,
        "{criterion}"
    );
    assert_eq!(criterion["dimensions"][1]["value"], CRASHING_POD.1);
    let errors = payload_of(&webhooks, "HTTP error-rate spike", "Fired");
    let criterion = &errors["data"]["alertContext"]["condition"]["allOf"][0];
    assert!(
        criterion["searchQuery"]
            .as_str()
            .expect("query")
            .contains("AppRequests")
    );
    assert_eq!(criterion["metricMeasureColumn"], "error_percent");
    assert_eq!(criterion["operator"], "GreaterThan");
    assert_eq!(criterion["threshold"], "5");
    // Healthy batches before the first troubled one may share its window.
    let measured = criterion["metricValue"].as_f64().expect("value");
    assert!(measured > 5.0 && measured <= 25.0, "{criterion}");
    assert_eq!(criterion["dimensions"][0]["value"], "chat-api");
    let cpu = payload_of(&webhooks, "Node CPU overload", "Fired");
    let criterion = &cpu["data"]["alertContext"]["condition"]["allOf"][0];
    assert_eq!(criterion["dimensions"][0]["value"], "aks-node-1");
    let measured = criterion["metricValue"].as_f64().expect("value");
    assert!(measured > 80.0 && measured <= 90.0, "{criterion}");
    let link = cpu["data"]["essentials"]["investigationLink"]
        .as_str()
        .expect("link");
    assert!(
        link.starts_with(&format!("{PUBLIC_URL}/query?q=InsightsMetrics")),
        "{link}"
    );

    // Slack: text plus blocks with the value, the threshold and the link.
    let slack = peers.http.posts("slack");
    let crash = slack
        .iter()
        .find(|m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("[Fired] Sev1 Pod CrashLoop"))
        })
        .unwrap_or_else(|| panic!("slack: {slack:?}"));
    let blocks = crash["blocks"].to_string();
    assert!(blocks.contains("*Threshold*\\nGreaterThan 5"), "{blocks}");
    assert!(blocks.contains(PUBLIC_URL), "{blocks}");

    // Email through the SMTP server, fired and resolved.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail: Vec<String> = peers
            .smtp
            .messages()
            .into_iter()
            .map(|m| m.replace("\r\n ", " ").replace("\n ", " "))
            .collect();
        let has = |subject: &str| mail.iter().any(|m| m.contains(subject));
        if has("Subject: [Fired] Sev1 Pod CrashLoop")
            && has("Subject: [Resolved] Sev1 Too few nodes")
        {
            let crash = mail
                .iter()
                .find(|m| m.contains("Subject: [Fired] Sev1 Pod CrashLoop"))
                .expect("mail");
            assert!(crash.contains("To: oncall@example.com"), "{crash}");
            assert!(crash.contains("Threshold:   GreaterThan 5"), "{crash}");
            break;
        }
        assert!(Instant::now() < deadline, "mail: {mail:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Alertmanager: ended on resolve.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let active = peers.alertmanager.alerts().await;
        if !active.iter().any(|a| a["status"]["state"] == "active") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still active in alertmanager: {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The history: each rule fired and resolved; the down and the slow receiver failed after
    // their retries, while the webhook was told at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let history = loop {
        let history = ok(&server, "/api/v1/alerts/history?from=15m&limit=2000").await;
        let events = history["events"].as_array().expect("events").clone();
        let failed = |receiver: &str| {
            events
                .iter()
                .filter(|e| {
                    e["kind"] == "NotificationFailed" && e["details"]["receiver"] == receiver
                })
                .count()
        };
        // The slow receiver's queue takes each of its notifications in turn (4 s apiece); the
        // first of them is enough to see it gave up after its timeout.
        if failed("down") >= 2 * SIX.len() && failed("slow") >= 1 {
            break events;
        }
        assert!(Instant::now() < deadline, "history: {events:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let time =
        |e: &Value| tracehouse::time::parse_instant(e["time"].as_str().unwrap_or("")).unwrap_or(0);
    for rule in SIX {
        let of = |kind: &str, receiver: Option<&str>| {
            history
                .iter()
                .filter(|e| e["rule"] == rule && e["kind"] == kind)
                .filter(|e| receiver.is_none_or(|r| e["details"]["receiver"] == r))
                .map(time)
                .min()
                .unwrap_or_else(|| panic!("{rule}: no {kind} {receiver:?} in {history:?}"))
        };
        let fired = of("Fired", None);
        of("Resolved", None);
        let told = of("NotificationSent", Some("ops-webhook"));
        let down = of("NotificationFailed", Some("down"));
        assert!(
            told - fired < 1_500_000_000,
            "{rule}: the webhook waited for others"
        );
        assert!(down >= fired, "{rule}");
    }
    let first_fired = history
        .iter()
        .filter(|e| e["kind"] == "Fired")
        .map(time)
        .min()
        .expect("fired");
    let slow_gave_up = history
        .iter()
        .filter(|e| e["kind"] == "NotificationFailed" && e["details"]["receiver"] == "slow")
        .map(time)
        .min()
        .expect("slow failed");
    assert!(
        slow_gave_up - first_fired >= 4_000_000_000,
        "the slow receiver gave up before its two 2 s attempts"
    );
    assert!(
        !history.iter().any(|e| e["details"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("/slow") || error.contains("/hook"))),
        "an error shows a receiver's path"
    );
    let failure = history
        .iter()
        .find(|e| e["kind"] == "NotificationFailed" && e["details"]["receiver"] == "down")
        .expect("down");
    assert_eq!(failure["details"]["attempts"], 2);
    assert!(
        failure["details"]["error"]
            .as_str()
            .expect("error")
            .contains("cannot reach"),
        "{failure}"
    );

    // Every answer field is described in the OpenAPI document.
    let doc = ok(&server, "/api/v1/openapi.json").await;
    for path in [
        "/api/v1/alerts/rules",
        "/api/v1/alerts",
        "/api/v1/alerts/history",
    ] {
        let (status, answer) = get(&server, &format!("{path}?")).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let schema =
            &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        let mut problems = Vec::new();
        common::undescribed(&doc, schema, &answer, "", &mut problems);
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn six_recommended_alerts_fire_and_resolve_on_sqlite() {
    let peers = Peers::start().await;
    let server = TestServer::start_with(|config| peers.configure(config), None).await;
    six_alerts_fire_and_resolve(server, peers).await;
}

async fn six_recommended_alerts_fire_and_resolve(engine: Engine) {
    let peers = Peers::start().await;
    let server = TestServer::start_on_engine(engine, &database_for("alerts_six"), |config| {
        peers.configure(config)
    })
    .await;
    six_alerts_fire_and_resolve(server, peers).await;
}

on_both_engines!(six_recommended_alerts_fire_and_resolve);

use std::sync::Arc;

use super::*;
use crate::alerts::rules::parse;
use crate::alerts::state::SeriesState;

const MINUTE_NS: i64 = 60_000_000_000;
/// 2026-12-02T10:00:00Z.
const T0: i64 = 1_796_205_600_000_000_000;

fn notification(rule_index: usize, reason: Reason) -> Notification {
    let set = parse(crate::alerts::rules::tests::EXAMPLE).expect("valid");
    let rule = set.rules[rule_index].clone();
    let resolved = reason == Reason::Resolved;
    Notification {
        reason,
        rule: Arc::new(rule),
        state: SeriesState {
            rule: "r".into(),
            dimensions: vec![("k8s.node.name".into(), "node-1".into())],
            firing: !resolved,
            alert_id: Some("5d5c4f3e".into()),
            fired_ns: Some(T0),
            resolved_ns: resolved.then_some(T0 + 5 * MINUTE_NS),
            recent: vec![true],
            value: Some(if resolved { 0.25 } else { 0.93 }),
            fired_value: Some(0.93),
            evaluated_ns: T0 + 5 * MINUTE_NS,
        },
        window: TimeRange {
            from_ns: T0 - 5 * MINUTE_NS,
            to_ns: T0,
        },
        link: "http://tracehouse:8080/query?q=x".into(),
    }
}

#[test]
fn webhooks_get_the_common_alert_schema() {
    let fired = common_alert_schema(&notification(0, Reason::Fired));
    assert_eq!(fired["schemaId"], "azureMonitorCommonAlertSchema");
    let essentials = &fired["data"]["essentials"];
    assert_eq!(essentials["alertId"], "/tracehouse/alerts/5d5c4f3e");
    assert_eq!(essentials["alertRule"], "High Error Rate Alert");
    assert_eq!(essentials["severity"], "Sev1");
    assert_eq!(essentials["signalType"], "Log");
    assert_eq!(essentials["monitorCondition"], "Fired");
    assert_eq!(essentials["firedDateTime"], "2026-12-02T10:00:00.000Z");
    assert!(essentials["resolvedDateTime"].is_null());
    assert_eq!(
        essentials["investigationLink"],
        "http://tracehouse:8080/query?q=x"
    );
    let context = &fired["data"]["alertContext"];
    assert_eq!(context["conditionType"], "LogQueryCriteria");
    assert_eq!(context["condition"]["windowSize"], "PT5M");
    assert_eq!(
        context["condition"]["windowStartTime"],
        "2026-12-02T09:55:00.000Z"
    );
    let criterion = &context["condition"]["allOf"][0];
    assert_eq!(
        criterion["searchQuery"],
        "AppRequests | where ResultCode >= 500 | summarize count()"
    );
    assert_eq!(criterion["operator"], "GreaterThan");
    assert_eq!(criterion["threshold"], "50");
    assert_eq!(criterion["metricValue"], 0.93);
    assert_eq!(criterion["dimensions"][0]["name"], "k8s.node.name");
    assert_eq!(criterion["dimensions"][0]["value"], "node-1");

    let resolved = common_alert_schema(&notification(1, Reason::Resolved));
    let essentials = &resolved["data"]["essentials"];
    assert_eq!(essentials["monitorCondition"], "Resolved");
    assert_eq!(essentials["signalType"], "Metric");
    assert_eq!(essentials["severity"], "Sev2");
    assert_eq!(essentials["resolvedDateTime"], "2026-12-02T10:05:00.000Z");
    let criterion = &resolved["data"]["alertContext"]["allOf"];
    assert!(criterion.is_null(), "allOf sits under condition");
    let criterion = &resolved["data"]["alertContext"]["condition"]["allOf"][0];
    assert_eq!(criterion["metricName"], "system.cpu.utilization");
    assert_eq!(criterion["timeAggregation"], "Average");
    assert_eq!(criterion["metricValue"], 0.25);
}

#[test]
fn slack_gets_text_and_blocks_with_value_threshold_and_link() {
    let message = slack_message(&notification(1, Reason::Fired));
    let text = message["text"].as_str().expect("text");
    assert!(
        text.contains("[Fired] Sev2 High CPU Alert (k8s.node.name=node-1)"),
        "{text}"
    );
    assert!(
        // Slack reads `&gt;` as `>`: its control characters are escaped.
        text.contains("avg(system.cpu.utilization) 0.93 &gt; 0.8 over 5m"),
        "{text}"
    );
    let blocks = message["blocks"].to_string();
    assert!(blocks.contains("*Threshold*\\nGreaterThan 0.8"), "{blocks}");
    assert!(
        blocks.contains("<http://tracehouse:8080/query?q=x|Open in tracehouse>"),
        "{blocks}"
    );
}

#[test]
fn email_says_the_same() {
    let (subject, body) = email(&notification(1, Reason::Resolved));
    assert_eq!(
        subject,
        "[Resolved] Sev2 High CPU Alert (k8s.node.name=node-1)"
    );
    assert!(body.contains("Value:       0.25"), "{body}");
    assert!(body.contains("Threshold:   GreaterThan 0.8"), "{body}");
    assert!(
        body.contains("Resolved:    2026-12-02T10:05:00.000Z"),
        "{body}"
    );
    assert!(
        body.contains("Open in tracehouse: http://tracehouse:8080/query?q=x"),
        "{body}"
    );
}

#[test]
fn alertmanager_labels_are_valid_names() {
    let alerts = alertmanager_alerts(&notification(1, Reason::Fired), T0 + 15 * MINUTE_NS);
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["alertname"], "High CPU Alert");
    assert_eq!(alert["labels"]["severity"], "Sev2");
    assert_eq!(alert["labels"]["k8s_node_name"], "node-1");
    assert_eq!(alert["startsAt"], "2026-12-02T10:00:00.000Z");
    assert_eq!(alert["endsAt"], "2026-12-02T10:15:00.000Z");
    assert_eq!(alert["annotations"]["threshold"], "0.8");
    assert_eq!(alert["generatorURL"], "http://tracehouse:8080/query?q=x");
    assert_eq!(label_name("9lives"), "_9lives");
    assert_eq!(iso_duration(5_400), "PT1H30M");
    assert_eq!(iso_duration(45), "PT45S");
    assert_eq!(format_number(0.123456), "0.1235");
}

#[test]
fn slack_escapes_telemetry_and_keeps_the_header_short() {
    let mut n = notification(1, Reason::Fired);
    n.state.dimensions = vec![("pod".into(), format!("<!channel> {}", "x".repeat(200)))];
    let message = slack_message(&n);
    let header = message["blocks"][0]["text"]["text"]
        .as_str()
        .expect("header");
    assert!(header.chars().count() <= 150, "{header}");
    // Mentions are parsed in mrkdwn and text, not in a plain_text header.
    let text = format!("{} {}", message["text"], message["blocks"][1]);
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
}

#[test]
fn receiver_urls_in_errors_keep_only_scheme_and_host() {
    use crate::alerts::notify::redacted;
    assert_eq!(
        redacted("https://hooks.slack.com/services/T0/B0/secret"),
        "https://hooks.slack.com/…"
    );
    assert_eq!(redacted("http://user:pw@am:9093/api"), "http://am:9093/…");
    assert_eq!(redacted("not a url"), "the receiver");
}

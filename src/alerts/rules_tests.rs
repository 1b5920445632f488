use std::time::Duration;

use super::*;

/// The example of the alerts issue, with both kinds of rule and every receiver type.
pub const EXAMPLE: &str = r#"
action_groups:
  - name: my-action-group
    receivers:
      - {type: webhook, name: ops, url: "http://ops.internal/hook"}
      - {type: slack, name: slack, url: "https://hooks.slack.com/services/T0/B0/x"}
      - {type: email, name: admin, to: ["admin@company.com"]}
      - {type: alertmanager, name: am, url: "http://alertmanager:9093"}
rules:
  - name: High Error Rate Alert
    severity: 1
    query: "AppRequests | where ResultCode >= 500 | summarize count()"
    operator: GreaterThan
    threshold: 50
    window: 5m
    frequency: 5m
    failing_periods: {evaluations: 1, violations: 1}
    dimensions: [AppRoleName]
    auto_resolve: true
    action_groups: [my-action-group]
  - name: High CPU Alert
    severity: 2
    metric: system.cpu.utilization
    aggregation: avg
    operator: GreaterThan
    threshold: 0.8
    window: 5m
    frequency: 30s
    action_groups: [my-action-group]
"#;

#[test]
fn parses_the_example_of_the_issue() {
    let set = parse(EXAMPLE).expect("valid");
    assert_eq!(set.action_groups.len(), 1);
    let kinds: Vec<&str> = set.action_groups[0]
        .receivers
        .iter()
        .map(Receiver::kind)
        .collect();
    assert_eq!(kinds, ["webhook", "slack", "email", "alertmanager"]);
    let errors = &set.rules[0];
    assert_eq!(errors.severity, 1);
    assert_eq!(errors.operator, Operator::GreaterThan);
    assert_eq!(errors.window, Duration::from_secs(300));
    assert_eq!(errors.dimensions, ["AppRoleName"]);
    assert!(matches!(
        &errors.condition,
        Condition::Log { measure: None, .. }
    ));
    assert_eq!(errors.line, 10);
    let cpu = &set.rules[1];
    assert_eq!(cpu.frequency, Duration::from_secs(30));
    assert_eq!(cpu.no_data, NoData::Ok);
    assert_eq!(cpu.failing_periods, FailingPeriods::default());
    assert!(matches!(
        &cpu.condition,
        Condition::Metric { name, aggregation: Aggregation::Avg, .. } if name == "system.cpu.utilization"
    ));
    assert_eq!(cpu.line, 21);
    assert!(set.has_email());
    assert_eq!(set.receivers_of(cpu).count(), 4);
}

#[test]
fn durations_are_written_with_units_or_as_seconds() {
    let text = EXAMPLE.replace(
        "window: 5m\n    frequency: 30s",
        "window: 45\n    frequency: 1h",
    );
    let set = parse(&text).expect("valid");
    assert_eq!(set.rules[1].window, Duration::from_secs(45));
    assert_eq!(set.rules[1].frequency, Duration::from_secs(3600));
    assert_eq!(metric_aggregation("r", Some("total")), Ok(Aggregation::Sum));
}

fn refusal(text: &str) -> (usize, String) {
    match parse(text) {
        Err(RulesError::Invalid { line, message }) => (line, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_bad_file_is_refused_naming_the_line() {
    let (line, message) = refusal(&EXAMPLE.replace(
        "operator: GreaterThan\n    threshold: 0.8",
        "operator: Above\n    threshold: 0.8",
    ));
    assert_eq!(line, 25, "{message}");
    assert!(message.contains("Above"), "{message}");

    let (line, message) = refusal(&EXAMPLE.replace("severity: 2", "severity: 7"));
    assert_eq!(line, 21);
    assert!(message.contains("severity 7"), "{message}");

    let (line, message) = refusal(&EXAMPLE.replace(
        "action_groups: [my-action-group]\n  - name: High CPU",
        "action_groups: [pager]\n  - name: High CPU",
    ));
    assert_eq!(line, 10);
    assert!(message.contains("\"pager\" is not defined"), "{message}");

    let (_, message) =
        refusal(&EXAMPLE.replace("    aggregation: avg\n", "    aggregation: median\n"));
    assert!(message.contains("median"), "{message}");

    let (line, message) = refusal(&EXAMPLE.replace(
        "window: 5m\n    frequency: 30s",
        "window: 5 fortnights\n    frequency: 30s",
    ));
    assert_eq!(line, 21, "{message}: the rule's line");
    assert!(message.contains("fortnights"), "{message}");

    let (_, message) =
        refusal(&EXAMPLE.replace("metric: system.cpu.utilization", "metric: x\n    query: y"));
    assert!(message.contains("exactly one of"), "{message}");

    let (_, message) = refusal(&EXAMPLE.replace(
        "failing_periods: {evaluations: 1, violations: 1}",
        "failing_periods: {evaluations: 2, violations: 3}",
    ));
    assert!(message.contains("violations"), "{message}");

    let (_, message) =
        refusal(&EXAMPLE.replace("url: \"http://ops.internal/hook\"", "url: \"ops.internal\""));
    assert!(message.contains("http:// or https://"), "{message}");

    let (_, message) = refusal(&EXAMPLE.replace("admin@company.com", "not an address"));
    assert!(message.contains("not an email address"), "{message}");

    let (line, message) = refusal(&EXAMPLE.replace(
        "    auto_resolve: true\n",
        "    auto_resolve: true\n    autoresolve: false\n",
    ));
    assert_eq!(line, 20, "{message}");
    assert!(message.contains("autoresolve"), "{message}");

    let twice = format!(
        "{EXAMPLE}  - name: High CPU Alert\n    severity: 2\n    metric: m\n    operator: LessThan\n    threshold: 1\n    window: 1m\n    frequency: 1m\n"
    );
    let (line, message) = refusal(&twice);
    assert_eq!(line, 30);
    assert!(message.contains("defined twice"), "{message}");
}

#[test]
fn operators_compare_as_named() {
    assert!(Operator::GreaterThan.breaches(2.0, 1.0));
    assert!(!Operator::GreaterThan.breaches(1.0, 1.0));
    assert!(Operator::GreaterThanOrEqual.breaches(1.0, 1.0));
    assert!(Operator::LessThan.breaches(1.0, 2.0));
    assert!(!Operator::LessThan.breaches(2.0, 2.0));
    assert!(Operator::LessThanOrEqual.breaches(2.0, 2.0));
    assert!(Operator::Equal.breaches(3.0, 3.0));
    assert!(!Operator::Equal.breaches(3.0, 3.5));
}

#[test]
fn the_recommended_rules_parse() {
    let set = parse(include_str!("../../deploy/alerts/recommended.yaml")).expect("valid");
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Node CPU overload",
            "Node memory low",
            "Pod CrashLoop",
            "HTTP error-rate spike",
            "AI API latency spike",
            "Too few nodes"
        ]
    );
    let severities: Vec<u8> = set.rules.iter().map(|r| r.severity).collect();
    assert_eq!(severities, [2, 2, 1, 1, 2, 1], "the runbook's severities");
    assert!(set.rules.iter().all(|r| r.action_groups == ["oncall"]));
}

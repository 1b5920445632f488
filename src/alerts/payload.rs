//! What each receiver is sent, built from one notification: the Azure Monitor common alert
//! schema for webhooks, a Slack message, an email, an Alertmanager alert. Pure.

use std::sync::Arc;

use serde_json::{Value, json};

use super::rules::{Condition, Rule};
use super::state::SeriesState;
use crate::reads::TimeRange;
use crate::time::format_instant;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Fired,
    Resolved,
    /// Still firing: only Alertmanager hears it again (its alerts expire unless renewed).
    StillFiring,
}

/// One series' firing, resolution or renewal, with what every payload needs.
#[derive(Debug, Clone)]
pub struct Notification {
    pub reason: Reason,
    pub rule: Arc<Rule>,
    pub state: SeriesState,
    /// The window of the evaluation that decided it.
    pub window: TimeRange,
    /// Where a person looks: the web UI's query page or the metric's series.
    pub link: String,
}

impl Notification {
    pub fn condition(&self) -> &'static str {
        match self.reason {
            Reason::Resolved => "Resolved",
            Reason::Fired | Reason::StillFiring => "Fired",
        }
    }

    fn value_text(&self) -> String {
        match self.state.value.or(self.state.fired_value) {
            Some(value) => format_number(value),
            None => "no data".into(),
        }
    }

    /// `[Fired] Sev1 High Error Rate Alert (AppRoleName=checkout)`.
    pub fn title(&self) -> String {
        let dimensions = super::dimensions_text(&self.state.dimensions);
        let mut title = format!(
            "[{}] Sev{} {}",
            self.condition(),
            self.rule.severity,
            self.rule.name
        );
        if !dimensions.is_empty() {
            title.push_str(&format!(" ({dimensions})"));
        }
        title
    }

    /// `value 7.3 GreaterThan 5 over 5m`.
    pub fn summary(&self) -> String {
        format!(
            "{} {} {} {} over {}",
            measured_name(&self.rule),
            self.value_text(),
            self.rule.operator.symbol(),
            format_number(self.rule.threshold),
            duration_text(self.rule.window.as_secs())
        )
    }
}

fn measured_name(rule: &Rule) -> String {
    match &rule.condition {
        Condition::Log { measure, .. } => measure.clone().unwrap_or_else(|| "value".into()),
        Condition::Metric {
            name, aggregation, ..
        } => format!("{}({name})", aggregation.api_name()),
    }
}

pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn duration_text(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// ISO 8601 duration: `PT5M`, `PT1H30M`, `PT45S`.
fn iso_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut text = "PT".to_owned();
    if h > 0 {
        text.push_str(&format!("{h}H"));
    }
    if m > 0 {
        text.push_str(&format!("{m}M"));
    }
    if s > 0 || seconds == 0 {
        text.push_str(&format!("{s}S"));
    }
    text
}

fn time_aggregation(rule: &Rule) -> String {
    match &rule.condition {
        Condition::Log { .. } => "Total".into(),
        Condition::Metric { aggregation, .. } => match aggregation.api_name().as_str() {
            "avg" => "Average".into(),
            "min" => "Minimum".into(),
            "max" => "Maximum".into(),
            "sum" => "Total".into(),
            "count" => "Count".into(),
            other => other.to_owned(),
        },
    }
}

/// Where a person looks: the query page for a log rule, the metric's series otherwise.
pub fn investigation_link(base: &str, rule: &Rule, window: TimeRange) -> String {
    let base = base.trim_end_matches('/');
    let from = crate::time::format_instant(window.from_ns);
    let to = crate::time::format_instant(window.to_ns);
    let mut query = form_urlencoded::Serializer::new(String::new());
    let path = match &rule.condition {
        Condition::Log { query: text, .. } => {
            query.append_pair("q", text);
            "/query"
        }
        Condition::Metric {
            name,
            aggregation,
            filters,
        } => {
            query.append_pair("name", name);
            query.append_pair("aggregation", &aggregation.api_name());
            for (key, value) in filters {
                query.append_pair(&format!("dim.{key}"), value);
            }
            if !rule.dimensions.is_empty() {
                let keys: Vec<String> =
                    rule.dimensions.iter().map(|d| format!("dim.{d}")).collect();
                query.append_pair("group_by", &keys.join(","));
            }
            "/api/v1/metrics/series"
        }
    };
    query.append_pair("from", &from);
    query.append_pair("to", &to);
    format!("{base}{path}?{}", query.finish())
}

/// The Azure Monitor common alert schema.
pub fn common_alert_schema(n: &Notification) -> Value {
    let rule = &n.rule;
    let dimensions: Vec<Value> = n
        .state
        .dimensions
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut criterion = json!({
        "operator": rule.operator.name(),
        "threshold": format_number(rule.threshold),
        "timeAggregation": time_aggregation(rule),
        "dimensions": dimensions,
        "metricValue": n.state.value.or(n.state.fired_value),
        "failingPeriods": {
            "numberOfEvaluationPeriods": rule.failing_periods.evaluations,
            "minFailingPeriodsToAlert": rule.failing_periods.violations,
        },
    });
    let (condition_type, service) = match &rule.condition {
        Condition::Log { query, measure } => {
            criterion["searchQuery"] = json!(query);
            criterion["metricMeasureColumn"] = json!(measure);
            criterion["linkToSearchResultsUI"] = json!(n.link);
            ("LogQueryCriteria", "Log Alerts V2")
        }
        Condition::Metric {
            name,
            aggregation,
            filters,
        } => {
            criterion["metricName"] = json!(name);
            criterion["metricNamespace"] = json!("customMetrics");
            criterion["aggregation"] = json!(aggregation.api_name());
            criterion["filters"] = json!(filters);
            ("SingleResourceMultipleMetricCriteria", "Platform")
        }
    };
    let target = rule.app.clone().unwrap_or_else(|| "tracehouse".into());
    json!({
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": format!("/tracehouse/alerts/{}", n.state.alert_id.as_deref().unwrap_or("")),
                "alertRule": rule.name,
                "severity": format!("Sev{}", rule.severity),
                "signalType": rule.signal_type(),
                "monitorCondition": n.condition(),
                "monitoringService": service,
                "alertTargetIDs": [target],
                "configurationItems": n.state.dimensions.iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "originAlertId": n.state.alert_id,
                "firedDateTime": n.state.fired_ns.map(format_instant),
                "resolvedDateTime": n.state.resolved_ns.filter(|_| n.reason == Reason::Resolved).map(format_instant),
                "description": rule.description,
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
                "investigationLink": n.link,
            },
            "alertContext": {
                "conditionType": condition_type,
                "condition": {
                    "windowSize": iso_duration(rule.window.as_secs()),
                    "allOf": [criterion],
                    "windowStartTime": format_instant(n.window.from_ns),
                    "windowEndTime": format_instant(n.window.to_ns),
                },
            },
        },
    })
}

/// Slack's control characters; a dimension value from telemetry must not become a mention
/// such as `<!channel>`.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, the cut marked with an ellipsis.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A Slack incoming-webhook message: text for notifications, blocks for the channel (a header
/// is at most 150 characters, a field 2,000).
pub fn slack_message(n: &Notification) -> Value {
    let emoji = match n.reason {
        Reason::Resolved => ":white_check_mark:",
        _ => ":rotating_light:",
    };
    let title = slack_escape(&n.title());
    let summary = slack_escape(&n.summary());
    let text = format!("{emoji} {title} — {summary}");
    let field = |name: &str, value: &str| json!({"type": "mrkdwn", "text": cut(&format!("*{}*\n{}", slack_escape(name), slack_escape(value)), 2000)});
    let mut fields = vec![
        field("Value", &n.value_text()),
        field(
            "Threshold",
            &format!(
                "{} {}",
                n.rule.operator.name(),
                format_number(n.rule.threshold)
            ),
        ),
        field("Severity", &format!("Sev{}", n.rule.severity)),
        field("Window", &duration_text(n.rule.window.as_secs())),
    ];
    for (name, value) in &n.state.dimensions {
        fields.push(field(name, value));
    }
    fields.truncate(10);
    json!({
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": cut(&n.title(), 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&summary, 3000)}, "fields": fields},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("<{}|Open in tracehouse>", slack_escape(&n.link))}},
        ],
    })
}

/// An email's subject and plain-text body.
pub fn email(n: &Notification) -> (String, String) {
    let mut body = format!("{}\n\n{}\n\n", n.title(), n.summary());
    body.push_str(&format!("Rule:        {}\n", n.rule.name));
    body.push_str(&format!("Severity:    Sev{}\n", n.rule.severity));
    body.push_str(&format!("Condition:   {}\n", n.condition()));
    body.push_str(&format!("Value:       {}\n", n.value_text()));
    body.push_str(&format!(
        "Threshold:   {} {}\n",
        n.rule.operator.name(),
        format_number(n.rule.threshold)
    ));
    for (name, value) in &n.state.dimensions {
        body.push_str(&format!("{name}: {value}\n"));
    }
    if let Some(fired) = n.state.fired_ns {
        body.push_str(&format!("Fired:       {}\n", format_instant(fired)));
    }
    if let (Reason::Resolved, Some(resolved)) = (n.reason, n.state.resolved_ns) {
        body.push_str(&format!("Resolved:    {}\n", format_instant(resolved)));
    }
    match &n.rule.condition {
        Condition::Log { query, .. } => body.push_str(&format!("Query:       {query}\n")),
        Condition::Metric { name, .. } => body.push_str(&format!("Metric:      {name}\n")),
    }
    if !n.rule.description.is_empty() {
        body.push_str(&format!("\n{}\n", n.rule.description));
    }
    body.push_str(&format!("\nOpen in tracehouse: {}\n", n.link));
    (n.title(), body)
}

/// Alertmanager label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(name: &str) -> String {
    let mut label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
        label.insert(0, '_');
    }
    label
}

/// The body of `POST /api/v2/alerts`: one alert, ending `ends_ns` (now when resolved; a few
/// evaluations ahead while firing, so it expires if tracehouse stops renewing it).
pub fn alertmanager_alerts(n: &Notification, ends_ns: i64) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!(n.rule.name));
    labels.insert("severity".into(), json!(format!("Sev{}", n.rule.severity)));
    labels.insert("source".into(), json!("tracehouse"));
    for (name, value) in &n.state.dimensions {
        labels.insert(label_name(name), json!(value));
    }
    if let Some(app) = &n.rule.app {
        labels.insert("app".into(), json!(app));
    }
    json!([{
        "labels": labels,
        "annotations": {
            "summary": n.title(),
            "description": n.summary(),
            "value": n.value_text(),
            "threshold": format_number(n.rule.threshold),
        },
        "startsAt": n.state.fired_ns.map(format_instant),
        "endsAt": format_instant(ends_ns),
        "generatorURL": n.link,
    }])
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;

//! Response schemas of the alert endpoints.

use serde_json::{Value, json};

use super::{array, boolean, integer, nullable, number, object, string, strings_by_key};

fn free_object(description: &str) -> Value {
    json!({ "type": "object", "description": description })
}

fn rule() -> Value {
    object(&[
        ("name", string("the rule's name, unique in the file")),
        ("description", string("as written in the file")),
        ("severity", integer("0 (critical) to 4 (verbose)")),
        (
            "signal_type",
            string("Log (a KQL query) or Metric (a customMetrics name)"),
        ),
        ("query", nullable(string("the KQL query of a log rule"))),
        (
            "measure",
            nullable(string("the query's column compared with the threshold")),
        ),
        (
            "metric",
            nullable(string("the customMetrics name of a metric rule")),
        ),
        (
            "aggregation",
            nullable(string("how a metric rule aggregates the window")),
        ),
        (
            "filters",
            strings_by_key("a metric rule's dimension filters"),
        ),
        (
            "operator",
            string("GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual or Equal"),
        ),
        ("threshold", number("the value compared with")),
        (
            "window_s",
            number("the time range each evaluation reads, seconds"),
        ),
        ("frequency_s", number("seconds between evaluations")),
        (
            "failing_periods",
            object(&[
                (
                    "evaluations",
                    integer("how many of the latest evaluations count"),
                ),
                (
                    "violations",
                    integer("how many of them must breach to fire"),
                ),
            ]),
        ),
        (
            "dimensions",
            array(
                string("column or dimension key"),
                "one alert per value of these",
            ),
        ),
        (
            "auto_resolve",
            boolean("resolves when the condition no longer holds"),
        ),
        (
            "no_data",
            string("what no value counts as: ok, alerting or keep"),
        ),
        (
            "action_groups",
            array(string("action group"), "who is notified"),
        ),
        (
            "app",
            nullable(string(
                "the one app whose telemetry the rule reads; null: every app",
            )),
        ),
        ("line", integer("the rule's line in the file")),
        (
            "last_error",
            nullable(object(&[
                ("time", string("when (ISO 8601)")),
                (
                    "message",
                    string("why the latest evaluation measured nothing"),
                ),
            ])),
        ),
    ])
}

pub fn response(path: &str) -> Option<Value> {
    Some(match path {
        "/api/v1/alerts/rules" => object(&[
            (
                "file",
                nullable(string(
                    "the rules file (--alert-rules); null without one, and for tokens scoped to some apps",
                )),
            ),
            (
                "evaluating",
                boolean("whether this instance holds the evaluator lease"),
            ),
            (
                "reload_error",
                nullable(string(
                    "why the latest change of the file was refused (the rules before it stay); all-apps tokens only",
                )),
            ),
            (
                "action_groups",
                array(
                    object(&[
                        ("name", string("the action group")),
                        (
                            "receivers",
                            array(
                                object(&[
                                    ("type", string("webhook, slack, email or alertmanager")),
                                    ("name", string("the receiver's name")),
                                ]),
                                "its receivers (addresses are not shown)",
                            ),
                        ),
                    ]),
                    "action groups (shown to all-apps tokens only)",
                ),
            ),
            ("rules", array(rule(), "the rules in force")),
        ]),
        "/api/v1/alerts" => object(&[
            (
                "evaluating",
                boolean("whether this instance holds the evaluator lease"),
            ),
            (
                "alerts",
                array(
                    object(&[
                        ("rule", string("the rule")),
                        (
                            "severity",
                            nullable(integer(
                                "the rule's severity; null for a rule no longer in the file",
                            )),
                        ),
                        ("signal_type", nullable(string("Log or Metric"))),
                        ("dimensions", strings_by_key("the series' dimension values")),
                        ("condition", string("Fired, Resolved, OK or NoData")),
                        (
                            "value",
                            nullable(number("the latest measured value; null without data")),
                        ),
                        (
                            "fired_value",
                            nullable(number("the value that made it fire")),
                        ),
                        ("threshold", nullable(number("the rule's threshold"))),
                        ("operator", nullable(string("the rule's operator"))),
                        ("alert_id", nullable(string("names the latest firing"))),
                        ("fired", nullable(string("when it fired (ISO 8601)"))),
                        ("resolved", nullable(string("when it resolved (ISO 8601)"))),
                        ("evaluated", string("the latest evaluation (ISO 8601)")),
                        (
                            "recent",
                            array(boolean("breached"), "the latest evaluations, oldest first"),
                        ),
                    ]),
                    "one entry per rule and dimension values",
                ),
            ),
        ]),
        "/api/v1/alerts/history" => object(&[
            ("from", string("start of the range (ISO 8601)")),
            ("to", string("end of the range, exclusive (ISO 8601)")),
            (
                "events",
                array(
                    object(&[
                        ("time", string("when (ISO 8601)")),
                        ("rule", string("the rule")),
                        ("dimensions", strings_by_key("the series' dimension values")),
                        (
                            "kind",
                            string(
                                "Fired, Resolved, NotificationSent, NotificationFailed, EvaluationFailed or RuleRemoved",
                            ),
                        ),
                        (
                            "details",
                            free_object(
                                "alertId, value, threshold and window of a firing or resolution; receiver, type, attempts and error of a notification; error of a failed evaluation",
                            ),
                        ),
                    ]),
                    "newest first",
                ),
            ),
        ]),
        _ => return None,
    })
}

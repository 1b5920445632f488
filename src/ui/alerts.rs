//! `/alerts`: what is firing now (each alert opens the query or metric behind it), every other
//! series, the rules in force with their latest evaluation errors, and the history of firings,
//! resolutions and notifications in the time range.

use axum::extract::{RawQuery, State};
use maud::{Markup, html};

use super::format;
use super::{PageError, layout};
use crate::alerts::dimensions_text;
use crate::alerts::payload::{format_number, investigation_link};
use crate::alerts::rules::{Condition, Rule};
use crate::alerts::state::{SeriesState, dimensions_of};
use crate::api::access::Access;
use crate::api::alerts::{visible_alerts, visible_history, visible_rules};
use crate::api::params::{FROM, ParamSpec, ParamType, TO, param};
use crate::api::{ApiError, ApiState};
use crate::reads::AppScope;
use crate::time::format_instant;

pub const PARAMS: &[ParamSpec] = &[FROM, TO, param("rule", ParamType::String, "only this rule")];

/// An event's details as `key: value` pairs (nulls left out).
fn details(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) => fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(text) => format!("{k}: {text}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        _ => body.to_owned(),
    }
}

fn when(ns: Option<i64>) -> String {
    ns.map_or_else(|| "–".to_owned(), format_instant)
}

/// The rule's query or metric over the window that ends at the series' latest evaluation.
fn open_link(rule: &Rule, series: &SeriesState) -> String {
    investigation_link("", rule, rule.window_ending(series.evaluated_ns))
}

fn condition_text(rule: &Rule) -> String {
    let measured = match &rule.condition {
        Condition::Log { query, measure } => {
            let first = query.lines().next().unwrap_or_default();
            format!("{first} … {}", measure.as_deref().unwrap_or("value"))
        }
        Condition::Metric {
            name, aggregation, ..
        } => format!("{}({name})", aggregation.api_name()),
    };
    format!(
        "{measured} {} {}",
        rule.operator.symbol(),
        format_number(rule.threshold)
    )
}

fn series_table(rows: &[(Option<Rule>, SeriesState)]) -> Markup {
    html! {
        table.grid {
            thead { tr {
                th { "Sev" } th { "Rule" } th { "Dimensions" } th { "Condition" }
                th.num { "Value" } th.num { "Threshold" } th { "Fired" } th { "Resolved" } th { "" }
            }}
            tbody {
                @for (rule, series) in rows {
                    tr {
                        td { @if let Some(rule) = rule { "Sev" (rule.severity) } }
                        td { (series.rule) }
                        td { (dimensions_text(&series.dimensions)) }
                        td class=[series.firing.then_some("failed")] { (series.condition()) }
                        td.num { (series.value.map_or_else(|| "no data".to_owned(), format_number)) }
                        td.num { @if let Some(rule) = rule { (rule.operator.symbol()) " " (format_number(rule.threshold)) } }
                        td.time { (when(series.fired_ns)) }
                        td.time { (when(series.resolved_ns)) }
                        td { @if let Some(rule) = rule { a href=(open_link(rule, series)) { "open" } } }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let (access, query) = super::open(access, raw.as_deref(), PARAMS)?;
    let params = &query.params;
    let range = params.range()?;
    let rule = params.get("rule");
    let mut series = visible_alerts(&state, &access.scope, rule, None).await?;
    // Firing first, the most severe first among them.
    series.sort_by_key(|(rule, s)| (!s.firing, rule.as_ref().map_or(5, |r| r.severity)));
    let (firing, other): (Vec<_>, Vec<_>) = series.into_iter().partition(|(_, s)| s.firing);
    let rules = visible_rules(&state, &access.scope);
    let history = visible_history(&state, &access.scope, range, rule, 200).await?;
    let view = state.alerts.as_deref();
    let body = html! {
        h1 { "Alerts" }
        @if view.is_none() {
            p.empty { "No alert rules: start tracehouse with --alert-rules FILE (deploy/alerts/recommended.yaml has six to begin with; docs/alerts.md describes them)." }
        }
        @if let Some(error) = view.filter(|_| matches!(access.scope, AppScope::All)).and_then(|v| v.reload_error()) {
            p.error { "The latest change of the rules file was refused, the rules before it stay: " (error) }
        }
        p.summary {
            (firing.len()) " firing"
            @if let Some(view) = view {
                " · " (rules.len()) " rules · "
                @if view.leading() { "evaluated by this instance" } @else { "evaluated by another instance" }
            }
        }
        @if !firing.is_empty() {
            h2 { "Firing" }
            (series_table(&firing))
        }
        @if !other.is_empty() {
            h2 { "Other series" }
            (series_table(&other))
        }
        @if !rules.is_empty() {
            h2 { "Rules" }
            table.grid {
                thead { tr {
                    th { "Rule" } th { "Sev" } th { "Signal" } th { "Condition" }
                    th { "Window" } th { "Every" } th { "Latest error" }
                }}
                tbody {
                    @for rule in &rules {
                        tr {
                            td { a href=(query.link("/alerts", &[("rule", Some(&rule.name))])) { (rule.name) } }
                            td { "Sev" (rule.severity) }
                            td { (rule.signal_type()) }
                            td { code { (condition_text(rule)) } }
                            td.num { (format::interval(u32::try_from(rule.window.as_secs()).unwrap_or(u32::MAX))) }
                            td.num { (format::interval(u32::try_from(rule.frequency.as_secs()).unwrap_or(u32::MAX))) }
                            td.error { @if let Some((_, message)) = view.and_then(|v| v.error_of(&rule.name)) { (message) } }
                        }
                    }
                }
            }
        }
        h2 { "History" @if let Some(rule) = rule { " of " (rule) " — " a href=(query.link("/alerts", &[("rule", None)])) { "all rules" } } }
        @if history.is_empty() {
            p.empty { "Nothing fired, resolved or was sent in this time range." }
        } @else {
            table.grid {
                thead { tr { th { "Time" } th { "Rule" } th { "Dimensions" } th { "Event" } th { "Details" } } }
                tbody {
                    @for event in &history {
                        tr {
                            td.time { (format_instant(event.time_ns)) }
                            td { (event.rule) }
                            td { (dimensions_text(&dimensions_of(&event.series))) }
                            td class=[event.kind.ends_with("Failed").then_some("failed")] { (event.kind) }
                            td.detail-text { (details(&event.body)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Alerts", "/alerts", &query, body))
}

//! `/api/v1/alerts/rules`, `/api/v1/alerts` and `/api/v1/alerts/history`: the rules in force,
//! the state of every alert series (as the evaluating instance saved it in the store) and the
//! history of firings, resolutions and notifications. A token scoped to some apps sees only
//! the rules that read one of them (`app:`); rules over every app need an all-apps token.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::access::Access;
use super::params::{FROM, LIMIT, ParamSpec, ParamType, Params, TO, param};
use super::{ApiError, ApiState};
use crate::alerts::rules::{Condition, Rule, RuleSet};
use crate::alerts::state::{SeriesState, dimensions_of};
use crate::alerts::{AlertsView, dimensions_object};
use crate::reads::AppScope;
use crate::reads::alert_records::HistoryQuery;
use crate::time::format_instant;

const RULE: ParamSpec = param("rule", ParamType::String, "only this rule");
const CONDITION: ParamSpec = param(
    "condition",
    ParamType::String,
    "only series in this monitor condition: Fired, Resolved, OK or NoData",
);
pub const RULES_PARAMS: &[ParamSpec] = &[];
pub const ALERTS_PARAMS: &[ParamSpec] = &[RULE, CONDITION];
pub const HISTORY_PARAMS: &[ParamSpec] = &[FROM, TO, RULE, LIMIT];

fn visible(scope: &AppScope, rule: &Rule) -> bool {
    match (scope, &rule.app) {
        (AppScope::All, _) => true,
        (AppScope::Only(_), None) => false,
        (scope, Some(app)) => scope.allows(app),
    }
}

fn rules_in_force(state: &ApiState) -> std::sync::Arc<RuleSet> {
    state
        .alerts
        .as_ref()
        .map(|view| view.rules())
        .unwrap_or_default()
}

fn rule_json(rule: &Rule, view: Option<&AlertsView>) -> Value {
    let (query, measure, metric, aggregation, filters) = match &rule.condition {
        Condition::Log { query, measure } => (Some(query), measure.as_ref(), None, None, None),
        Condition::Metric {
            name,
            aggregation,
            filters,
        } => (
            None,
            None,
            Some(name),
            Some(aggregation.api_name()),
            Some(filters),
        ),
    };
    let last_error = view
        .and_then(|v| v.error_of(&rule.name))
        .map(|(at, message)| json!({"time": format_instant(at), "message": message}));
    json!({
        "name": rule.name,
        "description": rule.description,
        "severity": rule.severity,
        "signal_type": rule.signal_type(),
        "query": query,
        "measure": measure,
        "metric": metric,
        "aggregation": aggregation,
        "filters": filters.cloned().unwrap_or_default(),
        "operator": rule.operator.name(),
        "threshold": rule.threshold,
        "window_s": rule.window.as_secs_f64(),
        "frequency_s": rule.frequency.as_secs_f64(),
        "failing_periods": rule.failing_periods,
        "dimensions": rule.dimensions,
        "auto_resolve": rule.auto_resolve,
        "no_data": rule.no_data,
        "action_groups": rule.action_groups,
        "app": rule.app,
        "line": rule.line,
        "last_error": last_error,
    })
}

pub async fn rules(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    Params::parse(raw.as_deref(), RULES_PARAMS, crate::clock::now_ns())?;
    let view = state.alerts.as_deref();
    let set = rules_in_force(&state);
    let rules: Vec<Value> = visible_rules(&state, &access.scope)
        .iter()
        .map(|rule| rule_json(rule, view))
        .collect();
    // Receivers' URLs carry secrets (Slack webhook paths): only their kinds and names show.
    let groups: Vec<Value> = match access.scope {
        AppScope::All => set
            .action_groups
            .iter()
            .map(|group| {
                json!({
                    "name": group.name,
                    "receivers": group.receivers.iter().map(|r| json!({"type": r.kind(), "name": r.name()})).collect::<Vec<_>>(),
                })
            })
            .collect(),
        AppScope::Only(_) => Vec::new(),
    };
    // The file and its errors name every app's rules: all-apps tokens only.
    let whole_file = matches!(access.scope, AppScope::All)
        .then_some(view)
        .flatten();
    Ok(Json(json!({
        "file": whole_file.map(|v| v.path.display().to_string()),
        "evaluating": view.is_some_and(AlertsView::leading),
        "reload_error": whole_file.and_then(AlertsView::reload_error),
        "action_groups": groups,
        "rules": rules,
    })))
}

fn alert_json(rule: Option<&Rule>, s: &SeriesState) -> Value {
    json!({
        "rule": s.rule,
        "severity": rule.map(|r| r.severity),
        "signal_type": rule.map(Rule::signal_type),
        "dimensions": dimensions_object(&s.dimensions),
        "condition": s.condition(),
        "value": s.value,
        "fired_value": s.fired_value,
        "threshold": rule.map(|r| r.threshold),
        "operator": rule.map(|r| r.operator.name()),
        "alert_id": s.alert_id,
        "fired": s.fired_ns.map(format_instant),
        "resolved": s.resolved_ns.map(format_instant),
        "evaluated": format_instant(s.evaluated_ns),
        "recent": s.recent,
    })
}

/// The alert series `scope` may see (of `rule`, in `condition`), each with its rule when the
/// rule is still in the file.
pub async fn visible_alerts(
    state: &ApiState,
    scope: &AppScope,
    rule: Option<&str>,
    condition: Option<&str>,
) -> Result<Vec<(Option<Rule>, SeriesState)>, ApiError> {
    if let Some(c) = condition
        && !["Fired", "Resolved", "OK", "NoData"].contains(&c)
    {
        return Err(ApiError::invalid(
            "condition",
            "must be Fired, Resolved, OK or NoData",
        ));
    }
    let set = rules_in_force(state);
    let mut visible = Vec::new();
    for row in state.store.alert_states().await? {
        if rule.is_some_and(|r| r != row.rule) {
            continue;
        }
        let of = set.rules.iter().find(|r| r.name == row.rule);
        let allowed = match of {
            Some(of) => self::visible(scope, of),
            None => matches!(scope, AppScope::All),
        };
        let Ok(series) = serde_json::from_str::<SeriesState>(&row.body) else {
            continue;
        };
        if allowed && condition.is_none_or(|c| c == series.condition()) {
            visible.push((of.cloned(), series));
        }
    }
    Ok(visible)
}

/// The rules in force that `scope` may see.
pub fn visible_rules(state: &ApiState, scope: &AppScope) -> Vec<Rule> {
    rules_in_force(state)
        .rules
        .iter()
        .filter(|rule| visible(scope, rule))
        .cloned()
        .collect()
}

/// History events `scope` may see, newest first.
pub async fn visible_history(
    state: &ApiState,
    scope: &AppScope,
    range: crate::reads::TimeRange,
    rule: Option<&str>,
    limit: usize,
) -> Result<Vec<crate::reads::alert_records::AlertEventRow>, ApiError> {
    let mut rules = match scope {
        AppScope::All => None,
        AppScope::Only(_) => Some(
            visible_rules(state, scope)
                .into_iter()
                .map(|rule| rule.name)
                .collect::<Vec<_>>(),
        ),
    };
    if let Some(only) = rule {
        rules = match rules {
            Some(names) => Some(names.into_iter().filter(|n| n == only).collect()),
            None => Some(vec![only.to_owned()]),
        };
    }
    Ok(state
        .store
        .alert_history(&HistoryQuery {
            rules,
            from_ns: range.from_ns,
            to_ns: range.to_ns,
            limit,
        })
        .await?)
}

pub async fn alerts(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(raw.as_deref(), ALERTS_PARAMS, crate::clock::now_ns())?;
    let rows = visible_alerts(
        &state,
        &access.scope,
        params.get("rule"),
        params.get("condition"),
    )
    .await?;
    let answer: Vec<Value> = rows
        .iter()
        .map(|(rule, series)| alert_json(rule.as_ref(), series))
        .collect();
    Ok(Json(json!({
        "evaluating": state.alerts.as_ref().is_some_and(|v| v.leading()),
        "alerts": answer,
    })))
}

pub async fn history(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(raw.as_deref(), HISTORY_PARAMS, crate::clock::now_ns())?;
    let range = params.range()?;
    let limit = params.limit(200, 10_000)?;
    let events = visible_history(&state, &access.scope, range, params.get("rule"), limit).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|event| {
            json!({
                "time": format_instant(event.time_ns),
                "rule": event.rule,
                "dimensions": dimensions_object(&dimensions_of(&event.series)),
                "kind": event.kind,
                "details": serde_json::from_str::<Value>(&event.body).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({
        "from": format_instant(range.from_ns),
        "to": format_instant(range.to_ns),
        "events": events,
    })))
}

//! The state machine of one alert series (one rule, one set of dimension values): each
//! evaluation adds a breach or not to the last N-of-M window; the series fires when enough
//! breach and, with auto-resolve, resolves when they no longer do. Pure: time and alert ids
//! come from the caller.

use serde::{Deserialize, Serialize};

use super::rules::{NoData, Rule};

/// Where one series of one rule stands. Stored as JSON, so a restart resumes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    pub rule: String,
    /// The rule's dimension names and this series' values, in the rule's order.
    pub dimensions: Vec<(String, String)>,
    pub firing: bool,
    /// Names one firing, from fired to resolved; a later firing gets a new one.
    pub alert_id: Option<String>,
    pub fired_ns: Option<i64>,
    pub resolved_ns: Option<i64>,
    /// Whether each of the last evaluations breached, oldest first.
    pub recent: Vec<bool>,
    /// The latest measured value (`None` when the latest evaluation found none).
    pub value: Option<f64>,
    /// The value that made it fire.
    pub fired_value: Option<f64>,
    pub evaluated_ns: i64,
}

impl SeriesState {
    /// The key the store keeps the series under: its dimension values as JSON.
    pub fn key(&self) -> String {
        series_key(&self.dimensions)
    }

    /// Azure's monitor condition, with `OK` for a series that never fired and `NoData` for
    /// one whose latest evaluation found nothing.
    pub fn condition(&self) -> &'static str {
        match (self.firing, self.resolved_ns, self.value) {
            (true, _, _) => "Fired",
            (false, _, None) => "NoData",
            (false, Some(_), _) => "Resolved",
            (false, None, _) => "OK",
        }
    }

    fn breaches(&self) -> usize {
        self.recent.iter().filter(|b| **b).count()
    }
}

pub fn series_key(dimensions: &[(String, String)]) -> String {
    if dimensions.is_empty() {
        return String::new();
    }
    serde_json::to_string(dimensions).unwrap_or_default()
}

/// The dimension pairs a [`series_key`] was made of (none for a key that is not one).
pub fn dimensions_of(key: &str) -> Vec<(String, String)> {
    serde_json::from_str(key).unwrap_or_default()
}

/// A firing or a resolution: what notifications are sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Change {
    Fired,
    Resolved,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Fired => "Fired",
            Change::Resolved => "Resolved",
        }
    }
}

/// What one evaluation of a rule did.
#[derive(Debug, Default, PartialEq)]
pub struct Evaluated {
    /// Every series the rule still tracks, in its new state.
    pub states: Vec<SeriesState>,
    /// Series no longer tracked (not firing, no breach left, no data): their keys.
    pub forgotten: Vec<String>,
    /// The firings and resolutions, with the state after each.
    pub changes: Vec<(Change, SeriesState)>,
}

/// One series' measured value in an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub dimensions: Vec<(String, String)>,
    pub value: f64,
}

/// A series' prior state (if any), its dimensions and this evaluation's value (if any).
type Input = (Option<SeriesState>, Vec<(String, String)>, Option<f64>);

/// Applies one evaluation's observations at `now_ns` to the rule's prior series. A prior
/// series with no observation, or a rule without dimensions that observed nothing, has no
/// data this time.
pub fn evaluate(
    rule: &Rule,
    prior: Vec<SeriesState>,
    observations: Vec<Observation>,
    now_ns: i64,
    new_alert_id: &mut dyn FnMut() -> String,
) -> Evaluated {
    let mut prior: Vec<Option<SeriesState>> = prior.into_iter().map(Some).collect();
    let mut inputs: Vec<Input> = Vec::new();
    for observation in observations {
        let key = series_key(&observation.dimensions);
        let earlier = prior
            .iter_mut()
            .find(|p| p.as_ref().is_some_and(|p| p.key() == key))
            .and_then(Option::take);
        // NaN compares false with everything: it is no data, not a non-breach.
        let value = Some(observation.value).filter(|v| !v.is_nan());
        inputs.push((earlier, observation.dimensions, value));
    }
    for earlier in prior.into_iter().flatten() {
        let dimensions = earlier.dimensions.clone();
        inputs.push((Some(earlier), dimensions, None));
    }
    if inputs.is_empty() && rule.dimensions.is_empty() {
        inputs.push((None, Vec::new(), None));
    }
    let mut evaluated = Evaluated::default();
    for (earlier, dimensions, value) in inputs {
        step(
            rule,
            earlier,
            dimensions,
            value,
            now_ns,
            new_alert_id,
            &mut evaluated,
        );
    }
    evaluated
}

fn step(
    rule: &Rule,
    earlier: Option<SeriesState>,
    dimensions: Vec<(String, String)>,
    value: Option<f64>,
    now_ns: i64,
    new_alert_id: &mut dyn FnMut() -> String,
    out: &mut Evaluated,
) {
    let breach = match value {
        Some(value) => Some(rule.operator.breaches(value, rule.threshold)),
        None => match rule.no_data {
            NoData::Ok => Some(false),
            NoData::Alerting => Some(true),
            NoData::Keep => None,
        },
    };
    let mut state = earlier.unwrap_or_else(|| SeriesState {
        rule: rule.name.clone(),
        dimensions,
        firing: false,
        alert_id: None,
        fired_ns: None,
        resolved_ns: None,
        recent: Vec::new(),
        value: None,
        fired_value: None,
        evaluated_ns: now_ns,
    });
    state.rule = rule.name.clone();
    state.value = value;
    state.evaluated_ns = now_ns;
    let window = rule.failing_periods.evaluations as usize;
    if let Some(breach) = breach {
        state.recent.push(breach);
    }
    if state.recent.len() > window {
        let excess = state.recent.len() - window;
        state.recent.drain(..excess);
    }
    let failing = state.breaches() >= rule.failing_periods.violations as usize;
    if failing && !state.firing {
        state.firing = true;
        state.alert_id = Some(new_alert_id());
        state.fired_ns = Some(now_ns);
        state.resolved_ns = None;
        state.fired_value = value;
        out.changes.push((Change::Fired, state.clone()));
    } else if !failing && state.firing && rule.auto_resolve && breach.is_some() {
        state.firing = false;
        state.resolved_ns = Some(now_ns);
        out.changes.push((Change::Resolved, state.clone()));
    }
    // A dimension value that is gone is forgotten; a rule without dimensions keeps its one
    // series so the API shows it as NoData.
    let gone = value.is_none() && !state.dimensions.is_empty();
    if gone && !state.firing && state.breaches() == 0 && breach.is_some() {
        out.forgotten.push(state.key());
        return;
    }
    out.states.push(state);
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

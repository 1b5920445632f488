//! The alert rules file: action groups and rules in Azure's vocabulary, parsed and checked
//! whole, so a bad file is refused with the line at fault and never half-applied.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::reads::TimeRange;
use crate::reads::metric_series::Aggregation;

use super::receivers::check_receiver;
pub use super::receivers::{ActionGroup, Receiver};

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the alert rules file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("alert rules file, line {line}: {message}")]
    Invalid { line: usize, message: String },
}

/// How a measured value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Equal,
}

impl Operator {
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::GreaterThan => value > threshold,
            Operator::GreaterThanOrEqual => value >= threshold,
            Operator::LessThan => value < threshold,
            Operator::LessThanOrEqual => value <= threshold,
            Operator::Equal => value == threshold,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operator::GreaterThan => "GreaterThan",
            Operator::GreaterThanOrEqual => "GreaterThanOrEqual",
            Operator::LessThan => "LessThan",
            Operator::LessThanOrEqual => "LessThanOrEqual",
            Operator::Equal => "Equal",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Operator::GreaterThan => ">",
            Operator::GreaterThanOrEqual => "≥",
            Operator::LessThan => "<",
            Operator::LessThanOrEqual => "≤",
            Operator::Equal => "=",
        }
    }
}

/// What an evaluation that finds no value for a series counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoData {
    /// Not breaching (Azure's behaviour: a dimension value that is gone resolves).
    #[default]
    Ok,
    /// Breaching: silence is itself the trouble (a heartbeat that stopped).
    Alerting,
    /// Not counted: the series keeps its state until data comes back.
    Keep,
}

/// Fire when at least `violations` of the last `evaluations` breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailingPeriods {
    pub evaluations: u32,
    pub violations: u32,
}

impl Default for FailingPeriods {
    fn default() -> Self {
        FailingPeriods {
            evaluations: 1,
            violations: 1,
        }
    }
}

/// What a rule measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Condition {
    /// A KQL query over the window; each row is one series (its `dimensions` columns) and
    /// its value is the `measure` column (or the one numeric column that is not a dimension).
    Log {
        query: String,
        measure: Option<String>,
    },
    /// A `customMetrics` name aggregated over the window, one series per `dimensions` value.
    Metric {
        name: String,
        #[serde(serialize_with = "aggregation_name")]
        aggregation: Aggregation,
        filters: BTreeMap<String, String>,
    },
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub severity: u8,
    pub condition: Condition,
    pub operator: Operator,
    pub threshold: f64,
    #[serde(serialize_with = "seconds")]
    pub window: Duration,
    #[serde(serialize_with = "seconds")]
    pub frequency: Duration,
    pub failing_periods: FailingPeriods,
    pub dimensions: Vec<String>,
    pub auto_resolve: bool,
    pub no_data: NoData,
    pub action_groups: Vec<String>,
    /// The one app whose telemetry the rule reads; `None` reads every app.
    pub app: Option<String>,
    /// The line of the rule's entry in the file.
    pub line: usize,
}

impl Rule {
    /// The time range an evaluation at `now_ns` reads.
    pub fn window_ending(&self, now_ns: i64) -> TimeRange {
        let window_ns = i64::try_from(self.window.as_nanos()).unwrap_or(i64::MAX);
        TimeRange {
            from_ns: now_ns.saturating_sub(window_ns),
            to_ns: now_ns,
        }
    }

    pub fn signal_type(&self) -> &'static str {
        match self.condition {
            Condition::Log { .. } => "Log",
            Condition::Metric { .. } => "Metric",
        }
    }
}

fn aggregation_name<S: serde::Serializer>(a: &Aggregation, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.api_name())
}

fn seconds<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(duration.as_secs_f64())
}

/// A whole rules file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleSet {
    pub action_groups: Vec<ActionGroup>,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn action_group(&self, name: &str) -> Option<&ActionGroup> {
        self.action_groups.iter().find(|g| g.name == name)
    }

    /// Every receiver of the rule's action groups; one that two groups list alike, once.
    pub fn receivers_of<'a>(&'a self, rule: &'a Rule) -> impl Iterator<Item = &'a Receiver> {
        let mut seen: Vec<&Receiver> = Vec::new();
        rule.action_groups
            .iter()
            .filter_map(|name| self.action_group(name))
            .flat_map(|group| group.receivers.iter())
            .filter(move |receiver| {
                let first = !seen.contains(receiver);
                seen.push(receiver);
                first
            })
    }

    pub fn has_email(&self) -> bool {
        self.action_groups
            .iter()
            .flat_map(|g| &g.receivers)
            .any(|r| matches!(r, Receiver::Email { .. }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    action_groups: Vec<ActionGroup>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    #[serde(default)]
    description: String,
    severity: u8,
    query: Option<String>,
    measure: Option<String>,
    metric: Option<String>,
    aggregation: Option<String>,
    #[serde(default)]
    filters: BTreeMap<String, String>,
    operator: Operator,
    threshold: f64,
    #[serde(deserialize_with = "duration")]
    window: Duration,
    #[serde(deserialize_with = "duration")]
    frequency: Duration,
    #[serde(default)]
    failing_periods: FailingPeriods,
    #[serde(default)]
    dimensions: Vec<String>,
    #[serde(default = "yes")]
    auto_resolve: bool,
    #[serde(default)]
    no_data: NoData,
    #[serde(default)]
    action_groups: Vec<String>,
    app: Option<String>,
}

fn yes() -> bool {
    true
}

/// `30s`, `5m`, `1h`, or a number of seconds.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Seconds(f64),
        Text(String),
    }
    let parsed = match Written::deserialize(d)? {
        Written::Seconds(s) => crate::config::parse_duration(&s.to_string()),
        Written::Text(text) => crate::config::parse_duration(&text),
    };
    parsed.map_err(serde::de::Error::custom)
}

/// The longest window a rule may read, and the longest time between evaluations.
const MAX_WINDOW: Duration = Duration::from_secs(31 * 86_400);
const MAX_FREQUENCY: Duration = Duration::from_secs(86_400);

/// Most evaluations a rule's failing periods may look back over.
const MAX_EVALUATIONS: u32 = 100;

/// Parses and checks a rules file's text.
pub fn parse(text: &str) -> Result<RuleSet, RulesError> {
    let file: RulesFile = yaml_serde::from_str(text).map_err(|error| RulesError::Invalid {
        line: error.location().map_or(1, |l| l.line()),
        message: error.to_string(),
    })?;
    let mut group_names = HashSet::new();
    for group in &file.action_groups {
        let line = line_of(text, &group.name, 0);
        if !group_names.insert(group.name.as_str()) {
            return Err(invalid(
                line,
                format!("action group {:?} is defined twice", group.name),
            ));
        }
        let mut receiver_names = HashSet::new();
        for receiver in &group.receivers {
            if !receiver_names.insert(receiver.name()) {
                return Err(invalid(
                    line,
                    format!(
                        "receiver {:?} is named twice in action group {:?}",
                        receiver.name(),
                        group.name
                    ),
                ));
            }
            check_receiver(receiver).map_err(|message| invalid(line, message))?;
        }
    }
    let mut rules = Vec::with_capacity(file.rules.len());
    let mut rule_names = HashSet::new();
    // Rule names are looked for below `rules:`, each below the one before.
    let mut search_from = text
        .lines()
        .position(|line| line.starts_with("rules:"))
        .unwrap_or(0);
    for entry in file.rules {
        let line = line_of(text, &entry.name, search_from);
        search_from = line;
        if !rule_names.insert(entry.name.clone()) {
            return Err(invalid(
                line,
                format!("rule {:?} is defined twice", entry.name),
            ));
        }
        let rule =
            check_rule(entry, line, &group_names).map_err(|message| invalid(line, message))?;
        rules.push(rule);
    }
    Ok(RuleSet {
        action_groups: file.action_groups,
        rules,
    })
}

fn invalid(line: usize, message: String) -> RulesError {
    RulesError::Invalid { line, message }
}

/// The first line after line `after` (1-based) whose `name:` is `name`.
fn line_of(text: &str, name: &str, after: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, line)| {
            line.split_once("name:")
                .is_some_and(|(_, rest)| rest.trim().trim_matches(['"', '\'']) == name)
        })
        .map_or(after.max(1), |(index, _)| index + 1)
}

fn check_rule(entry: RuleEntry, line: usize, groups: &HashSet<&str>) -> Result<Rule, String> {
    let name = &entry.name;
    if name.trim().is_empty() {
        return Err("a rule needs a name".into());
    }
    if entry.severity > 4 {
        return Err(format!(
            "rule {name:?}: severity {} is not 0–4",
            entry.severity
        ));
    }
    if !entry.threshold.is_finite() {
        return Err(format!("rule {name:?}: the threshold must be a number"));
    }
    if entry.window.is_zero() || entry.window > MAX_WINDOW {
        return Err(format!(
            "rule {name:?}: the window must be above zero and at most 31d"
        ));
    }
    if entry.frequency < Duration::from_secs(1) || entry.frequency > MAX_FREQUENCY {
        return Err(format!(
            "rule {name:?}: the frequency must be from 1s to 1d"
        ));
    }
    let periods = entry.failing_periods;
    if !(1..=MAX_EVALUATIONS).contains(&periods.evaluations)
        || !(1..=periods.evaluations).contains(&periods.violations)
    {
        return Err(format!(
            "rule {name:?}: failing_periods needs 1 ≤ violations ≤ evaluations ≤ {MAX_EVALUATIONS}"
        ));
    }
    if let Some(missing) = entry
        .action_groups
        .iter()
        .find(|g| !groups.contains(g.as_str()))
    {
        return Err(format!(
            "rule {name:?}: action group {missing:?} is not defined"
        ));
    }
    let condition = match (entry.query, entry.metric) {
        (Some(query), None) => {
            if entry.aggregation.is_some() || !entry.filters.is_empty() {
                return Err(format!(
                    "rule {name:?}: aggregation and filters belong to metric rules; a query aggregates itself"
                ));
            }
            if query.trim().is_empty() {
                return Err(format!("rule {name:?}: the query is empty"));
            }
            Condition::Log {
                query,
                measure: entry.measure,
            }
        }
        (None, Some(metric)) => {
            if entry.measure.is_some() {
                return Err(format!("rule {name:?}: measure belongs to query rules"));
            }
            Condition::Metric {
                name: metric,
                aggregation: metric_aggregation(name, entry.aggregation.as_deref())?,
                filters: entry.filters,
            }
        }
        _ => {
            return Err(format!(
                "rule {name:?} needs exactly one of `query` (a log alert) or `metric` (a metric alert)"
            ));
        }
    };
    Ok(Rule {
        name: entry.name,
        description: entry.description,
        severity: entry.severity,
        condition,
        operator: entry.operator,
        threshold: entry.threshold,
        window: entry.window,
        frequency: entry.frequency,
        failing_periods: periods,
        dimensions: entry.dimensions,
        auto_resolve: entry.auto_resolve,
        no_data: entry.no_data,
        action_groups: entry.action_groups,
        app: entry.app,
        line,
    })
}

/// Azure's names (`avg`, `min`, `max`, `total`, `count`) and the series API's others.
fn metric_aggregation(rule: &str, text: Option<&str>) -> Result<Aggregation, String> {
    match text.unwrap_or("avg") {
        "total" => Ok(Aggregation::Sum),
        other => Aggregation::parse(other).ok_or_else(|| {
            format!(
                "rule {rule:?}: aggregation {other:?} is not one of total, {}",
                Aggregation::NAMES
            )
        }),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
pub(crate) mod tests;

use super::*;
use crate::alerts::rules::{NoData, Operator, Rule};

/// A rule over `threshold` with N of M failing periods, split by `dimensions`.
pub fn rule(threshold: f64, evaluations: u32, violations: u32, dimensions: &[&str]) -> Rule {
    let text = format!(
        "rules:\n  - name: r\n    severity: 1\n    query: q\n    operator: GreaterThan\n    threshold: {threshold}\n    window: 1m\n    frequency: 1m\n    failing_periods: {{evaluations: {evaluations}, violations: {violations}}}\n    dimensions: [{}]\n",
        dimensions.join(", ")
    );
    crate::alerts::rules::parse(&text)
        .expect("valid")
        .rules
        .remove(0)
}

fn one(value: f64) -> Vec<Observation> {
    vec![Observation {
        dimensions: Vec::new(),
        value,
    }]
}

fn by_role(values: &[(&str, f64)]) -> Vec<Observation> {
    values
        .iter()
        .map(|(role, value)| Observation {
            dimensions: vec![("role".into(), (*role).into())],
            value: *value,
        })
        .collect()
}

/// Runs evaluations one minute apart and gives each one's changes.
struct Run {
    rule: Rule,
    states: Vec<SeriesState>,
    minute: i64,
    ids: u32,
}

impl Run {
    fn new(rule: Rule) -> Self {
        Run {
            rule,
            states: Vec::new(),
            minute: 0,
            ids: 0,
        }
    }

    fn step(&mut self, observations: Vec<Observation>) -> Vec<(Change, String)> {
        self.minute += 1;
        let mut ids = self.ids;
        let mut new_id = || {
            ids += 1;
            format!("alert-{ids}")
        };
        let evaluated = evaluate(
            &self.rule,
            std::mem::take(&mut self.states),
            observations,
            self.minute * 60_000_000_000,
            &mut new_id,
        );
        self.ids = ids;
        self.states = evaluated.states;
        evaluated
            .changes
            .into_iter()
            .map(|(change, state)| (change, state.key()))
            .collect()
    }

    fn changes(&mut self, observations: Vec<Observation>) -> Vec<Change> {
        self.step(observations)
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }
}

#[test]
fn fires_once_above_the_threshold_and_resolves_below() {
    let mut run = Run::new(rule(5.0, 1, 1, &[]));
    assert_eq!(run.changes(one(5.0)), []);
    assert_eq!(run.changes(one(7.3)), [Change::Fired]);
    assert_eq!(run.states[0].alert_id.as_deref(), Some("alert-1"));
    assert_eq!(run.states[0].fired_value, Some(7.3));
    assert_eq!(run.changes(one(9.0)), [], "still firing: no second firing");
    assert_eq!(run.states[0].condition(), "Fired");
    assert_eq!(run.changes(one(1.0)), [Change::Resolved]);
    assert_eq!(run.states[0].condition(), "Resolved");
    assert_eq!(run.states[0].resolved_ns, Some(4 * 60_000_000_000));
    assert_eq!(run.changes(one(8.0)), [Change::Fired]);
    assert_eq!(
        run.states[0].alert_id.as_deref(),
        Some("alert-2"),
        "a new firing gets a new id"
    );
}

#[test]
fn every_operator_decides_a_breach() {
    for (operator, value, fires) in [
        (Operator::GreaterThan, 5.0, false),
        (Operator::GreaterThanOrEqual, 5.0, true),
        (Operator::LessThan, 4.9, true),
        (Operator::LessThanOrEqual, 5.0, true),
        (Operator::Equal, 5.0, true),
        (Operator::Equal, 5.1, false),
    ] {
        let mut r = rule(5.0, 1, 1, &[]);
        r.operator = operator;
        let mut run = Run::new(r);
        let fired = run.changes(one(value)) == [Change::Fired];
        assert_eq!(fired, fires, "{operator:?} {value}");
    }
}

#[test]
fn n_of_m_failing_periods_fire_on_the_nth_breach_within_m() {
    let mut run = Run::new(rule(5.0, 4, 3, &[]));
    assert_eq!(run.changes(one(6.0)), []);
    assert_eq!(run.changes(one(1.0)), []);
    assert_eq!(run.changes(one(6.0)), []);
    assert_eq!(run.changes(one(6.0)), [Change::Fired], "3 of the last 4");
    assert_eq!(run.states[0].recent, [true, false, true, true]);
    // One good evaluation leaves 2 of the last 4: it resolves.
    assert_eq!(run.changes(one(1.0)), [Change::Resolved]);
    assert_eq!(run.states[0].recent, [false, true, true, false]);
    assert_eq!(
        run.changes(one(6.0)),
        [Change::Fired],
        "3 of the last 4 again"
    );

    let mut spaced = Run::new(rule(5.0, 3, 2, &[]));
    for value in [6.0, 1.0, 1.0, 6.0, 1.0, 1.0] {
        assert_eq!(
            spaced.changes(one(value)),
            [],
            "breaches 3 apart never meet 2 of 3"
        );
    }
}

#[test]
fn dimension_values_fire_and_resolve_apart() {
    let mut run = Run::new(rule(5.0, 1, 1, &["role"]));
    let changes = run.step(by_role(&[("api", 9.0), ("web", 1.0)]));
    assert_eq!(changes, [(Change::Fired, r#"[["role","api"]]"#.to_owned())]);
    let changes = run.step(by_role(&[("api", 9.0), ("web", 8.0)]));
    assert_eq!(changes, [(Change::Fired, r#"[["role","web"]]"#.to_owned())]);
    let changes = run.step(by_role(&[("api", 1.0), ("web", 8.0)]));
    assert_eq!(
        changes,
        [(Change::Resolved, r#"[["role","api"]]"#.to_owned())]
    );
    assert_eq!(run.states.len(), 2);
}

#[test]
fn without_auto_resolve_an_alert_stays_fired() {
    let mut r = rule(5.0, 1, 1, &[]);
    r.auto_resolve = false;
    let mut run = Run::new(r);
    assert_eq!(run.changes(one(9.0)), [Change::Fired]);
    assert_eq!(run.changes(one(1.0)), []);
    assert_eq!(run.changes(one(9.0)), [], "already fired: not again");
    assert!(run.states[0].firing);
}

#[test]
fn no_data_counts_as_configured() {
    // ok (the default): a gone dimension value resolves, then is forgotten.
    let mut run = Run::new(rule(5.0, 1, 1, &["role"]));
    assert_eq!(run.changes(by_role(&[("api", 9.0)])), [Change::Fired]);
    assert_eq!(run.changes(Vec::new()), [Change::Resolved]);
    assert!(
        run.states.is_empty(),
        "a resolved series without data is forgotten"
    );
    assert_eq!(run.changes(Vec::new()), []);

    // A rule without dimensions keeps its series, shown as NoData.
    let mut run = Run::new(rule(5.0, 1, 1, &[]));
    assert_eq!(run.changes(one(9.0)), [Change::Fired]);
    assert_eq!(run.changes(Vec::new()), [Change::Resolved]);
    assert_eq!(run.states[0].condition(), "NoData");

    // alerting: silence fires a rule without dimensions.
    let mut r = rule(5.0, 2, 2, &[]);
    r.no_data = NoData::Alerting;
    let mut run = Run::new(r);
    assert_eq!(run.changes(Vec::new()), []);
    assert_eq!(run.changes(Vec::new()), [Change::Fired]);
    assert_eq!(run.states[0].value, None);
    assert_eq!(
        run.changes(one(1.0)),
        [Change::Resolved],
        "1 of the last 2 breach"
    );

    // keep: evaluations without data do not count at all.
    let mut r = rule(5.0, 2, 2, &[]);
    r.no_data = NoData::Keep;
    let mut run = Run::new(r);
    assert_eq!(run.changes(one(9.0)), []);
    assert_eq!(run.changes(Vec::new()), []);
    assert_eq!(
        run.changes(one(9.0)),
        [Change::Fired],
        "the gap did not count"
    );
    assert_eq!(
        run.changes(Vec::new()),
        [],
        "a firing alert is kept through a gap"
    );
    assert!(run.states[0].firing);

    // a NaN measure is no data, not a non-breach.
    let mut run = Run::new(rule(5.0, 1, 1, &[]));
    assert_eq!(run.changes(one(9.0)), [Change::Fired]);
    let mut r = run.rule.clone();
    r.no_data = NoData::Keep;
    run.rule = r;
    assert_eq!(run.changes(one(f64::NAN)), []);
    assert!(run.states[0].firing);
}

#[test]
fn a_state_saved_as_json_resumes_where_it_was() {
    let mut run = Run::new(rule(5.0, 3, 2, &["role"]));
    run.changes(by_role(&[("api", 9.0)]));
    run.changes(by_role(&[("api", 9.0)]));
    let saved: Vec<String> = run
        .states
        .iter()
        .map(|s| serde_json::to_string(s).expect("json"))
        .collect();
    let mut resumed = Run::new(run.rule.clone());
    resumed.minute = run.minute;
    resumed.states = saved
        .iter()
        .map(|s| serde_json::from_str(s).expect("state"))
        .collect();
    assert!(resumed.states[0].firing);
    assert_eq!(
        resumed.changes(by_role(&[("api", 9.0)])),
        [],
        "not fired again"
    );
    assert_eq!(resumed.changes(by_role(&[("api", 1.0)])), []);
    assert_eq!(
        resumed.changes(by_role(&[("api", 1.0)])),
        [Change::Resolved]
    );
}

#[test]
fn a_shorter_failing_window_after_a_reload_trims_the_past() {
    let mut run = Run::new(rule(5.0, 5, 3, &[]));
    for value in [9.0, 9.0, 1.0, 1.0] {
        assert_eq!(run.changes(one(value)), []);
    }
    run.rule = rule(5.0, 2, 2, &[]);
    assert_eq!(
        run.changes(one(9.0)),
        [],
        "only the last 2 count now: 1 and 9"
    );
    assert_eq!(run.states[0].recent, [false, true]);
    assert_eq!(run.changes(one(9.0)), [Change::Fired]);
}

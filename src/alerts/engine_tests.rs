//! The evaluator on tokio's paused clock, with an in-memory store, scripted measurements and
//! recorded deliveries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::*;
use crate::alerts::condition::ConditionError;
use crate::alerts::notify::Delivery;
use crate::alerts::rules::{Receiver, parse};
use crate::alerts::state::Observation;

/// 2026-12-02T10:00:00Z.
const T0: i64 = 1_796_205_600_000_000_000;

#[derive(Default)]
struct MemoryStore {
    states: Mutex<BTreeMap<(String, String), String>>,
    events: Mutex<Vec<AlertEventRow>>,
    lease: Mutex<Option<(String, i64)>>,
    /// While set, the lease cannot be read (the store is down); each try is counted.
    lease_down: std::sync::atomic::AtomicBool,
    lease_tries: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    fn kinds(&self, rule: &str) -> Vec<String> {
        let events = self.events.lock().expect("lock");
        events
            .iter()
            .filter(|e| e.rule == rule)
            .map(|e| e.kind.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl AlertStore for MemoryStore {
    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError> {
        let states = self.states.lock().expect("lock");
        Ok(states
            .iter()
            .map(|((rule, series), body)| AlertStateRow {
                rule: rule.clone(),
                series: series.clone(),
                body: body.clone(),
            })
            .collect())
    }
    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError> {
        let mut states = self.states.lock().expect("lock");
        for row in rows {
            let key = (row.rule.clone(), row.series.clone());
            if row.body.is_empty() {
                states.remove(&key);
            } else {
                states.insert(key, row.body.clone());
            }
        }
        Ok(())
    }
    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError> {
        self.events.lock().expect("lock").extend_from_slice(events);
        Ok(())
    }
    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError> {
        use std::sync::atomic::Ordering;
        self.lease_tries.fetch_add(1, Ordering::SeqCst);
        if self.lease_down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down".into()));
        }
        let mut lease = self.lease.lock().expect("lock");
        match &*lease {
            Some((holder, expires)) if *holder != claim.holder && *expires > claim.now_ns => {
                Ok(false)
            }
            _ => {
                *lease = Some((claim.holder.clone(), claim.expires_ns()));
                Ok(true)
            }
        }
    }
    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError> {
        let mut lease = self.lease.lock().expect("lock");
        if lease
            .as_ref()
            .is_some_and(|(holder, _)| *holder == claim.holder)
        {
            *lease = None;
        }
        Ok(())
    }
}

/// Answers each rule with the value set for it; records who measured when.
#[derive(Default)]
struct Scripted {
    values: Mutex<HashMap<String, Result<Vec<Observation>, String>>>,
    calls: Mutex<Vec<(String, i64)>>,
}

impl Scripted {
    fn set(&self, rule: &str, value: f64) {
        self.values.lock().expect("lock").insert(
            rule.into(),
            Ok(vec![Observation {
                dimensions: Vec::new(),
                value,
            }]),
        );
    }
    fn fail(&self, rule: &str, message: &str) {
        self.values
            .lock()
            .expect("lock")
            .insert(rule.into(), Err(message.into()));
    }
    fn calls(&self, rule: &str) -> usize {
        let calls = self.calls.lock().expect("lock");
        calls.iter().filter(|(r, _)| r == rule).count()
    }
}

#[async_trait::async_trait]
impl Measure for Scripted {
    async fn measure(
        &self,
        rule: &Rule,
        window: TimeRange,
    ) -> Result<Vec<Observation>, ConditionError> {
        self.calls
            .lock()
            .expect("lock")
            .push((rule.name.clone(), window.to_ns));
        let values = self.values.lock().expect("lock");
        match values.get(&rule.name) {
            Some(Ok(observations)) => Ok(observations.clone()),
            Some(Err(message)) => Err(ConditionError::Shape(message.clone())),
            None => Ok(Vec::new()),
        }
    }
}

/// Records deliveries; the receiver named `slow` never answers.
#[derive(Default)]
struct Recorded {
    sent: Mutex<Vec<(String, String, Option<String>)>>,
}

impl Recorded {
    /// `(receiver, monitor condition)` of each delivery, in order.
    fn sent(&self) -> Vec<(String, String)> {
        let sent = self.sent.lock().expect("lock");
        sent.iter()
            .map(|(r, c, _)| (r.clone(), c.clone()))
            .collect()
    }
    fn alert_ids(&self) -> Vec<Option<String>> {
        let sent = self.sent.lock().expect("lock");
        sent.iter().map(|(_, _, id)| id.clone()).collect()
    }
}

#[async_trait::async_trait]
impl Deliver for Recorded {
    async fn deliver(&self, receiver: &Receiver, n: &Notification) -> Delivery {
        if receiver.name() == "slow" {
            tokio::time::sleep(Duration::from_secs(86_400)).await;
        }
        self.sent.lock().expect("lock").push((
            receiver.name().to_owned(),
            n.condition().to_owned(),
            n.state.alert_id.clone(),
        ));
        Delivery {
            attempts: 1,
            error: None,
        }
    }
}

const RULES: &str = r#"
action_groups:
  - name: ops
    receivers:
      - {type: webhook, name: hook, url: "http://127.0.0.1:9/hook"}
rules:
  - name: errors
    severity: 1
    query: "AppRequests | summarize count()"
    operator: GreaterThan
    threshold: 5
    window: 60s
    frequency: 60s
    action_groups: [ops]
"#;

struct Harness {
    store: Arc<MemoryStore>,
    measure: Arc<Scripted>,
    sent: Arc<Recorded>,
    publish: watch::Sender<Arc<RuleSet>>,
    view: Arc<AlertsView>,
}

impl Harness {
    fn new(rules: &str) -> Self {
        let set = parse(rules).expect("valid rules");
        let (publish, view) = watch::channel(Arc::new(set));
        Harness {
            store: Arc::default(),
            measure: Arc::default(),
            sent: Arc::default(),
            publish,
            view: Arc::new(AlertsView::new("rules.yaml".into(), view)),
        }
    }

    /// Starts an evaluator named `holder`; cancel the token to stop it.
    fn start(&self, holder: &str) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let start = Instant::now();
        let engine = Engine {
            store: Arc::clone(&self.store) as Arc<dyn AlertStore>,
            measure: Arc::clone(&self.measure) as Arc<dyn Measure>,
            sender: Arc::clone(&self.sent) as Arc<dyn Deliver>,
            view: Arc::clone(&self.view),
            rules: self.publish.subscribe(),
            holder: holder.into(),
            lease_ttl: Duration::from_secs(30),
            public_url: "http://tracehouse.test".into(),
            clock: Arc::new(move || T0 + i64::try_from(start.elapsed().as_nanos()).unwrap_or(0)),
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(engine.run(stop.clone()));
        (stop, task)
    }
}

/// Lets the evaluator run until `seconds` later on the paused clock.
async fn after(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

fn sent(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn evaluates_every_frequency_and_notifies_each_change_once() {
    let h = Harness::new(RULES);
    h.measure.set("errors", 9.0);
    let (stop, task) = h.start("a");
    after(1).await;
    assert_eq!(h.measure.calls("errors"), 1, "a new rule is due at once");
    assert_eq!(h.sent.sent(), sent(&[("hook", "Fired")]));
    after(60).await;
    assert_eq!(h.measure.calls("errors"), 2);
    assert_eq!(
        h.sent.sent().len(),
        1,
        "still firing: webhooks are not told again"
    );
    h.measure.set("errors", 1.0);
    after(60).await;
    assert_eq!(h.measure.calls("errors"), 3);
    assert_eq!(
        h.sent.sent(),
        sent(&[("hook", "Fired"), ("hook", "Resolved")])
    );
    let ids = h.sent.alert_ids();
    assert_eq!(ids[0], ids[1], "the resolution names the firing");
    assert_eq!(
        h.store.kinds("errors"),
        ["Fired", "NotificationSent", "Resolved", "NotificationSent"]
    );
    // The windows are the minute before each evaluation.
    let calls = h.measure.calls.lock().expect("lock").clone();
    assert_eq!(calls[1].1 - calls[0].1, 60_000_000_000);
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_of_a_firing_alert_neither_forgets_nor_fires_again() {
    let h = Harness::new(RULES);
    h.measure.set("errors", 9.0);
    let (stop, task) = h.start("first");
    after(1).await;
    stop.cancel();
    task.await.expect("stops");
    assert_eq!(h.sent.sent(), sent(&[("hook", "Fired")]));

    let (stop, task) = h.start("second");
    after(61).await;
    assert_eq!(h.measure.calls("errors"), 3, "resumed on schedule");
    assert_eq!(h.sent.sent().len(), 1, "not fired again after the restart");
    h.measure.set("errors", 0.0);
    after(60).await;
    assert_eq!(
        h.sent.sent(),
        sent(&[("hook", "Fired"), ("hook", "Resolved")])
    );
    let ids = h.sent.alert_ids();
    assert_eq!(ids[0], ids[1], "the same alert resolved");
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_reload_applies_changed_rules_and_forgets_removed_ones() {
    let two = format!(
        "{RULES}  - name: latency\n    severity: 2\n    query: q\n    operator: GreaterThan\n    threshold: 100\n    window: 5m\n    frequency: 5m\n    action_groups: [ops]\n"
    );
    let h = Harness::new(&two);
    h.measure.set("errors", 9.0);
    h.measure.set("latency", 500.0);
    let (stop, task) = h.start("a");
    after(1).await;
    assert_eq!(h.sent.sent().len(), 2);

    // Raise the errors threshold above the value, drop the latency rule, add a new one.
    let changed = RULES.replace("threshold: 5\n", "threshold: 50\n")
        + "  - name: saturation\n    severity: 3\n    query: q\n    operator: GreaterThan\n    threshold: 1\n    window: 1m\n    frequency: 10s\n    action_groups: [ops]\n";
    h.measure.set("saturation", 2.0);
    h.publish
        .send_replace(Arc::new(parse(&changed).expect("valid")));
    after(1).await;
    assert_eq!(h.measure.calls("saturation"), 1, "a new rule runs at once");
    assert_eq!(
        h.store.kinds("latency"),
        ["Fired", "NotificationSent", "RuleRemoved"]
    );
    assert!(
        !h.store
            .states
            .lock()
            .expect("lock")
            .keys()
            .any(|(rule, _)| rule == "latency"),
        "a removed rule's series are forgotten"
    );
    after(60).await;
    let kinds = h.store.kinds("errors");
    assert_eq!(kinds.last().map(String::as_str), Some("NotificationSent"));
    assert!(
        kinds.contains(&"Resolved".to_owned()),
        "{kinds:?}: the new threshold resolved it"
    );
    assert_eq!(h.measure.calls("errors"), 2, "the schedule was kept");

    // Split by a dimension now: the old series starts afresh.
    let split = changed.replace(
        "    threshold: 50\n",
        "    threshold: 50\n    dimensions: [role]\n",
    );
    h.publish
        .send_replace(Arc::new(parse(&split).expect("valid")));
    after(1).await;
    assert_eq!(
        h.store.kinds("errors").last().map(String::as_str),
        Some("DimensionsChanged")
    );
    assert!(
        !h.store
            .states
            .lock()
            .expect("lock")
            .keys()
            .any(|(rule, _)| rule == "errors"),
        "the series without dimensions is gone"
    );
    assert!(h.measure.calls("saturation") >= 6, "every 10 s");
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_slow_receiver_delays_neither_the_others_nor_the_next_evaluation() {
    let rules = RULES.replace(
        "      - {type: webhook, name: hook, url: \"http://127.0.0.1:9/hook\"}\n",
        "      - {type: webhook, name: slow, url: \"http://127.0.0.1:9/slow\"}\n      - {type: webhook, name: hook, url: \"http://127.0.0.1:9/hook\"}\n",
    );
    let h = Harness::new(&rules);
    h.measure.set("errors", 9.0);
    let (stop, task) = h.start("a");
    after(1).await;
    assert_eq!(h.sent.sent(), sent(&[("hook", "Fired")]));
    h.measure.set("errors", 0.0);
    after(60).await;
    assert_eq!(h.measure.calls("errors"), 2);
    assert_eq!(
        h.sent.sent(),
        sent(&[("hook", "Fired"), ("hook", "Resolved")])
    );
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn one_instance_evaluates_and_another_takes_over_when_it_stops_renewing() {
    let h = Harness::new(RULES);
    h.measure.set("errors", 9.0);
    let (stop_a, task_a) = h.start("a");
    after(1).await;
    let (stop_b, task_b) = h.start("b");
    after(120).await;
    assert_eq!(h.measure.calls("errors"), 3, "only the holder evaluates");
    assert!(h.view.leading(), "some instance leads");
    // The holder dies without releasing the lease: the other waits it out, then resumes the
    // firing alert without firing it again.
    task_a.abort();
    let _ = task_a.await;
    let before = h.measure.calls("errors");
    after(10).await;
    assert_eq!(
        h.measure.calls("errors"),
        before,
        "the lease has not lapsed yet"
    );
    after(60).await;
    assert!(
        h.measure.calls("errors") > before,
        "the other instance took over"
    );
    assert_eq!(h.sent.sent(), sent(&[("hook", "Fired")]));
    stop_a.cancel();
    stop_b.cancel();
    task_b.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_failing_evaluation_keeps_the_state_and_is_recorded_once() {
    let h = Harness::new(RULES);
    h.measure.set("errors", 9.0);
    let (stop, task) = h.start("a");
    after(1).await;
    h.measure
        .fail("errors", "the query answers no column \"count_\"");
    after(180).await;
    assert_eq!(
        h.store.kinds("errors"),
        ["Fired", "NotificationSent", "EvaluationFailed"]
    );
    let (_, message) = h.view.error_of("errors").expect("error shown");
    assert!(message.contains("count_"), "{message}");
    assert_eq!(h.sent.sent().len(), 1, "no resolution from a failure");
    h.measure.set("errors", 1.0);
    after(60).await;
    assert!(h.view.error_of("errors").is_none());
    assert_eq!(
        h.sent.sent(),
        sent(&[("hook", "Fired"), ("hook", "Resolved")])
    );
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_store_that_cannot_renew_the_lease_stops_evaluation_without_spinning() {
    use std::sync::atomic::Ordering;
    let h = Harness::new(RULES);
    h.measure.set("errors", 9.0);
    let (stop, task) = h.start("a");
    after(1).await;
    h.store.lease_down.store(true, Ordering::SeqCst);
    let tries = h.store.lease_tries.load(Ordering::SeqCst);
    let calls = h.measure.calls("errors");
    after(120).await;
    let retried = h.store.lease_tries.load(Ordering::SeqCst) - tries;
    assert!(
        (3..=15).contains(&retried),
        "{retried} lease tries in 2 minutes"
    );
    assert!(
        h.measure.calls("errors") - calls <= 25,
        "evaluation goes on only while the lease is fresh"
    );
    assert!(!h.view.leading(), "the lapsed lease is given up");
    h.store.lease_down.store(false, Ordering::SeqCst);
    after(30).await;
    assert!(h.view.leading(), "and taken again");
    assert_eq!(h.sent.sent().len(), 1, "no second firing after the outage");
    stop.cancel();
    task.await.expect("stops");
}

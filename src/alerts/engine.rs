//! The evaluator: holds the lease, evaluates each rule every `frequency` over its window,
//! keeps every series' state in the store before telling anyone, and hands notifications to
//! one task per receiver.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::AlertsView;
use super::condition::{ConditionError, Measure};
use super::dispatch::Dispatcher;
use super::notify::{Deliver, Sender};
use super::payload::{Notification, Reason, investigation_link};
use super::rules::{Rule, RuleSet};
use super::state::{self, Change, SeriesState};
use crate::reads::TimeRange;
use crate::reads::alert_records::{AlertEventRow, AlertStateRow, LeaseClaim};
use crate::store::{Store, StoreError};

/// The lease every instance sharing a store competes for.
const LEASE_NAME: &str = "alert-evaluator";

/// Wall-clock nanoseconds; tests drive it from tokio's paused clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the evaluator keeps in the store: series states, history and the lease.
#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError>;
    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError>;
    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError>;
    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError>;
    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError>;
}

/// The telemetry store as the evaluator's.
pub struct StoreBacked(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl AlertStore for StoreBacked {
    async fn alert_states(&self) -> Result<Vec<AlertStateRow>, StoreError> {
        self.0.alert_states().await
    }
    async fn save_alert_states(&self, rows: &[AlertStateRow]) -> Result<(), StoreError> {
        self.0.save_alert_states(rows).await
    }
    async fn append_alert_events(&self, events: &[AlertEventRow]) -> Result<(), StoreError> {
        self.0.append_alert_events(events).await
    }
    async fn take_lease(&self, claim: &LeaseClaim) -> Result<bool, StoreError> {
        self.0.take_lease(claim).await
    }
    async fn release_lease(&self, claim: &LeaseClaim) -> Result<(), StoreError> {
        self.0.release_lease(claim).await
    }
}

pub struct Engine {
    pub store: Arc<dyn AlertStore>,
    pub measure: Arc<dyn Measure>,
    pub sender: Arc<dyn Deliver>,
    pub view: Arc<AlertsView>,
    pub rules: watch::Receiver<Arc<RuleSet>>,
    /// This instance's name in the lease.
    pub holder: String,
    pub lease_ttl: Duration,
    /// The web UI's address, for links in notifications.
    pub public_url: String,
    pub clock: Clock,
}

/// What the running evaluator keeps between evaluations.
struct Running {
    engine: Engine,
    dispatcher: Dispatcher,
    rules: Arc<RuleSet>,
    /// Each rule's series, as last saved.
    states: HashMap<String, Vec<SeriesState>>,
    due: HashMap<String, Instant>,
    leading: bool,
    lease_confirmed: Option<Instant>,
    /// The latest evaluation error per rule, so a lasting failure is recorded once.
    failing: HashMap<String, String>,
}

impl Engine {
    pub async fn run(self, shutdown: CancellationToken) {
        let rules = Arc::clone(&self.rules.borrow());
        let dispatcher = Dispatcher::new(
            Arc::clone(&self.sender),
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
        );
        let mut running = Running {
            dispatcher,
            engine: self,
            rules,
            states: HashMap::new(),
            due: HashMap::new(),
            leading: false,
            lease_confirmed: None,
            failing: HashMap::new(),
        };
        running.run(shutdown).await;
    }
}

impl Running {
    async fn run(&mut self, shutdown: CancellationToken) {
        let renew_every = self.engine.lease_ttl / 3;
        let mut lease_due = Instant::now();
        loop {
            if Instant::now() >= lease_due {
                self.renew_lease().await;
                lease_due = Instant::now() + renew_every;
            }
            let published = Arc::clone(&self.engine.rules.borrow_and_update());
            if !Arc::ptr_eq(&published, &self.rules) {
                self.apply_rules(published).await;
            }
            if self.leading {
                self.evaluate_due().await;
            }
            // Without a fresh lease (the store failing to renew it) nothing is due before the
            // next renewal: rules that are late wait for it rather than spin.
            let mut next = lease_due;
            if self.lease_fresh()
                && let Some(due) = self.due.values().min()
            {
                next = next.min(*due);
            }
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                changed = self.engine.rules.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = shutdown.cancelled() => break,
            }
        }
        if self.lease_confirmed.is_some() {
            let claim = self.claim();
            if let Err(error) = self.engine.store.release_lease(&claim).await {
                tracing::warn!(%error, "could not release the alert evaluator lease");
            }
        }
    }

    fn claim(&self) -> LeaseClaim {
        LeaseClaim {
            name: LEASE_NAME.into(),
            holder: self.engine.holder.clone(),
            now_ns: (self.engine.clock)(),
            ttl_ns: i64::try_from(self.engine.lease_ttl.as_nanos()).unwrap_or(i64::MAX),
        }
    }

    async fn renew_lease(&mut self) {
        // The lease runs from the claim's time, not from when the store answered.
        let claimed_at = Instant::now();
        let claim = self.claim();
        match self.engine.store.take_lease(&claim).await {
            Ok(true) => {
                self.lease_confirmed = Some(claimed_at);
                if !self.leading {
                    self.take_over().await;
                }
            }
            Ok(false) => {
                if self.leading {
                    tracing::info!("another instance holds the alert evaluator lease now");
                }
                self.leading = false;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot renew the alert evaluator lease");
                // Past the lease's time another instance may hold it: stop evaluating.
                let lapsed = self
                    .lease_confirmed
                    .is_none_or(|at| at.elapsed() >= self.engine.lease_ttl);
                if lapsed {
                    self.leading = false;
                }
            }
        }
        self.engine.view.set_leading(self.leading);
    }

    /// Starts evaluating: the states the previous holder (or this instance before a restart)
    /// saved are where each series resumes.
    async fn take_over(&mut self) {
        match self.engine.store.alert_states().await {
            Ok(rows) => {
                self.states.clear();
                for row in rows {
                    match serde_json::from_str::<SeriesState>(&row.body) {
                        Ok(state) => self.states.entry(row.rule).or_default().push(state),
                        Err(error) => {
                            tracing::warn!(rule = %row.rule, %error, "unreadable alert state skipped")
                        }
                    }
                }
                self.leading = true;
                self.due.clear();
                let rules = Arc::clone(&self.rules);
                self.apply_rules(rules).await;
                tracing::info!(holder = %self.engine.holder, "evaluating alert rules");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read alert states; not evaluating yet");
            }
        }
    }

    /// Puts a new rule set in force: new rules are due now, changed ones keep their series
    /// and schedule (a shorter frequency takes effect at once), removed ones are forgotten.
    async fn apply_rules(&mut self, rules: Arc<RuleSet>) {
        let now = Instant::now();
        for rule in &rules.rules {
            let due = self.due.entry(rule.name.clone()).or_insert(now);
            let previous = self.rules.rules.iter().find(|r| r.name == rule.name);
            if let Some(previous) = previous
                && rule.frequency < previous.frequency
            {
                *due = (*due).min(now + rule.frequency);
            }
        }
        self.due
            .retain(|name, _| rules.rules.iter().any(|r| &r.name == name));
        if self.leading {
            // Series of a removed rule, or of one split by other dimensions than the series
            // were (also when the file changed while another instance evaluated), are
            // forgotten.
            let stale: Vec<(String, &'static str)> = self
                .states
                .iter()
                .filter_map(
                    |(name, series)| match rules.rules.iter().find(|r| &r.name == name) {
                        None => Some((name.clone(), "RuleRemoved")),
                        Some(rule) => series
                            .iter()
                            .any(|s| !s.dimensions.iter().map(|(k, _)| k).eq(&rule.dimensions))
                            .then(|| (name.clone(), "DimensionsChanged")),
                    },
                )
                .collect();
            for (name, kind) in stale {
                let states = self.states.remove(&name).unwrap_or_default();
                let rows: Vec<AlertStateRow> = states
                    .iter()
                    .map(|s| AlertStateRow {
                        rule: name.clone(),
                        series: s.key(),
                        body: String::new(),
                    })
                    .collect();
                let event = self.event(&name, "", kind, json!({"series": rows.len()}));
                if let Err(error) = self.save(&rows, vec![event]).await {
                    tracing::warn!(rule = %name, %error, "cannot forget a removed rule's alerts");
                }
            }
        }
        self.rules = rules;
    }

    /// Whether the lease was confirmed recently enough that no other instance can hold it
    /// yet: within two thirds of its life, leaving the rest as margin for the store's answer.
    fn lease_fresh(&self) -> bool {
        self.leading
            && self
                .lease_confirmed
                .is_some_and(|at| at.elapsed() < self.engine.lease_ttl * 2 / 3)
    }

    async fn evaluate_due(&mut self) {
        let now = Instant::now();
        let due: Vec<Arc<Rule>> = self
            .rules
            .rules
            .iter()
            .filter(|rule| self.due.get(&rule.name).is_none_or(|d| *d <= now))
            .map(|rule| Arc::new(rule.clone()))
            .collect();
        for rule in due {
            // A long pass renews as it goes rather than let the lease lapse under it.
            if self
                .lease_confirmed
                .is_none_or(|at| at.elapsed() >= self.engine.lease_ttl / 3)
            {
                self.renew_lease().await;
            }
            if !self.lease_fresh() {
                return;
            }
            self.due
                .insert(rule.name.clone(), Instant::now() + rule.frequency);
            self.evaluate(rule).await;
        }
    }

    fn event(
        &self,
        rule: &str,
        series: &str,
        kind: &str,
        body: serde_json::Value,
    ) -> AlertEventRow {
        AlertEventRow {
            time_ns: (self.engine.clock)(),
            rule: rule.to_owned(),
            series: series.to_owned(),
            kind: kind.to_owned(),
            body: body.to_string(),
        }
    }

    async fn save(
        &self,
        rows: &[AlertStateRow],
        events: Vec<AlertEventRow>,
    ) -> Result<(), StoreError> {
        self.engine.store.save_alert_states(rows).await?;
        self.engine.store.append_alert_events(&events).await
    }

    async fn evaluate(&mut self, rule: Arc<Rule>) {
        let now_ns = (self.engine.clock)();
        let window = rule.window_ending(now_ns);
        // A third of the lease: a slow query must not outlive the lease it runs under.
        let limit = self.engine.lease_ttl / 3;
        let measured = tokio::time::timeout(limit, self.engine.measure.measure(&rule, window))
            .await
            .unwrap_or(Err(ConditionError::TimedOut(limit)));
        let observations = match measured {
            Ok(observations) => observations,
            Err(error) => {
                let message = error.public_message();
                tracing::warn!(rule = %rule.name, error = %error, "alert rule evaluation failed");
                self.engine
                    .view
                    .set_error(&rule.name, Some((now_ns, message.clone())));
                if self.failing.get(&rule.name) != Some(&message) {
                    let event = self.event(
                        &rule.name,
                        "",
                        "EvaluationFailed",
                        json!({"error": message}),
                    );
                    if let Err(error) = self.engine.store.append_alert_events(&[event]).await {
                        tracing::warn!(%error, "cannot record an alert evaluation failure");
                    }
                    self.failing.insert(rule.name.clone(), message);
                }
                return;
            }
        };
        self.failing.remove(&rule.name);
        self.engine.view.set_error(&rule.name, None);
        let prior = self.states.get(&rule.name).cloned().unwrap_or_default();
        let was_firing: Vec<String> = prior
            .iter()
            .filter(|s| s.firing)
            .map(SeriesState::key)
            .collect();
        let mut new_id = || uuid::Uuid::new_v4().to_string();
        let evaluated = state::evaluate(&rule, prior, observations, now_ns, &mut new_id);
        let mut rows: Vec<AlertStateRow> = evaluated
            .states
            .iter()
            .map(|s| AlertStateRow {
                rule: rule.name.clone(),
                series: s.key(),
                body: serde_json::to_string(s).unwrap_or_default(),
            })
            .collect();
        rows.extend(evaluated.forgotten.iter().map(|key| AlertStateRow {
            rule: rule.name.clone(),
            series: key.clone(),
            body: String::new(),
        }));
        let events: Vec<AlertEventRow> = evaluated
            .changes
            .iter()
            .map(|(change, s)| {
                self.event(
                    &rule.name,
                    &s.key(),
                    change.name(),
                    json!({
                        "alertId": s.alert_id,
                        "value": s.value,
                        "threshold": rule.threshold,
                        "operator": rule.operator.name(),
                        "dimensions": crate::alerts::dimensions_object(&s.dimensions),
                        "windowStart": crate::time::format_instant(window.from_ns),
                        "windowEnd": crate::time::format_instant(window.to_ns),
                    }),
                )
            })
            .collect();
        if !self.lease_fresh() {
            // Another instance may hold the lease by now: it evaluates this rule instead.
            return;
        }
        // Saved before anyone is told: a restart resumes from here and never fires twice.
        if let Err(error) = self.save(&rows, events).await {
            tracing::warn!(rule = %rule.name, %error, "cannot save alert states; the evaluation is retried");
            self.due.insert(
                rule.name.clone(),
                Instant::now() + Duration::from_secs(5).min(rule.frequency),
            );
            return;
        }
        let link = investigation_link(&self.engine.public_url, &rule, window);
        for (change, s) in &evaluated.changes {
            let reason = match change {
                Change::Fired => Reason::Fired,
                Change::Resolved => Reason::Resolved,
            };
            self.notify(&rule, s.clone(), reason, window, &link);
        }
        for s in evaluated.states.iter().filter(|s| s.firing) {
            let changed = evaluated.changes.iter().any(|(_, c)| c.key() == s.key());
            if !changed && was_firing.contains(&s.key()) {
                self.notify(&rule, s.clone(), Reason::StillFiring, window, &link);
            }
        }
        self.states.insert(rule.name.clone(), evaluated.states);
    }

    fn notify(
        &self,
        rule: &Arc<Rule>,
        s: SeriesState,
        reason: Reason,
        window: TimeRange,
        link: &str,
    ) {
        let notification = Arc::new(Notification {
            reason,
            rule: Arc::clone(rule),
            state: s,
            window,
            link: link.to_owned(),
        });
        for receiver in self.rules.receivers_of(rule) {
            if Sender::wants(receiver, reason) {
                self.dispatcher.send(receiver, Arc::clone(&notification));
            }
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

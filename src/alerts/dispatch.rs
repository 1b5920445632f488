//! One queue per receiver, drained in order by its own task: a receiver's notifications arrive
//! in the order the evaluator decided them (a resolution never before its firing), and one
//! receiver that is down or slow holds up only its own queue, never the others or the next
//! evaluation. Each outcome goes to the history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::mpsc;

use super::engine::{AlertStore, Clock};
use super::notify::{Deliver, Delivery};
use super::payload::{Notification, Reason};
use super::rules::Receiver;
use crate::reads::alert_records::AlertEventRow;

/// Notifications waiting for one receiver before further ones are dropped (and recorded so).
const QUEUE_DEPTH: usize = 1_000;

struct Job {
    receiver: Receiver,
    notification: Arc<Notification>,
}

pub struct Dispatcher {
    sender: Arc<dyn Deliver>,
    store: Arc<dyn AlertStore>,
    clock: Clock,
    /// By the receiver's whole definition: a changed URL gets a queue of its own.
    queues: Mutex<HashMap<String, mpsc::Sender<Job>>>,
}

impl Dispatcher {
    pub fn new(sender: Arc<dyn Deliver>, store: Arc<dyn AlertStore>, clock: Clock) -> Self {
        Dispatcher {
            sender,
            store,
            clock,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `notification` for `receiver`; returns at once.
    pub fn send(&self, receiver: &Receiver, notification: Arc<Notification>) {
        let key = serde_json::to_string(receiver).unwrap_or_default();
        let job = Job {
            receiver: receiver.clone(),
            notification,
        };
        let Ok(mut queues) = self.queues.lock() else {
            return;
        };
        let queue = queues.entry(key).or_insert_with(|| {
            let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(drain(
                jobs,
                Arc::clone(&self.sender),
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
            ));
            queue
        });
        if let Err(refused) = queue.try_send(job) {
            let job = match refused {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            let delivery = Delivery {
                attempts: 0,
                error: Some(format!(
                    "{QUEUE_DEPTH} notifications are already waiting for this receiver"
                )),
            };
            let (store, clock) = (Arc::clone(&self.store), Arc::clone(&self.clock));
            tokio::spawn(async move { record(&*store, &clock, &job, &delivery).await });
        }
    }
}

async fn drain(
    mut jobs: mpsc::Receiver<Job>,
    sender: Arc<dyn Deliver>,
    store: Arc<dyn AlertStore>,
    clock: Clock,
) {
    while let Some(job) = jobs.recv().await {
        let delivery = sender.deliver(&job.receiver, &job.notification).await;
        // Renewals that went through are routine; everything else is history.
        if job.notification.reason == Reason::StillFiring && delivery.error.is_none() {
            continue;
        }
        record(&*store, &clock, &job, &delivery).await;
    }
}

async fn record(store: &dyn AlertStore, clock: &Clock, job: &Job, delivery: &Delivery) {
    let (receiver, notification) = (&job.receiver, &job.notification);
    let kind = match &delivery.error {
        Some(error) => {
            tracing::warn!(receiver = receiver.name(), %error, "alert notification failed");
            "NotificationFailed"
        }
        None => "NotificationSent",
    };
    let event = AlertEventRow {
        time_ns: clock(),
        rule: notification.rule.name.clone(),
        series: notification.state.key(),
        kind: kind.into(),
        body: json!({
            "receiver": receiver.name(),
            "type": receiver.kind(),
            "monitorCondition": notification.condition(),
            "alertId": notification.state.alert_id,
            "attempts": delivery.attempts,
            "error": delivery.error,
        })
        .to_string(),
    };
    if let Err(error) = store.append_alert_events(&[event]).await {
        tracing::warn!(%error, "cannot record an alert notification");
    }
}

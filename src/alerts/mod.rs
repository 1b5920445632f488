//! Alert rules and action groups: log rules (KQL) and metric rules (`customMetrics`),
//! evaluated on schedule by the instance holding the store's lease, notifying webhooks (the
//! Azure Monitor common alert schema), Slack, email and Alertmanager.

pub mod cli;
pub mod condition;
mod dispatch;
pub mod engine;
pub mod notify;
pub mod payload;
pub mod receivers;
pub mod rules;
pub mod state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use notify::{DeliveryPolicy, Sender, SmtpConfig};
use rules::{RuleSet, RulesError};

/// How `serve` runs alerts.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub rules_file: PathBuf,
    /// Where notifications' links point: the address people open the web UI at.
    pub public_url: String,
    pub smtp: Option<SmtpConfig>,
    pub delivery: DeliveryPolicy,
    /// How long the evaluator lease lasts unless renewed (renewed every third of it).
    pub lease_ttl: Duration,
    /// How often the rules file is checked for changes (SIGHUP reloads at once).
    pub reload_interval: Duration,
}

impl AlertsConfig {
    pub fn new(rules_file: PathBuf, public_url: String) -> Self {
        AlertsConfig {
            rules_file,
            public_url,
            smtp: None,
            delivery: DeliveryPolicy::default(),
            lease_ttl: Duration::from_secs(60),
            reload_interval: Duration::from_secs(2),
        }
    }
}

/// What the API shows of the alerts: the rules in force, the file's last load, whether this
/// instance evaluates, and each rule's latest evaluation error.
pub struct AlertsView {
    pub path: PathBuf,
    /// What the reloader last published: the evaluator reads the same channel.
    rules: watch::Receiver<Arc<RuleSet>>,
    reload_error: RwLock<Option<String>>,
    leading: RwLock<bool>,
    errors: RwLock<HashMap<String, (i64, String)>>,
}

impl AlertsView {
    pub fn new(path: PathBuf, rules: watch::Receiver<Arc<RuleSet>>) -> Self {
        AlertsView {
            path,
            rules,
            reload_error: RwLock::new(None),
            leading: RwLock::new(false),
            errors: RwLock::new(HashMap::new()),
        }
    }

    pub fn rules(&self) -> Arc<RuleSet> {
        Arc::clone(&self.rules.borrow())
    }

    pub fn reload_error(&self) -> Option<String> {
        self.reload_error.read().ok().and_then(|e| e.clone())
    }

    pub fn leading(&self) -> bool {
        self.leading.read().map(|l| *l).unwrap_or(false)
    }

    pub fn error_of(&self, rule: &str) -> Option<(i64, String)> {
        self.errors.read().ok().and_then(|e| e.get(rule).cloned())
    }

    fn set_leading(&self, leading: bool) {
        if let Ok(mut slot) = self.leading.write() {
            *slot = leading;
        }
    }

    fn set_error(&self, rule: &str, error: Option<(i64, String)>) {
        if let Ok(mut errors) = self.errors.write() {
            match error {
                Some(error) => errors.insert(rule.to_owned(), error),
                None => errors.remove(rule),
            };
        }
    }
}

/// Dimension pairs as text: `k8s.namespace.name=production, k8s.pod.name=crashy-7f9`.
pub fn dimensions_text(dimensions: &[(String, String)]) -> String {
    dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Dimension pairs as a JSON object.
pub fn dimensions_object(dimensions: &[(String, String)]) -> serde_json::Value {
    dimensions
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Reads and checks a rules file.
pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: path.display().to_string(),
        source,
    })?;
    rules::parse(&text)
}

/// Why alerts could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("alert notifications: {0}")]
    Sender(String),
    #[error(
        "the alert rules have email receivers; give the SMTP server with --smtp-host and --smtp-from"
    )]
    NoSmtp,
}

type Task = JoinHandle<anyhow::Result<()>>;

/// Loads the rules (a bad file stops the start), then runs the evaluator and the reloader.
pub fn start(
    config: &AlertsConfig,
    store: Arc<dyn Store>,
    clock: engine::Clock,
    shutdown: CancellationToken,
) -> Result<(Arc<AlertsView>, Vec<Task>), StartError> {
    let rules = load(&config.rules_file)?;
    if rules.has_email() && config.smtp.is_none() {
        return Err(StartError::NoSmtp);
    }
    tracing::info!(
        rules = rules.rules.len(),
        action_groups = rules.action_groups.len(),
        file = %config.rules_file.display(),
        "alert rules loaded"
    );
    let sender =
        Sender::new(config.smtp.as_ref(), config.delivery.clone()).map_err(StartError::Sender)?;
    let (publish, subscribe) = watch::channel(Arc::new(rules));
    let view = Arc::new(AlertsView::new(
        config.rules_file.clone(),
        publish.subscribe(),
    ));
    let engine = engine::Engine {
        measure: Arc::new(condition::StoreMeasure {
            store: Arc::clone(&store),
        }),
        store: Arc::new(engine::StoreBacked(store)),
        sender: Arc::new(sender),
        view: Arc::clone(&view),
        rules: subscribe,
        holder: instance_name(),
        lease_ttl: config.lease_ttl,
        public_url: config.public_url.clone(),
        clock,
    };
    let evaluator_shutdown = shutdown.clone();
    let evaluator = tokio::spawn(async move {
        engine.run(evaluator_shutdown).await;
        Ok(())
    });
    let reloader = tokio::spawn(reload(
        Arc::clone(&view),
        publish,
        config.smtp.is_some(),
        config.reload_interval,
        shutdown,
    ));
    Ok((view, vec![evaluator, reloader]))
}

/// This instance's name among those sharing a store (in leases): its host and a random part,
/// unique to the process.
pub fn instance_name() -> String {
    format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tracehouse".into())
}

/// Re-reads the rules file when it changes (checked every `interval`) or on SIGHUP; a bad file
/// is refused, logged and shown by the API, and the rules in force stay.
async fn reload(
    view: Arc<AlertsView>,
    publish: watch::Sender<Arc<RuleSet>>,
    smtp: bool,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut last_text = std::fs::read_to_string(&view.path).ok();
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let forced = tokio::select! {
            () = tokio::time::sleep(interval) => false,
            () = signalled => true,
            () = shutdown.cancelled() => return Ok(()),
        };
        let text = std::fs::read_to_string(&view.path).ok();
        if !forced && text == last_text {
            continue;
        }
        last_text = text;
        let outcome = load(&view.path).and_then(|rules| {
            if rules.has_email() && !smtp {
                Err(RulesError::Invalid {
                    line: 1,
                    message: "email receivers need --smtp-host and --smtp-from".into(),
                })
            } else {
                Ok(rules)
            }
        });
        match outcome {
            Ok(rules) => {
                tracing::info!(rules = rules.rules.len(), "alert rules reloaded");
                if let Ok(mut slot) = view.reload_error.write() {
                    *slot = None;
                }
                publish.send_replace(Arc::new(rules));
            }
            Err(error) => {
                tracing::error!(%error, "alert rules file refused; the rules in force stay");
                if let Ok(mut slot) = view.reload_error.write() {
                    *slot = Some(error.to_string());
                }
            }
        }
    }
}

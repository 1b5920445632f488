//! What the alert evaluator keeps in the store: the state of each alert series, the history
//! of firings, resolutions, sends and failures, and the lease that lets one instance evaluate.
//! The store keeps bodies as opaque JSON text; the alerts module owns their shape.

/// The latest state of one series of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertStateRow {
    pub rule: String,
    pub series: String,
    /// JSON; empty when the series is no longer tracked.
    pub body: String,
}

/// One event of the alert history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEventRow {
    pub time_ns: i64,
    pub rule: String,
    pub series: String,
    /// `Fired`, `Resolved`, `EvaluationFailed`, `NotificationSent`, `NotificationFailed`, …
    pub kind: String,
    /// JSON.
    pub body: String,
}

/// Which history events to read, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only these rules' events; `None` reads every rule's.
    pub rules: Option<Vec<String>>,
    pub from_ns: i64,
    pub to_ns: i64,
    pub limit: usize,
}

/// A request to hold (or keep holding) a named lease until `now_ns + ttl_ns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    pub name: String,
    pub holder: String,
    pub now_ns: i64,
    pub ttl_ns: i64,
}

impl LeaseClaim {
    pub fn expires_ns(&self) -> i64 {
        self.now_ns.saturating_add(self.ttl_ns)
    }
}

/// One holder's latest claim in an epoch of a lease, as the store read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseEntry {
    pub epoch: u64,
    pub holder: String,
    pub expires_ns: i64,
}

/// Who holds a lease given every holder's latest claim of its newest epoch: the smallest
/// holder name of that epoch, so that every instance reading the same claims agrees. `None`
/// when nobody does or the holder's claim has expired at `now_ns`.
pub fn lease_holder(entries: &[LeaseEntry], now_ns: i64) -> Option<(u64, &LeaseEntry)> {
    let epoch = entries.iter().map(|e| e.epoch).max()?;
    let owner = entries
        .iter()
        .filter(|e| e.epoch == epoch)
        .min_by(|a, b| a.holder.cmp(&b.holder))?;
    (owner.expires_ns > now_ns).then_some((epoch, owner))
}

/// The newest epoch in `entries` (0 when there is none).
pub fn newest_epoch(entries: &[LeaseEntry]) -> u64 {
    entries.iter().map(|e| e.epoch).max().unwrap_or(0)
}

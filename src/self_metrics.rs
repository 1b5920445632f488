//! tracehouse's own metrics, rendered in the Prometheus text format on `GET /metrics`.
//! Counters are keyed by labels and updated per request or per batch, never per item, so a
//! mutex-guarded map is cheap enough and keeps this dependency-free.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the flush latency histogram.
const FLUSH_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// `(signal, transport, outcome, reason)`.
type ItemLabels = (&'static str, &'static str, &'static str, String);

#[derive(Default)]
pub struct SelfMetrics {
    items: Mutex<BTreeMap<ItemLabels, u64>>,
    /// `(transport, signal, status)` → requests.
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    queue_bytes: AtomicI64,
    spool_bytes: AtomicI64,
    spool_batches: AtomicI64,
    rows_written: AtomicU64,
    batches_written: AtomicU64,
    write_failures: AtomicU64,
    dead_letter_batches: AtomicU64,
    flush_buckets: [AtomicU64; FLUSH_BUCKETS.len()],
    flush_count: AtomicU64,
    flush_sum_micros: AtomicU64,
}

/// What happened to items of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Received,
    Accepted,
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Received => "received",
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
        }
    }
}

impl SelfMetrics {
    pub fn count_items(
        &self,
        signal: &'static str,
        transport: &'static str,
        outcome: Outcome,
        reason: &str,
        items: u64,
    ) {
        if items == 0 {
            return;
        }
        let mut map = lock(&self.items);
        *map.entry((signal, transport, outcome.as_str(), reason.to_owned()))
            .or_default() += items;
    }

    pub fn count_request(&self, transport: &'static str, signal: &'static str, status: u16) {
        *lock(&self.requests)
            .entry((transport, signal, status))
            .or_default() += 1;
    }

    pub fn set_queue_bytes(&self, bytes: usize) {
        self.queue_bytes
            .store(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub fn set_spool(&self, bytes: u64, batches: usize) {
        self.spool_bytes
            .store(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
        self.spool_batches.store(
            i64::try_from(batches).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A spooled batch the store refused was set aside in the dead-letter folder.
    pub fn count_dead_letter(&self) {
        self.dead_letter_batches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dead_letter_batches(&self) -> u64 {
        self.dead_letter_batches.load(Ordering::Relaxed)
    }

    /// Acknowledged batches still waiting in the spool for the store.
    pub fn spool_batches(&self) -> i64 {
        self.spool_batches.load(Ordering::Relaxed)
    }

    pub fn record_flush(&self, rows: usize, elapsed: Duration, ok: bool) {
        if ok {
            self.rows_written.fetch_add(rows as u64, Ordering::Relaxed);
            self.batches_written.fetch_add(1, Ordering::Relaxed);
        } else {
            self.write_failures.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        for (bucket, upper) in self.flush_buckets.iter().zip(FLUSH_BUCKETS) {
            if seconds <= upper {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.flush_count.fetch_add(1, Ordering::Relaxed);
        self.flush_sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Items counted so far for one label set (for tests and the load generator).
    pub fn items(&self, signal: &str, transport: &str, outcome: Outcome) -> u64 {
        lock(&self.items)
            .iter()
            .filter(|((s, t, o, _), _)| *s == signal && *t == transport && *o == outcome.as_str())
            .map(|(_, n)| n)
            .sum()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP tracehouse_items_total Telemetry items by signal, transport and outcome.\n",
        );
        out.push_str("# TYPE tracehouse_items_total counter\n");
        for ((signal, transport, outcome, reason), n) in lock(&self.items).iter() {
            let _ = writeln!(
                out,
                "tracehouse_items_total{{signal=\"{signal}\",transport=\"{transport}\",outcome=\"{outcome}\",reason=\"{}\"}} {n}",
                escape_label(reason)
            );
        }
        out.push_str(
            "# HELP tracehouse_requests_total Ingest requests by transport, signal and status.\n",
        );
        out.push_str("# TYPE tracehouse_requests_total counter\n");
        for ((transport, signal, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "tracehouse_requests_total{{transport=\"{transport}\",signal=\"{signal}\",status=\"{status}\"}} {n}"
            );
        }
        gauge(
            &mut out,
            "tracehouse_queue_bytes",
            "Bytes of rows waiting in the ingest queue.",
            self.queue_bytes.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "tracehouse_spool_bytes",
            "Bytes of acknowledged batches in the spool.",
            self.spool_bytes.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "tracehouse_spool_batches",
            "Acknowledged batches in the spool.",
            self.spool_batches.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tracehouse_rows_written_total",
            "Rows written to the store.",
            self.rows_written.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tracehouse_batches_written_total",
            "Batches written to the store.",
            self.batches_written.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tracehouse_write_failures_total",
            "Failed batch writes (retried or reported).",
            self.write_failures.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tracehouse_dead_letter_batches_total",
            "Spooled batches the store refused, set aside in spool/dead-letter.",
            self.dead_letter_batches.load(Ordering::Relaxed),
        );
        out.push_str("# HELP tracehouse_flush_seconds Time to make one batch durable.\n");
        out.push_str("# TYPE tracehouse_flush_seconds histogram\n");
        for (bucket, upper) in self.flush_buckets.iter().zip(FLUSH_BUCKETS) {
            let _ = writeln!(
                out,
                "tracehouse_flush_seconds_bucket{{le=\"{upper}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.flush_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tracehouse_flush_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tracehouse_flush_seconds_sum {}",
            self.flush_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "tracehouse_flush_seconds_count {count}");
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        // Counters stay meaningful after a panic elsewhere; keep serving them.
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_counters_and_histograms() {
        let metrics = SelfMetrics::default();
        metrics.count_items("traces", "grpc", Outcome::Accepted, "", 3);
        metrics.count_items("traces", "grpc", Outcome::Rejected, "bad \"id\"", 1);
        metrics.record_flush(10, Duration::from_millis(20), true);
        let text = metrics.render();
        assert!(text.contains(
            "tracehouse_items_total{signal=\"traces\",transport=\"grpc\",outcome=\"accepted\",reason=\"\"} 3"
        ));
        assert!(text.contains("reason=\"bad \\\"id\\\"\"} 1"));
        assert!(text.contains("tracehouse_flush_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("tracehouse_flush_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("tracehouse_rows_written_total 10"));
        assert_eq!(metrics.items("traces", "grpc", Outcome::Accepted), 3);
    }
}

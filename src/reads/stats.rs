//! Weighted aggregation in Rust, for stores that cannot compute percentiles themselves, with
//! the same definitions ClickHouse's `quantilesExactWeighted` uses: the p-th percentile is the
//! smallest duration whose cumulative weight reaches `ceil(p × total weight)`.

use std::collections::HashMap;

use super::{PERCENTILE_LEVELS, StatsRow};

/// One row as read from the store, before aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub group: Vec<String>,
    pub bucket_ns: Option<i64>,
    pub timestamp_ns: i64,
    pub operation_id: String,
    pub duration_ms: f64,
    pub item_count: u32,
    pub success: bool,
    pub result_code_429: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Nearest-rank weighted percentile of `(value, weight)` pairs sorted by value.
pub fn weighted_percentile(sorted: &[(f64, u64)], total_weight: u64, level: f64) -> f64 {
    let threshold = (total_weight as f64 * level).ceil();
    let mut accumulated = 0u64;
    for &(value, weight) in sorted {
        accumulated = accumulated.saturating_add(weight);
        if accumulated as f64 >= threshold {
            return value;
        }
    }
    sorted.last().map_or(0.0, |&(value, _)| value)
}

#[derive(Default)]
struct Accumulator {
    count: u64,
    failed: u64,
    duration_sum_ms: f64,
    duration_max_ms: f64,
    durations: Vec<(f64, u64)>,
    input_tokens: u64,
    output_tokens: u64,
    throttled: u64,
    throttled_ms: f64,
    latest: Option<(i64, String)>,
}

impl Accumulator {
    fn add(&mut self, o: Observation) {
        let weight = u64::from(o.item_count);
        self.count = self.count.saturating_add(weight);
        if !o.success {
            self.failed = self.failed.saturating_add(weight);
        }
        self.duration_sum_ms += o.duration_ms * weight as f64;
        if self.durations.is_empty() || o.duration_ms > self.duration_max_ms {
            self.duration_max_ms = o.duration_ms;
        }
        self.durations.push((o.duration_ms, weight));
        self.input_tokens = self
            .input_tokens
            .saturating_add(o.input_tokens.saturating_mul(weight));
        self.output_tokens = self
            .output_tokens
            .saturating_add(o.output_tokens.saturating_mul(weight));
        if o.result_code_429 {
            self.throttled = self.throttled.saturating_add(weight);
            self.throttled_ms += o.duration_ms * weight as f64;
        }
        let newer = match &self.latest {
            None => true,
            Some((ts, id)) => (o.timestamp_ns, &o.operation_id) > (*ts, id),
        };
        if newer {
            self.latest = Some((o.timestamp_ns, o.operation_id));
        }
    }

    fn finish(mut self, group: Vec<String>, bucket_ns: Option<i64>) -> StatsRow {
        self.durations.sort_by(|a, b| a.0.total_cmp(&b.0));
        let percentiles_ms =
            PERCENTILE_LEVELS.map(|level| weighted_percentile(&self.durations, self.count, level));
        let (latest_timestamp_ns, latest_operation_id) = self.latest.unwrap_or_default();
        StatsRow {
            group,
            bucket_ns,
            count: self.count,
            failed: self.failed,
            duration_sum_ms: self.duration_sum_ms,
            duration_max_ms: self.duration_max_ms,
            percentiles_ms,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            throttled: self.throttled,
            throttled_ms: self.throttled_ms,
            latest_operation_id,
            latest_timestamp_ns,
        }
    }
}

/// Aggregates observations per (group, bucket).
pub fn aggregate(observations: impl IntoIterator<Item = Observation>) -> Vec<StatsRow> {
    let mut groups: HashMap<(Vec<String>, Option<i64>), Accumulator> = HashMap::new();
    for mut o in observations {
        let key = (std::mem::take(&mut o.group), o.bucket_ns);
        groups.entry(key).or_default().add(o);
    }
    groups
        .into_iter()
        .map(|((group, bucket), acc)| acc.finish(group, bucket))
        .collect()
}

/// The order every store answers in: by group, then bucket when bucketed; otherwise the
/// busiest groups first.
pub fn sort_rows(rows: &mut [StatsRow], bucketed: bool) {
    if bucketed {
        rows.sort_by(|a, b| (&a.group, a.bucket_ns).cmp(&(&b.group, b.bucket_ns)));
    } else {
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.group.cmp(&b.group)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(group: &str, duration_ms: f64, item_count: u32) -> Observation {
        Observation {
            group: vec![group.into()],
            bucket_ns: None,
            timestamp_ns: duration_ms as i64,
            operation_id: format!("op{duration_ms}"),
            duration_ms,
            item_count,
            success: duration_ms < 90.0,
            result_code_429: false,
            input_tokens: 1,
            output_tokens: 2,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_and_weighted() {
        // 1..=100 ms once each: p50 is the 50th value, p99 the 99th.
        let rows = aggregate((1..=100).map(|d| observation("a", d as f64, 1)));
        assert_eq!(rows[0].percentiles_ms, [50.0, 90.0, 95.0, 99.0]);
        assert_eq!((rows[0].count, rows[0].failed), (100, 11));
        // The same with the slowest standing for ten items (as ClickHouse answers it).
        let rows =
            aggregate((1..=100).map(|d| observation("a", d as f64, if d == 100 { 10 } else { 1 })));
        assert_eq!(rows[0].percentiles_ms, [55.0, 99.0, 100.0, 100.0]);
        assert_eq!(rows[0].count, 109);
        assert_eq!(rows[0].output_tokens, 218);
        assert_eq!(rows[0].latest_operation_id, "op100");
    }

    #[test]
    fn busiest_groups_come_first() {
        let mut rows = aggregate(
            [("b", 3), ("a", 1), ("c", 3)]
                .into_iter()
                .flat_map(|(g, n)| (0..n).map(move |i| observation(g, i as f64, 1))),
        );
        sort_rows(&mut rows, false);
        let order: Vec<&str> = rows.iter().map(|r| r.group[0].as_str()).collect();
        assert_eq!(order, ["b", "c", "a"]);
    }
}

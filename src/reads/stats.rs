//! Weighted aggregation in Rust, for stores that cannot compute percentiles themselves, with
//! the same definitions ClickHouse's `quantilesExactWeighted` uses: the p-th percentile is the
//! smallest duration whose cumulative weight reaches `ceil(p × total weight)`.

use std::collections::HashMap;

use super::binned::{Partial, SpanFacts};
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

impl Observation {
    /// What the observation adds to an aggregate besides its operation.
    pub fn facts(&self) -> SpanFacts {
        SpanFacts {
            duration_ms: self.duration_ms,
            item_count: self.item_count,
            success: self.success,
            result_code_429: self.result_code_429,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
        }
    }
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

/// The exact aggregate: the mergeable measures, and every weighted duration for percentiles.
#[derive(Default)]
struct Accumulator {
    measures: Partial,
    durations: Vec<(f64, u64)>,
}

impl Accumulator {
    fn add(&mut self, o: Observation) {
        self.measures.add_measures(&o.facts());
        self.measures.note_latest(o.timestamp_ns, &o.operation_id);
        self.durations
            .push((o.duration_ms, u64::from(o.item_count)));
    }

    fn finish(mut self, group: Vec<String>, bucket_ns: Option<i64>) -> StatsRow {
        self.durations.sort_by(|a, b| a.0.total_cmp(&b.0));
        let count = self.measures.count;
        let percentiles_ms =
            PERCENTILE_LEVELS.map(|level| weighted_percentile(&self.durations, count, level));
        self.measures.finish_with(group, bucket_ns, percentiles_ms)
    }
}

/// Aggregates observations per (group, bucket).
pub fn aggregate(observations: impl IntoIterator<Item = Observation>) -> Vec<StatsRow> {
    let mut groups = ExactGroups::default();
    for o in observations {
        groups.add(o);
    }
    groups.into_rows()
}

/// Exact aggregates per (group, bucket), added to as rows stream by (only the durations are
/// held, not the rows).
#[derive(Default)]
pub struct ExactGroups(HashMap<(Vec<String>, Option<i64>), Accumulator>);

impl ExactGroups {
    pub fn add(&mut self, mut o: Observation) {
        let key = (std::mem::take(&mut o.group), o.bucket_ns);
        self.0.entry(key).or_default().add(o);
    }

    fn into_rows(self) -> Vec<StatsRow> {
        self.0
            .into_iter()
            .map(|((group, bucket), acc)| acc.finish(group, bucket))
            .collect()
    }

    /// The rows in [`sort_rows`] order, at most `limit`.
    pub fn finish(self, bucketed: bool, limit: usize) -> Vec<StatsRow> {
        let mut rows = self.into_rows();
        sort_rows(&mut rows, bucketed);
        rows.truncate(limit);
        rows
    }
}

/// Binned aggregates per (group, bucket), from rollup rows and spans alike.
#[derive(Default)]
pub struct BinnedGroups(HashMap<(Vec<String>, Option<i64>), Partial>);

impl BinnedGroups {
    pub fn add(&mut self, mut o: Observation) {
        let key = (std::mem::take(&mut o.group), o.bucket_ns);
        self.0.entry(key).or_default().add(&o);
    }

    pub fn merge(&mut self, group: Vec<String>, bucket_ns: Option<i64>, partial: Partial) {
        self.0.entry((group, bucket_ns)).or_default().merge(partial);
    }

    /// The rows in [`sort_rows`] order, at most `limit`.
    pub fn finish(self, bucketed: bool, limit: usize) -> Vec<StatsRow> {
        let mut rows: Vec<StatsRow> = self
            .0
            .into_iter()
            .map(|((group, bucket), partial)| partial.finish(group, bucket))
            .collect();
        sort_rows(&mut rows, bucketed);
        rows.truncate(limit);
        rows
    }
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

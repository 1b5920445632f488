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

/// One group's rows in fine buckets (e.g. per minute) added up into buckets of `bucket_s`,
/// a multiple of theirs (so each fine bucket lies in one coarse one): counts, sums, the
/// longest duration and the latest operation, as the store answers the coarser read.
/// Percentiles do not add up and are left 0. In bucket order; rows without a bucket are
/// skipped.
pub fn coarser_buckets(rows: &[StatsRow], bucket_s: u32) -> Vec<StatsRow> {
    let width_ns = i64::from(bucket_s.max(1)) * 1_000_000_000;
    let mut buckets: std::collections::BTreeMap<i64, StatsRow> = Default::default();
    for row in rows {
        let Some(fine_ns) = row.bucket_ns else {
            continue;
        };
        let start = fine_ns.div_euclid(width_ns).saturating_mul(width_ns);
        let total = buckets.entry(start).or_insert_with(|| StatsRow {
            group: row.group.clone(),
            bucket_ns: Some(start),
            latest_timestamp_ns: i64::MIN,
            ..StatsRow::default()
        });
        total.count = total.count.saturating_add(row.count);
        total.failed = total.failed.saturating_add(row.failed);
        total.duration_sum_ms += row.duration_sum_ms;
        total.duration_max_ms = total.duration_max_ms.max(row.duration_max_ms);
        total.input_tokens = total.input_tokens.saturating_add(row.input_tokens);
        total.output_tokens = total.output_tokens.saturating_add(row.output_tokens);
        total.throttled = total.throttled.saturating_add(row.throttled);
        total.throttled_ms += row.throttled_ms;
        if (row.latest_timestamp_ns, &row.latest_operation_id)
            > (total.latest_timestamp_ns, &total.latest_operation_id)
        {
            total.latest_timestamp_ns = row.latest_timestamp_ns;
            total
                .latest_operation_id
                .clone_from(&row.latest_operation_id);
        }
    }
    buckets.into_values().collect()
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
    fn fine_buckets_add_up_into_coarser_ones() {
        let minute = 60_000_000_000;
        let bucketed = |minutes: i64| {
            let mut observations: Vec<Observation> = (0..30)
                .map(|i| {
                    let mut o = observation("a", f64::from(i) + 0.5, 1 + (i as u32 % 3));
                    o.timestamp_ns = i64::from(i) * minute / 3 + 7;
                    o.bucket_ns =
                        Some(o.timestamp_ns.div_euclid(minutes * minute) * minutes * minute);
                    o.result_code_429 = i % 4 == 0;
                    o
                })
                .collect();
            observations.sort_by_key(|o| o.timestamp_ns);
            let mut rows = aggregate(observations);
            sort_rows(&mut rows, true);
            rows
        };
        let per_minute = bucketed(1);
        let mut coarse = coarser_buckets(&per_minute, 300);
        // What a read in 5-minute buckets answers, but for the percentiles.
        let mut direct = bucketed(5);
        for row in coarse.iter_mut().chain(direct.iter_mut()) {
            row.percentiles_ms = [0.0; 4];
        }
        assert_eq!(coarse, direct);
        assert_eq!(coarse.len(), 2);
        assert_eq!(coarse[1].latest_operation_id, "op29.5");
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

//! Aggregates that merge: what a minute of rolled-up spans holds (counts, sums, extremes and
//! the durations in fine log-spaced buckets), added up across minutes, batches and stores into
//! a [`StatsRow`]. Percentiles come from the buckets: the nearest-rank bucket's mean duration,
//! which is exact when the bucket holds one distinct duration and otherwise within the bucket's
//! width (2.3 %) of the exact nearest-rank value.

use std::collections::BTreeMap;

use super::stats::Observation;
use super::{PERCENTILE_LEVELS, StatsRow};

/// Fine bounds per factor of ten: each bucket spans a factor of 10^(1/100) ≈ 1.023.
pub const PER_DECADE: i32 = 100;
/// The first bound is 10^(LOWEST_EXPONENT / PER_DECADE) ms = 1 µs, the last 10^(HIGHEST / PER_DECADE)
/// ms = 10,000 s. Every bound of [`super::histogram::bounds`] is one of these, so the display
/// histogram is a sum of fine buckets.
pub const LOWEST_EXPONENT: i32 = -300;
const HIGHEST: i32 = 700;

/// The fine bounds in ms, ascending (bucket `i` holds `[bounds[i - 1], bounds[i])`).
pub fn fine_bounds() -> &'static [f64] {
    static BOUNDS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        (LOWEST_EXPONENT..=HIGHEST)
            .map(|k| 10f64.powf(f64::from(k) / f64::from(PER_DECADE)))
            .collect()
    })
}

/// The fine bucket of a duration: the number of bounds at or below it (NaN falls in 0).
pub fn fine_bucket(duration_ms: f64) -> u16 {
    let bucket = fine_bounds().partition_point(|bound| *bound <= duration_ms);
    u16::try_from(bucket).unwrap_or(u16::MAX)
}

/// Items and their summed duration (weighted by `itemCount`) in one fine bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BucketLoad {
    pub items: u64,
    pub duration_sum_ms: f64,
}

/// What a span adds to a [`Partial`] besides its operation.
#[derive(Debug, Clone, Copy)]
pub struct SpanFacts {
    pub duration_ms: f64,
    pub item_count: u32,
    pub success: bool,
    pub result_code_429: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A mergeable aggregate of spans: one rollup row, or the sum of many.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial {
    pub count: u64,
    pub failed: u64,
    pub duration_sum_ms: f64,
    /// `None` until a span is added.
    pub duration_min_ms: Option<f64>,
    pub duration_max_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub throttled: u64,
    pub throttled_ms: f64,
    /// `(timestamp, operation id)` of the most recent span.
    pub latest: Option<(i64, String)>,
    pub buckets: BTreeMap<u16, BucketLoad>,
}

fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Partial {
    /// Adds one stored span.
    pub fn add(&mut self, o: &Observation) {
        self.add_span(&o.facts());
        self.note_latest(o.timestamp_ns, &o.operation_id);
    }

    /// Adds one span's measures and its duration's bucket; the caller keeps track of the
    /// newest operation (and sets [`Partial::latest`]), so building rollups copies no id per
    /// span.
    pub fn add_span(&mut self, o: &SpanFacts) {
        self.add_measures(o);
        let weight = u64::from(o.item_count);
        let load = self.buckets.entry(fine_bucket(o.duration_ms)).or_default();
        load.items = load.items.saturating_add(weight);
        load.duration_sum_ms += o.duration_ms * weight as f64;
    }

    /// Adds one span's counts, sums and extremes (not its bucket).
    pub fn add_measures(&mut self, o: &SpanFacts) {
        let weight = u64::from(o.item_count);
        self.count = self.count.saturating_add(weight);
        if !o.success {
            self.failed = self.failed.saturating_add(weight);
        }
        let weighted_ms = o.duration_ms * weight as f64;
        self.duration_sum_ms += weighted_ms;
        self.duration_min_ms = min_of(self.duration_min_ms, Some(o.duration_ms));
        self.duration_max_ms = max_of(self.duration_max_ms, Some(o.duration_ms));
        self.input_tokens = self
            .input_tokens
            .saturating_add(o.input_tokens.saturating_mul(weight));
        self.output_tokens = self
            .output_tokens
            .saturating_add(o.output_tokens.saturating_mul(weight));
        if o.result_code_429 {
            self.throttled = self.throttled.saturating_add(weight);
            self.throttled_ms += weighted_ms;
        }
    }

    pub fn note_latest(&mut self, timestamp_ns: i64, operation_id: &str) {
        let newer = match &self.latest {
            None => true,
            Some((ts, id)) => (timestamp_ns, operation_id) > (*ts, id.as_str()),
        };
        if newer {
            self.latest = Some((timestamp_ns, operation_id.to_owned()));
        }
    }

    /// Adds another aggregate (another minute, batch or edge of the range).
    pub fn merge(&mut self, other: Partial) {
        self.count = self.count.saturating_add(other.count);
        self.failed = self.failed.saturating_add(other.failed);
        self.duration_sum_ms += other.duration_sum_ms;
        self.duration_min_ms = min_of(self.duration_min_ms, other.duration_min_ms);
        self.duration_max_ms = max_of(self.duration_max_ms, other.duration_max_ms);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.throttled = self.throttled.saturating_add(other.throttled);
        self.throttled_ms += other.throttled_ms;
        if let Some((ts, id)) = other.latest {
            self.note_latest(ts, &id);
        }
        for (bucket, load) in other.buckets {
            let mine = self.buckets.entry(bucket).or_default();
            mine.items = mine.items.saturating_add(load.items);
            mine.duration_sum_ms += load.duration_sum_ms;
        }
    }

    /// The nearest-rank percentile at `level` from the buckets: the mean duration of the
    /// bucket where the cumulative weight reaches `ceil(level × count)`, kept within the
    /// observed extremes.
    pub fn percentile(&self, level: f64) -> f64 {
        let total: u64 = self.buckets.values().map(|l| l.items).sum();
        let threshold = (total as f64 * level).ceil();
        let mut accumulated = 0u64;
        let mut estimate = None;
        for load in self.buckets.values() {
            accumulated = accumulated.saturating_add(load.items);
            if accumulated as f64 >= threshold && load.items > 0 {
                estimate = Some(load.duration_sum_ms / load.items as f64);
                break;
            }
        }
        let estimate = estimate.or(self.duration_max_ms).unwrap_or(0.0);
        let low = self.duration_min_ms.unwrap_or(estimate);
        let high = self.duration_max_ms.unwrap_or(estimate);
        estimate.max(low).min(high)
    }

    pub fn finish(self, group: Vec<String>, bucket_ns: Option<i64>) -> StatsRow {
        let percentiles_ms = PERCENTILE_LEVELS.map(|level| self.percentile(level));
        self.finish_with(group, bucket_ns, percentiles_ms)
    }

    /// The row of these measures with percentiles computed elsewhere.
    pub fn finish_with(
        self,
        group: Vec<String>,
        bucket_ns: Option<i64>,
        percentiles_ms: [f64; 4],
    ) -> StatsRow {
        let (latest_timestamp_ns, latest_operation_id) = self.latest.unwrap_or_default();
        StatsRow {
            group,
            bucket_ns,
            count: self.count,
            failed: self.failed,
            duration_sum_ms: self.duration_sum_ms,
            duration_max_ms: self.duration_max_ms.unwrap_or(0.0),
            percentiles_ms,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            throttled: self.throttled,
            throttled_ms: self.throttled_ms,
            latest_operation_id,
            latest_timestamp_ns,
        }
    }

    /// The buckets as parallel arrays `(bucket, items, duration sums)`, as ClickHouse stores
    /// them.
    pub fn bucket_arrays(&self) -> (Vec<u16>, Vec<u64>, Vec<f64>) {
        let mut keys = Vec::with_capacity(self.buckets.len());
        let mut items = Vec::with_capacity(self.buckets.len());
        let mut sums = Vec::with_capacity(self.buckets.len());
        for (bucket, load) in &self.buckets {
            keys.push(*bucket);
            items.push(load.items);
            sums.push(load.duration_sum_ms);
        }
        (keys, items, sums)
    }

    /// Sets the buckets from parallel arrays; entries past the shortest array are ignored.
    pub fn set_buckets(&mut self, keys: &[u16], items: &[u64], sums: &[f64]) {
        for ((bucket, items), sum) in keys.iter().zip(items).zip(sums) {
            let load = self.buckets.entry(*bucket).or_default();
            load.items = load.items.saturating_add(*items);
            load.duration_sum_ms += sum;
        }
    }

    /// The buckets as bytes (SQLite's form): `(u16 bucket, u64 items, f64 sum)` little-endian.
    pub fn encode_buckets(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buckets.len() * 18);
        for (bucket, load) in &self.buckets {
            out.extend_from_slice(&bucket.to_le_bytes());
            out.extend_from_slice(&load.items.to_le_bytes());
            out.extend_from_slice(&load.duration_sum_ms.to_le_bytes());
        }
        out
    }

    /// Adds buckets read back from [`Partial::encode_buckets`]; a trailing partial entry (a
    /// damaged row) is ignored.
    pub fn add_encoded_buckets(&mut self, bytes: &[u8]) {
        for entry in bytes.chunks_exact(18) {
            let bucket = u16::from_le_bytes([entry[0], entry[1]]);
            let mut items = [0u8; 8];
            items.copy_from_slice(&entry[2..10]);
            let mut sum = [0u8; 8];
            sum.copy_from_slice(&entry[10..18]);
            let load = self.buckets.entry(bucket).or_default();
            load.items = load.items.saturating_add(u64::from_le_bytes(items));
            load.duration_sum_ms += f64::from_le_bytes(sum);
        }
    }

    /// Item counts in the display histogram's buckets ([`super::histogram::bounds`]).
    pub fn display_buckets(&self) -> Vec<(i64, u64)> {
        let fine = fine_bounds();
        let display = super::histogram::bounds();
        let mut out: Vec<(i64, u64)> = Vec::new();
        for (bucket, load) in &self.buckets {
            // Every duration in the fine bucket is at or above its lower bound, and no
            // display bound lies strictly inside a fine bucket.
            let low = usize::from(*bucket)
                .checked_sub(1)
                .and_then(|i| fine.get(i))
                .copied();
            let index = match low {
                Some(low) => display.partition_point(|bound| *bound <= low),
                None => 0,
            } as i64;
            match out.last_mut() {
                Some((last, items)) if *last == index => *items = items.saturating_add(load.items),
                _ => out.push((index, load.items)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reads::stats::{self, weighted_percentile};
    use proptest::prelude::*;

    fn observation(duration_ms: f64, item_count: u32, ts: i64) -> Observation {
        Observation {
            group: Vec::new(),
            bucket_ns: None,
            timestamp_ns: ts,
            operation_id: format!("op{ts}"),
            duration_ms,
            item_count,
            success: duration_ms < 1000.0,
            result_code_429: duration_ms > 5000.0,
            input_tokens: 3,
            output_tokens: 4,
        }
    }

    #[test]
    fn display_bounds_are_fine_bounds() {
        let fine = fine_bounds();
        for bound in crate::reads::histogram::bounds() {
            assert!(fine.contains(&bound), "{bound} is a fine bound");
        }
    }

    #[test]
    fn a_bucket_of_one_duration_gives_it_exactly() {
        let mut partial = Partial::default();
        for i in 0..99 {
            partial.add(&observation(100.0, 1, i));
        }
        partial.add(&observation(7_712.5, 1, 500));
        let row = partial.finish(Vec::new(), None);
        assert_eq!(row.percentiles_ms, [100.0, 100.0, 100.0, 100.0]);
        assert_eq!(row.duration_max_ms, 7_712.5);
        assert_eq!((row.count, row.failed, row.throttled), (100, 1, 1));
        assert_eq!(row.latest_operation_id, "op500");
    }

    #[test]
    fn buckets_survive_both_stored_forms() {
        let mut partial = Partial::default();
        for (i, d) in [0.0, 0.5, 12.0, 12.1, 3e6, 0.0].into_iter().enumerate() {
            partial.add(&observation(d, 2, i as i64));
        }
        let mut from_bytes = Partial::default();
        from_bytes.add_encoded_buckets(&partial.encode_buckets());
        assert_eq!(from_bytes.buckets, partial.buckets);
        let (keys, items, sums) = partial.bucket_arrays();
        let mut from_arrays = Partial::default();
        from_arrays.set_buckets(&keys, &items, &sums);
        assert_eq!(from_arrays.buckets, partial.buckets);
        // A damaged row loses only its trailing entry.
        let mut cut = Partial::default();
        let bytes = partial.encode_buckets();
        cut.add_encoded_buckets(&bytes[..bytes.len() - 1]);
        assert_eq!(cut.buckets.len(), partial.buckets.len() - 1);
    }

    proptest! {
        /// Split anyhow and merged, the rollup counts exactly what the raw aggregation does,
        /// and its percentiles are within a bucket's width of the exact ones.
        #[test]
        fn merged_partials_match_the_exact_aggregation(
            spans in prop::collection::vec((0.01f64..100_000.0, 1u32..5), 1..300),
            split in 1usize..7,
        ) {
            let observations: Vec<Observation> = spans
                .iter()
                .enumerate()
                .map(|(i, (d, w))| observation(*d, *w, i as i64))
                .collect();
            let exact = stats::aggregate(observations.clone()).remove(0);
            let mut total = Partial::default();
            for part in observations.chunks(split) {
                let mut partial = Partial::default();
                for o in part {
                    partial.add(o);
                }
                total.merge(partial);
            }
            let mut display = crate::reads::histogram::DurationHistogram::from_buckets(
                total.display_buckets(),
            );
            let row = total.finish(Vec::new(), None);
            prop_assert_eq!(row.count, exact.count);
            prop_assert_eq!(row.failed, exact.failed);
            prop_assert_eq!(row.throttled, exact.throttled);
            prop_assert_eq!(row.output_tokens, exact.output_tokens);
            prop_assert_eq!(row.duration_max_ms, exact.duration_max_ms);
            prop_assert_eq!(&row.latest_operation_id, &exact.latest_operation_id);
            prop_assert!((row.duration_sum_ms - exact.duration_sum_ms).abs() <= 1e-6 * exact.duration_sum_ms);
            let step = 10f64.powf(1.0 / f64::from(PER_DECADE)) * (1.0 + 1e-9);
            for (binned, exact) in row.percentiles_ms.iter().zip(exact.percentiles_ms) {
                prop_assert!(*binned <= exact * step && *binned * step >= exact,
                    "binned {} against exact {}", binned, exact);
            }
            // The display histogram from fine buckets is the one the stores count directly.
            let bounds = crate::reads::histogram::bounds();
            let mut direct = vec![0u64; bounds.len() + 1];
            for (d, w) in &spans {
                direct[crate::reads::histogram::bucket_of(*d, &bounds)] += u64::from(*w);
            }
            display.counts.truncate(direct.len());
            prop_assert_eq!(display.counts, direct);
        }
    }

    #[test]
    fn exact_percentile_reference_is_the_shared_one() {
        // The binned estimate walks the same ranks as the exact definition.
        let sorted = [(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1)];
        assert_eq!(weighted_percentile(&sorted, 4, 0.5), 2.0);
        let mut partial = Partial::default();
        for (i, d) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            partial.add(&observation(d, 1, i as i64));
        }
        assert_eq!(partial.percentile(0.5), 2.0);
    }
}

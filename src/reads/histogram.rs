//! Duration distributions: item counts in log-spaced buckets with the same bounds in every
//! store, so a histogram reads alike on SQLite and ClickHouse and each bar maps back to the
//! duration range its samples are listed by.

/// Bounds per factor of ten.
const PER_DECADE: i32 = 10;
/// The first bound is 10^(LOWEST / PER_DECADE) ms = 0.1 ms, the last 10^(HIGHEST / PER_DECADE)
/// ms = 1,000 s: what a request or a call can take, from an in-process call to a stuck one.
const LOWEST: i32 = -10;
const HIGHEST: i32 = 60;

/// The bucket bounds in ms, ascending. Bucket `i` holds the durations in
/// `[bounds[i - 1], bounds[i])`; bucket 0 those below the first bound, the last bucket those at
/// or above the last.
pub fn bounds() -> Vec<f64> {
    (LOWEST..=HIGHEST)
        .map(|k| 10f64.powf(f64::from(k) / f64::from(PER_DECADE)))
        .collect()
}

/// The bucket a duration falls in: the number of bounds at or below it. A NaN duration falls
/// in the first.
pub fn bucket_of(duration_ms: f64, bounds: &[f64]) -> usize {
    bounds.partition_point(|bound| *bound <= duration_ms)
}

/// Item counts (weighted by `itemCount`) per bucket of [`bounds`].
#[derive(Debug, Clone, PartialEq)]
pub struct DurationHistogram {
    pub bounds: Vec<f64>,
    /// One more than `bounds`.
    pub counts: Vec<u64>,
}

impl DurationHistogram {
    /// From `(bucket, count)` pairs as a store answers them; buckets out of range are ignored
    /// (a store never answers them; a changed bound list must not panic on old answers).
    pub fn from_buckets(buckets: impl IntoIterator<Item = (i64, u64)>) -> Self {
        let bounds = bounds();
        let mut counts = vec![0u64; bounds.len() + 1];
        for (bucket, count) in buckets {
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                *slot = slot.saturating_add(count);
            }
        }
        DurationHistogram { bounds, counts }
    }

    /// `(lowest, highest)` duration of bucket `i` in ms; the last bucket has no upper end.
    pub fn range_of(&self, bucket: usize) -> (f64, Option<f64>) {
        let low = bucket
            .checked_sub(1)
            .and_then(|i| self.bounds.get(i))
            .copied()
            .unwrap_or(0.0);
        (low, self.bounds.get(bucket).copied())
    }

    /// The buckets from the first to the last that holds anything, as `(bucket, count)`.
    pub fn occupied(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let first = self.counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = self.counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        self.counts
            .iter()
            .copied()
            .enumerate()
            .skip(first)
            .take(last + 1 - first)
            .filter(|_| self.total() > 0)
    }

    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(*c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds_run_from_a_tenth_of_a_millisecond_to_a_thousand_seconds() {
        let bounds = bounds();
        assert!((bounds[0] - 0.1).abs() < 1e-12);
        assert!((bounds[bounds.len() - 1] - 1e6).abs() < 1e-6);
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(bucket_of(0.05, &bounds), 0);
        assert_eq!(bucket_of(0.1, &bounds), 1);
        assert_eq!(bucket_of(5e6, &bounds), bounds.len());
        assert_eq!(bucket_of(f64::NAN, &bounds), 0);
    }

    #[test]
    fn occupied_buckets_span_the_first_to_the_last_filled() {
        let histogram = DurationHistogram::from_buckets([(10, 2), (14, 1), (99, 5), (-1, 5)]);
        let occupied: Vec<_> = histogram.occupied().collect();
        assert_eq!(occupied.first(), Some(&(10, 2)));
        assert_eq!(occupied.last(), Some(&(14, 1)));
        assert_eq!(occupied.len(), 5);
        assert_eq!(histogram.total(), 3);
        assert_eq!(DurationHistogram::from_buckets([]).occupied().count(), 0);
        assert_eq!(histogram.range_of(0).0, 0.0);
        assert_eq!(histogram.range_of(histogram.bounds.len()).1, None);
    }

    proptest! {
        #[test]
        fn a_duration_lies_in_its_bucket_range(ms in 0.0f64..2e6) {
            let histogram = DurationHistogram::from_buckets([]);
            let (low, high) = histogram.range_of(bucket_of(ms, &histogram.bounds));
            prop_assert!(low <= ms);
            prop_assert!(high.is_none_or(|high| ms < high));
        }
    }
}

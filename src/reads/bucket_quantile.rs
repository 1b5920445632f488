//! Quantiles of merged histogram buckets. Each bucket is taken as spread evenly over its
//! `[lower, upper]` (a bucket with equal bounds is a point mass), so buckets of points with
//! different bounds merge without being re-binned, and identical bounds give the usual
//! linear interpolation inside the bucket that holds the quantile.

/// One bucket of a histogram point: `count` observations in `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
}

/// The buckets of one stored point: `bounds[i]` is the upper bound of `counts[i]`, the last
/// count the overflow. The first bucket starts at the point's minimum (or 0 for positive
/// bounds, as Prometheus does), the overflow ends at its maximum (or the last bound).
pub fn point_buckets(bounds: &[f64], counts: &[u64], min: f64, max: f64) -> Vec<Bucket> {
    if counts.len() != bounds.len() + 1 || bounds.iter().any(|b| !b.is_finite()) {
        return Vec::new();
    }
    let mut buckets = Vec::with_capacity(counts.len());
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let (lower, upper) = match (i.checked_sub(1).map(|j| bounds[j]), bounds.get(i)) {
            (Some(lower), Some(&upper)) => (lower, upper),
            (None, Some(&upper)) => {
                let lower = if min.is_finite() {
                    min.min(upper)
                } else if upper > 0.0 {
                    0.0
                } else {
                    upper
                };
                (lower, upper)
            }
            (Some(lower), None) => (
                lower,
                if max.is_finite() {
                    max.max(lower)
                } else {
                    lower
                },
            ),
            // No bounds: one bucket from the minimum to the maximum.
            (None, None) if min.is_finite() && max.is_finite() && min <= max => (min, max),
            (None, None) => continue,
        };
        // No observation lies outside the point's minimum and maximum: an exponential
        // histogram's first bucket, stored from the zero threshold, starts at the minimum.
        let lower = if min.is_finite() && min <= upper {
            lower.max(min)
        } else {
            lower
        };
        let upper = if max.is_finite() && max >= lower {
            upper.min(max)
        } else {
            upper
        };
        buckets.push(Bucket {
            lower,
            upper: upper.max(lower),
            count,
        });
    }
    buckets
}

/// The `q` quantile (0 ≤ q ≤ 1) of the observations in `buckets`; `None` when there are none.
pub fn quantile(buckets: &[Bucket], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().fold(0u64, |n, b| n.saturating_add(b.count));
    if total == 0 || !q.is_finite() {
        return None;
    }
    let target = q.clamp(0.0, 1.0) * total as f64;
    // The CDF is piecewise linear: each spread bucket adds a density over its range, each
    // point mass a jump. Walk the breakpoints in order.
    enum Event {
        Density(f64),
        Mass(f64),
    }
    let mut events: Vec<(f64, Event)> = Vec::with_capacity(buckets.len() * 2);
    for b in buckets.iter().filter(|b| b.count > 0) {
        if b.upper > b.lower {
            let density = b.count as f64 / (b.upper - b.lower);
            events.push((b.lower, Event::Density(density)));
            events.push((b.upper, Event::Density(-density)));
        } else {
            events.push((b.lower, Event::Mass(b.count as f64)));
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut cdf, mut density, mut at) = (0.0f64, 0.0f64, events[0].0);
    for (x, event) in &events {
        let reached = cdf + density * (x - at);
        if density > 0.0 && reached >= target {
            return Some(at + (target - cdf) / density);
        }
        cdf = reached;
        at = *x;
        match event {
            Event::Density(d) => density += d,
            Event::Mass(m) => {
                cdf += m;
                if cdf >= target {
                    return Some(*x);
                }
            }
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn interpolates_inside_the_bucket_holding_the_quantile() {
        // 10 in [0,10], 10 in [10,20]: the median is 10, p75 is 15, p95 is 19.
        let buckets = point_buckets(&[10.0, 20.0], &[10, 10, 0], 0.0, 20.0);
        assert_eq!(quantile(&buckets, 0.5), Some(10.0));
        assert_eq!(quantile(&buckets, 0.75), Some(15.0));
        let p95 = quantile(&buckets, 0.95).expect("some");
        assert!((p95 - 19.0).abs() < 1e-9, "{p95}");
    }

    #[test]
    fn the_overflow_bucket_ends_at_the_maximum() {
        let buckets = point_buckets(&[1.0], &[0, 4], 0.5, 5.0);
        assert_eq!(
            buckets,
            vec![Bucket {
                lower: 1.0,
                upper: 5.0,
                count: 4
            }]
        );
        assert_eq!(quantile(&buckets, 1.0), Some(5.0));
        assert_eq!(quantile(&buckets, 0.5), Some(3.0));
    }

    #[test]
    fn buckets_are_clamped_to_the_points_minimum_and_maximum() {
        // An exponential histogram's first positive bucket stored from the zero threshold:
        // ten observations of 100 in (0, 128] lie at least at the minimum, 100.
        let buckets = point_buckets(&[0.0, 128.0], &[0, 10, 0], 100.0, 100.0);
        assert_eq!(quantile(&buckets, 0.5), Some(100.0));
    }

    #[test]
    fn point_masses_and_mismatched_points() {
        let mass = [Bucket {
            lower: 2.0,
            upper: 2.0,
            count: 3,
        }];
        assert_eq!(quantile(&mass, 0.99), Some(2.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert!(point_buckets(&[1.0, 2.0], &[1, 1], 0.0, 3.0).is_empty());
        assert!(point_buckets(&[f64::NAN], &[1, 1], 0.0, 3.0).is_empty());
    }

    proptest! {
        #[test]
        fn quantiles_are_monotonic_and_within_the_buckets(
            counts in proptest::collection::vec(0u64..1000, 1..20),
            q1 in 0.0f64..=1.0,
            q2 in 0.0f64..=1.0,
        ) {
            let bounds: Vec<f64> = (1..counts.len()).map(|i| i as f64 * 10.0).collect();
            let max = counts.len() as f64 * 10.0;
            let buckets = point_buckets(&bounds, &counts, 0.0, max);
            let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
            match (quantile(&buckets, lo), quantile(&buckets, hi)) {
                (Some(a), Some(b)) => {
                    prop_assert!(a <= b + 1e-9, "{a} > {b}");
                    prop_assert!((0.0..=max).contains(&a) && (0.0..=max).contains(&b));
                }
                (None, None) => prop_assert!(counts.iter().all(|c| *c == 0)),
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}

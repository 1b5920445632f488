//! What a metric series read asks for: the aggregation and the fixed buckets.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Sum,
    Count,
    /// Per second: increments (or histogram observations) over the bucket's width.
    Rate,
    /// A quantile, `0.5` for p50.
    Percentile(f64),
    /// The value of the latest point in the bucket.
    Last,
    /// Every number read as a cumulative count (a drop restarts it from 0), summed: what a
    /// gauge of totals such as `k8s.container.restarts` grew by.
    Increase,
}

impl Aggregation {
    pub const NAMES: &'static str =
        "avg, min, max, sum, count, rate, increase, last, p50, p90, p95, p99";

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "avg" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "sum" | "total" => Aggregation::Sum,
            "count" => Aggregation::Count,
            "rate" => Aggregation::Rate,
            "increase" => Aggregation::Increase,
            "last" => Aggregation::Last,
            "p50" => Aggregation::Percentile(0.5),
            "p90" => Aggregation::Percentile(0.9),
            "p95" => Aggregation::Percentile(0.95),
            "p99" => Aggregation::Percentile(0.99),
            _ => return None,
        })
    }

    pub fn api_name(self) -> String {
        match self {
            Aggregation::Avg => "avg".into(),
            Aggregation::Min => "min".into(),
            Aggregation::Max => "max".into(),
            Aggregation::Sum => "sum".into(),
            Aggregation::Count => "count".into(),
            Aggregation::Rate => "rate".into(),
            Aggregation::Last => "last".into(),
            Aggregation::Increase => "increase".into(),
            Aggregation::Percentile(q) => format!("p{}", (q * 100.0).round()),
        }
    }

    /// The `customMeasurements` key a summary stores this quantile under.
    pub fn summary_key(self) -> Option<String> {
        match self {
            Aggregation::Percentile(q) => Some(format!("quantile_{q}")),
            _ => None,
        }
    }

    pub fn needs_buckets(self) -> bool {
        matches!(self, Aggregation::Percentile(_))
    }
}

/// Fixed buckets: `count` of `width_ns` from `start_ns` (a multiple of the width), covering
/// `[from_ns, to_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start_ns: i64,
    pub width_ns: i64,
    pub count: usize,
    pub from_ns: i64,
    pub to_ns: i64,
}

impl Buckets {
    /// `None` for an empty range or a width that is not positive.
    pub fn new(from_ns: i64, to_ns: i64, width_ns: i64) -> Option<Self> {
        if width_ns <= 0 || to_ns <= from_ns {
            return None;
        }
        let start_ns = from_ns.div_euclid(width_ns).checked_mul(width_ns)?;
        let span = to_ns.checked_sub(start_ns)?;
        let count =
            usize::try_from(span.div_euclid(width_ns) + i64::from(span % width_ns != 0)).ok()?;
        Some(Buckets {
            start_ns,
            width_ns,
            count,
            from_ns,
            to_ns,
        })
    }

    /// One bucket of exactly the range (for totals over it).
    pub fn whole(from_ns: i64, to_ns: i64) -> Option<Self> {
        (to_ns > from_ns).then_some(Buckets {
            start_ns: from_ns,
            width_ns: to_ns - from_ns,
            count: 1,
            from_ns,
            to_ns,
        })
    }

    pub fn index(&self, ns: i64) -> Option<usize> {
        if ns < self.from_ns || ns >= self.to_ns {
            return None;
        }
        usize::try_from((ns - self.start_ns).div_euclid(self.width_ns)).ok()
    }

    pub fn time_ns(&self, index: usize) -> i64 {
        self.start_ns + self.width_ns * index as i64
    }
}

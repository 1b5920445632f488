//! Pure functions from wire formats (OTLP, Application Insights envelopes) to rows of the
//! Application Insights model. No I/O, no clocks: the caller passes `now_ns` in [`Context`].
//!
//! Every function consumes its request, so attribute strings move into rows instead of being
//! copied, and counts each input item as accepted or rejected: accepted + rejected = input.

mod attribute_text;
pub mod attributes;
mod dependency;
pub mod envelope;
mod exceptions;
mod genai;
mod genai_endpoint;
pub mod json_text;
mod known;
mod logs;
mod metrics;
mod request;
mod resource;
mod rethrown;
mod sessions;
mod spans;
mod url;
pub mod wire;

use std::sync::Arc;

pub use exceptions::problem_id;
pub use logs::logs;
pub use metrics::metrics;
pub use spans::traces;

use crate::model::Batch;

/// Bounds applied to client data during normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_attribute_key_bytes: usize,
    pub max_attribute_value_bytes: usize,
    pub max_attributes_per_item: usize,
    /// Longest stored message, stack trace or URL.
    pub max_text_bytes: usize,
    /// Oldest accepted item timestamp, relative to now.
    pub max_item_age_ns: i64,
    /// Furthest accepted item timestamp ahead of now (clock skew).
    pub max_item_future_ns: i64,
    /// Most histogram buckets kept per data point.
    pub max_buckets: usize,
    /// Keep prompts and completions recorded by GenAI instrumentations (`false` drops those
    /// attributes at ingest, for privacy).
    pub capture_genai_content: bool,
}

impl Default for Limits {
    fn default() -> Self {
        const HOUR_NS: i64 = 3_600_000_000_000;
        Limits {
            max_attribute_key_bytes: 256,
            max_attribute_value_bytes: 16 * 1024,
            max_attributes_per_item: 256,
            max_text_bytes: 64 * 1024,
            max_item_age_ns: 7 * 24 * HOUR_NS,
            max_item_future_ns: HOUR_NS,
            max_buckets: 512,
            capture_genai_content: true,
        }
    }
}

/// Per-request inputs: limits, the receive time and the authenticated application.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub limits: &'a Limits,
    pub now_ns: i64,
    pub ikey: Arc<str>,
    pub app_name: Arc<str>,
}

/// Why one item was not accepted. Messages name the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("trace id must be 16 bytes, got {0}")]
    TraceIdLength(usize),
    #[error("trace id must not be all zeros")]
    ZeroTraceId,
    #[error("span id must be 8 bytes, got {0}")]
    SpanIdLength(usize),
    #[error("span id must not be all zeros")]
    ZeroSpanId,
    #[error("parent span id must be empty or 8 bytes, got {0}")]
    ParentSpanIdLength(usize),
    #[error("span ends before it starts: start {start_ns} ns, end {end_ns} ns")]
    EndBeforeStart { start_ns: u64, end_ns: u64 },
    #[error("timestamp {0} ns is outside the accepted window")]
    TimestampOutOfWindow(u64),
    #[error("histogram data point has {bounds} bounds but {counts} bucket counts")]
    BucketMismatch { bounds: usize, counts: usize },
    #[error("histogram data point has {0} buckets, more than the limit")]
    TooManyBuckets(usize),
    #[error("exponential histogram scale {0} is outside -10..=20")]
    ScaleOutOfRange(i32),
    #[error("metric data point has no value")]
    MissingValue,
    #[error("{0}")]
    InvalidEnvelope(String),
    #[error(transparent)]
    Malformed(#[from] wire::WireError),
    /// The item's resource cannot be read (e.g. an attribute that is not UTF-8): the items of
    /// that resource are refused, those of the request's other resources are not.
    #[error("its resource is malformed: {0}")]
    MalformedResource(wire::WireError),
}

/// The rows made from one request, and how many input items were accepted or rejected.
#[derive(Debug, Default)]
pub struct Normalized {
    pub batch: Batch,
    pub accepted: u64,
    pub rejected: u64,
    pub first_rejection: Option<Rejection>,
}

impl Normalized {
    fn reject(&mut self, rejection: Rejection) {
        self.rejected += 1;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(rejection);
        }
    }
}

/// Checks an OTLP timestamp against the accepted window and converts it.
fn timestamp_in_window(ts_ns: u64, ctx: &Context<'_>) -> Result<i64, Rejection> {
    let ts = i64::try_from(ts_ns).map_err(|_| Rejection::TimestampOutOfWindow(ts_ns))?;
    let oldest = ctx.now_ns.saturating_sub(ctx.limits.max_item_age_ns);
    let newest = ctx.now_ns.saturating_add(ctx.limits.max_item_future_ns);
    if ts < oldest || ts > newest {
        return Err(Rejection::TimestampOutOfWindow(ts_ns));
    }
    Ok(ts)
}

/// Lower-case hex of an id, or `""` for an empty or all-zero id (Python logs outside a span send
/// zeros, which mean "none").
fn id_hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        return String::new();
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push_str(HEX_PAIRS[usize::from(*byte)]);
    }
    out
}

/// Two lower-case hex digits for every byte value.
static HEX_PAIRS: [&str; 256] = {
    let mut pairs = [""; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = HEX_TABLE.split_at(byte * 2).1.split_at(2).0;
        byte += 1;
    }
    pairs
};

/// `"000102…ff"`: the pairs of [`HEX_PAIRS`], sliced at compile time.
const HEX_TABLE: &str = concat!(
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f",
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
);

/// A trace id that is either absent (empty or zeros, for logs) or exactly 16 bytes.
fn optional_trace_id(bytes: &[u8]) -> Result<String, Rejection> {
    match bytes.len() {
        0 | 16 => Ok(id_hex(bytes)),
        n => Err(Rejection::TraceIdLength(n)),
    }
}

fn optional_span_id(bytes: &[u8]) -> Result<String, Rejection> {
    match bytes.len() {
        0 | 8 => Ok(id_hex(bytes)),
        n => Err(Rejection::SpanIdLength(n)),
    }
}

/// A stable id for rows that have none of their own (log lines, exceptions, metric points):
/// 16 hex digits of FNV-1a over the fields that identify the item.
fn item_id(parts: &[&[u8]]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in parts {
        for byte in part.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod fixture_tests;

#[cfg(test)]
mod case_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_pairs_cover_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(id_hex(&all), hex::encode(&all));
    }

    #[test]
    fn zero_ids_mean_none() {
        assert_eq!(id_hex(&[0; 16]), "");
        assert_eq!(optional_trace_id(&[0; 16]), Ok(String::new()));
        assert_eq!(optional_trace_id(&[1; 3]), Err(Rejection::TraceIdLength(3)));
        assert_eq!(
            optional_span_id(&[0xab; 8]),
            Ok("abababababababab".to_owned())
        );
    }

    #[test]
    fn window_rejects_absurd_timestamps() {
        let limits = Limits::default();
        let ctx = Context {
            limits: &limits,
            now_ns: 1_800_000_000_000_000_000,
            ikey: "".into(),
            app_name: "".into(),
        };
        assert!(timestamp_in_window(1_800_000_000_000_000_000, &ctx).is_ok());
        assert!(timestamp_in_window(0, &ctx).is_err());
        assert!(timestamp_in_window(u64::MAX, &ctx).is_err());
    }

    #[test]
    fn item_ids_are_stable_and_distinguish_parts() {
        assert_eq!(item_id(&[b"a", b"b"]), item_id(&[b"a", b"b"]));
        assert_ne!(item_id(&[b"ab", b""]), item_id(&[b"a", b"b"]));
        assert_eq!(item_id(&[b"x"]).len(), 16);
    }
}

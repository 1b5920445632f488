//! Runs decode + normalize of the benchmark workload a fixed number of times: a steady target
//! for `valgrind --tool=callgrind`, whose instruction counts do not vary with machine load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use prost::Message;
use tracehouse::normalize::{Context, Limits, traces};
use tracehouse::workload::{Workload, span_count};

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let now = 1_800_000_000_000_000_000u64;
    let request = Workload::new(42).request(120, now);
    let spans = span_count(&request);
    let body = request.encode_to_vec();
    let limits = Limits::default();
    let started = std::time::Instant::now();
    let mut accepted = 0;
    for _ in 0..iterations {
        let ctx = Context {
            limits: &limits,
            now_ns: now as i64,
            ikey: "k".into(),
            app_name: "a".into(),
        };
        accepted += traces(&body, &ctx).expect("frames").accepted;
    }
    let elapsed = started.elapsed();
    let total = (spans * iterations) as f64;
    eprintln!(
        "{accepted} spans, {:.0} spans/s, {:.0} ns/span",
        total / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / total
    );
}

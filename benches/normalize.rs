//! Decode + normalize throughput for realistic GenAI trace exports (see `tracehouse::workload`),
//! in spans per second. Target: at least 1,000,000 spans/s per core for protobuf.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracehouse::normalize::{Context, Limits, traces};
use tracehouse::workload::{Workload, span_count};

const NOW_NS: u64 = 1_800_000_000_000_000_000;
/// Operations per export request: about 500 spans, the OTel SDK's default batch size of 512.
const OPERATIONS: usize = 120;

fn bench(c: &mut Criterion) {
    let request = Workload::new(42).request(OPERATIONS, NOW_NS);
    let spans = span_count(&request) as u64;
    let protobuf = request.encode_to_vec();
    let json = serde_json::to_vec(&request).expect("json");
    let limits = Limits::default();
    let context = || Context {
        limits: &limits,
        now_ns: NOW_NS as i64,
        ikey: "00000000-0000-0000-0000-000000000001".into(),
        app_name: "rag".into(),
    };

    let mut group = c.benchmark_group("traces");
    group.throughput(Throughput::Elements(spans));
    group.bench_function("decode_and_normalize_protobuf", |b| {
        b.iter(|| traces(&protobuf, &context()).expect("frames"))
    });
    group.bench_function("decode_and_normalize_json", |b| {
        b.iter(|| {
            let request: ExportTraceServiceRequest = serde_json::from_slice(&json).expect("json");
            traces(&request.encode_to_vec(), &context()).expect("frames")
        })
    });
    let batch = traces(&protobuf, &context()).expect("frames").batch;
    group.bench_function("encode_rowbinary", |b| {
        b.iter(|| {
            tracehouse::store::clickhouse::encoded::encode(
                &batch,
                1,
                tracehouse::store::clickhouse::encoded::Sharding::None,
            )
            .expect("encodes")
        })
    });
    // The per-minute rollup rows both stores write with each batch (part of encode_rowbinary).
    group.bench_function("rollups_of", |b| {
        b.iter(|| tracehouse::store::rollup::rollups_of(&batch))
    });
    // For comparison: what prost's generated decoder alone costs for the same bytes.
    group.bench_function("prost_decode_only", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(protobuf.as_slice()).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

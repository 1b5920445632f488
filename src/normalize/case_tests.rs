//! Hand-built requests for what the fixtures do not cover: rejections, the new semantic
//! conventions, exception logs, every metric point type, and properties over random input.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use proptest::prelude::*;

use super::attributes::{DROPPED_KEY, TRUNCATED_KEY};
use super::test_support::{int_kv, kv, resource};
use super::{Context, Limits, Normalized, Rejection, metrics};

/// The byte-level normalizers, fed prost-built requests.
fn traces(request: ExportTraceServiceRequest, ctx: &Context<'_>) -> Normalized {
    super::traces(&prost::Message::encode_to_vec(&request), ctx).expect("request frames")
}

fn logs(request: ExportLogsServiceRequest, ctx: &Context<'_>) -> Normalized {
    super::logs(&prost::Message::encode_to_vec(&request), ctx).expect("request frames")
}

const NOW_NS: u64 = 1_800_000_000_000_000_000;

fn context(limits: &Limits) -> Context<'_> {
    Context {
        limits,
        now_ns: NOW_NS as i64,
        ikey: "".into(),
        app_name: "".into(),
    }
}

fn span(kind: SpanKind, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        name: "span".into(),
        kind: kind as i32,
        start_time_unix_nano: NOW_NS - 2_000_000,
        end_time_unix_nano: NOW_NS - 1_000_000,
        attributes,
        ..Default::default()
    }
}

fn trace_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(vec![kv("service.name", "svc")])),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn new_http_server_conventions_map_like_the_old_ones() {
    let limits = Limits::default();
    let old = span(
        SpanKind::Server,
        vec![
            kv("http.method", "GET"),
            kv("http.route", "/items/{id}"),
            int_kv("http.status_code", 404),
        ],
    );
    let new = span(
        SpanKind::Server,
        vec![
            kv("http.request.method", "GET"),
            kv("http.route", "/items/{id}"),
            int_kv("http.response.status_code", 404),
        ],
    );
    let old = traces(trace_request(vec![old]), &context(&limits))
        .batch
        .requests;
    let new = traces(trace_request(vec![new]), &context(&limits))
        .batch
        .requests;
    assert_eq!(old[0].data.name, "GET /items/{id}");
    assert_eq!(old[0].data.name, new[0].data.name);
    assert_eq!(old[0].data.result_code, "404");
    assert_eq!(old[0].data.result_code, new[0].data.result_code);
    assert!(!new[0].data.success);
}

#[test]
fn local_roots_are_requests_and_remote_children_too() {
    let limits = Limits::default();
    let mut root = span(SpanKind::Internal, vec![]);
    root.parent_span_id.clear();
    let mut remote_child = span(SpanKind::Internal, vec![]);
    remote_child.span_id = vec![4; 8];
    remote_child.flags = 0x300;
    let mut local_child = span(SpanKind::Internal, vec![]);
    local_child.span_id = vec![5; 8];
    local_child.flags = 0x100;
    let out = traces(
        trace_request(vec![root, remote_child, local_child]),
        &context(&limits),
    );
    assert_eq!(out.batch.requests.len(), 2);
    assert_eq!(out.batch.dependencies.len(), 1);
    assert_eq!(out.batch.dependencies[0].data.dependency_type, "InProc");
}

#[test]
fn rejects_bad_spans_one_by_one() {
    let limits = Limits::default();
    let good = span(SpanKind::Client, vec![]);
    let mut short_trace = span(SpanKind::Client, vec![]);
    short_trace.trace_id = vec![1; 15];
    let mut zero_span = span(SpanKind::Client, vec![]);
    zero_span.span_id = vec![0; 8];
    let mut bad_parent = span(SpanKind::Client, vec![]);
    bad_parent.parent_span_id = vec![1; 3];
    let mut backwards = span(SpanKind::Client, vec![]);
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
    let mut ancient = span(SpanKind::Client, vec![]);
    ancient.start_time_unix_nano = 1;
    let mut far_future = span(SpanKind::Client, vec![]);
    far_future.end_time_unix_nano = u64::MAX;
    let out = traces(
        trace_request(vec![
            good,
            short_trace,
            zero_span,
            bad_parent,
            backwards,
            ancient,
            far_future,
        ]),
        &context(&limits),
    );
    assert_eq!((out.accepted, out.rejected), (1, 6));
    assert_eq!(out.first_rejection, Some(Rejection::TraceIdLength(15)));
    assert_eq!(out.batch.dependencies.len(), 1);
    assert_eq!(
        Rejection::EndBeforeStart {
            start_ns: 5,
            end_ns: 4
        }
        .to_string(),
        "span ends before it starts: start 5 ns, end 4 ns"
    );
}

#[test]
fn huge_attribute_sets_are_capped_and_marked() {
    let limits = Limits::default();
    let mut attributes: Vec<KeyValue> = (0..10_000).map(|i| kv(&format!("k{i}"), "v")).collect();
    attributes.push(kv("big", &"x".repeat(1_000_000)));
    attributes.insert(0, kv("first-big", &"y".repeat(1_000_000)));
    let out = traces(
        trace_request(vec![span(SpanKind::Client, attributes)]),
        &context(&limits),
    );
    let dims = &out.batch.dependencies[0].common.dimensions;
    assert_eq!(
        dims.get("first-big").map(str::len),
        Some(limits.max_attribute_value_bytes)
    );
    assert_eq!(dims.get(TRUNCATED_KEY), Some("first-big"));
    assert_eq!(dims.get(DROPPED_KEY), Some("9746"));
}

#[test]
fn span_events_become_rows_of_their_span() {
    let limits = Limits::default();
    let mut s = span(SpanKind::Server, vec![]);
    s.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "boom".into(),
    });
    s.events = vec![
        Event {
            time_unix_nano: NOW_NS - 1_500_000,
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", "ValueError"),
                kv("exception.message", "bad input"),
                kv("exception.escaped", "true"),
            ],
            ..Default::default()
        },
        Event {
            time_unix_nano: 0,
            name: "cache miss".into(),
            attributes: vec![kv("key", "a")],
            ..Default::default()
        },
    ];
    let out = traces(trace_request(vec![s]), &context(&limits));
    let request = &out.batch.requests[0];
    assert!(!request.data.success);
    assert_eq!(
        request.common.dimensions.get("otel.status_description"),
        Some("boom")
    );
    let exception = &out.batch.exceptions[0];
    assert_eq!(exception.data.exception_type, "ValueError");
    assert_eq!(exception.common.operation_parent_id, request.data.id);
    assert_eq!(
        exception.common.dimensions.get("exception.escaped"),
        Some("true")
    );
    let line = &out.batch.traces[0];
    assert_eq!(line.data.message, "cache miss");
    assert_eq!(line.common.timestamp_ns, request.common.timestamp_ns);
    assert_ne!(line.common.item_id, exception.common.item_id);
}

fn log_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(vec![kv("service.name", "worker")])),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn record(body: &str, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        time_unix_nano: NOW_NS - 1_000,
        severity_number: 17,
        body: Some(AnyValue {
            value: Some(Value::StringValue(body.into())),
        }),
        attributes,
        ..Default::default()
    }
}

#[test]
fn logs_with_exceptions_events_and_no_span() {
    let limits = Limits::default();
    let mut outside_span = record("  ", vec![]);
    outside_span.trace_id = vec![0; 16];
    outside_span.span_id = vec![0; 8];
    let mut bad_id = record("x", vec![]);
    bad_id.span_id = vec![9; 5];
    let out = logs(
        log_request(vec![
            record(
                "division failed",
                vec![
                    kv("exception.type", "ZeroDivisionError"),
                    kv("exception.message", "division by zero"),
                    kv(
                        "exception.stacktrace",
                        "Traceback:\n  File \"/app/x.py\", line 1, in job\n",
                    ),
                ],
            ),
            record(
                "",
                vec![
                    kv("microsoft.custom_event.name", "AnswerRated"),
                    kv("rating", "4"),
                ],
            ),
            outside_span,
            bad_id,
        ]),
        &context(&limits),
    );
    assert_eq!((out.accepted, out.rejected), (3, 1));
    assert_eq!(out.first_rejection, Some(Rejection::SpanIdLength(5)));
    let exception = &out.batch.exceptions[0];
    assert_eq!(
        exception.data.message, "division failed",
        "the body wins over exception.message"
    );
    assert_eq!(exception.data.problem_id, "ZeroDivisionError at job");
    assert_eq!(exception.data.severity_level, 3);
    assert_eq!(out.batch.custom_events[0].data.name, "AnswerRated");
    assert_eq!(
        out.batch.custom_events[0].common.dimensions.get("rating"),
        Some("4")
    );
    let line = &out.batch.traces[0];
    assert_eq!(line.data.message, "n/a");
    assert_eq!(line.common.operation_id, "");
    assert_eq!(line.common.operation_parent_id, "");
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: "ms".into(),
        data: Some(data),
        ..Default::default()
    }
}

fn number(value: f64) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: NOW_NS,
        value: Some(number_data_point::Value::AsDouble(value)),
        attributes: vec![kv("model", "gpt-4o")],
        ..Default::default()
    }
}

#[test]
fn every_metric_point_type_becomes_a_custom_metric() {
    let limits = Limits::default();
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(vec![kv("service.name", "svc")])),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "queue.depth",
                        Data::Gauge(Gauge {
                            data_points: vec![number(12.0)],
                        }),
                    ),
                    metric(
                        "tokens",
                        Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                value: Some(number_data_point::Value::AsInt(1234)),
                                ..number(0.0)
                            }],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "latency",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: NOW_NS,
                                count: 3,
                                sum: Some(16100.5),
                                bucket_counts: vec![1, 1, 1],
                                explicit_bounds: vec![250.0, 1000.0],
                                min: Some(120.5),
                                max: Some(15000.0),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "exp",
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                time_unix_nano: NOW_NS,
                                count: 4,
                                sum: Some(10.0),
                                scale: 0,
                                zero_count: 1,
                                positive: Some(Buckets {
                                    offset: 0,
                                    bucket_counts: vec![1, 1],
                                }),
                                negative: Some(Buckets {
                                    offset: 0,
                                    bucket_counts: vec![1],
                                }),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "summary",
                        Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                time_unix_nano: NOW_NS,
                                count: 2,
                                sum: 3.0,
                                quantile_values: vec![
                                    ValueAtQuantile {
                                        quantile: 0.0,
                                        value: 1.0,
                                    },
                                    ValueAtQuantile {
                                        quantile: 0.5,
                                        value: 1.5,
                                    },
                                    ValueAtQuantile {
                                        quantile: 1.0,
                                        value: 2.0,
                                    },
                                ],
                                ..Default::default()
                            }],
                        }),
                    ),
                    metric(
                        "broken",
                        Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: NOW_NS,
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![1.0, 2.0, 3.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = metrics(request, &context(&limits));
    assert_eq!((out.accepted, out.rejected), (5, 1));
    assert_eq!(
        out.first_rejection,
        Some(Rejection::BucketMismatch {
            bounds: 3,
            counts: 2
        })
    );
    let by_name = |name: &str| {
        out.batch
            .custom_metrics
            .iter()
            .find(|m| m.data.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let gauge = by_name("queue.depth");
    assert_eq!(
        (
            gauge.data.metric_type,
            gauge.data.value,
            gauge.data.value_count
        ),
        ("gauge", 12.0, 1)
    );
    assert_eq!(gauge.common.dimensions.get("model"), Some("gpt-4o"));
    let sum = by_name("tokens");
    assert_eq!(
        (sum.data.value, sum.data.aggregation_temporality),
        (1234.0, "cumulative")
    );
    let histogram = by_name("latency");
    assert_eq!(histogram.data.value_sum, 16100.5);
    assert_eq!(
        (histogram.data.value_min, histogram.data.value_max),
        (120.5, 15000.0)
    );
    assert_eq!(histogram.data.bucket_bounds, vec![250.0, 1000.0]);
    assert_eq!(histogram.data.bucket_counts, vec![1, 1, 1]);
    let exp = by_name("exp");
    assert_eq!(exp.data.bucket_bounds, vec![-1.0, 0.0, 2.0, 4.0]);
    assert_eq!(exp.data.bucket_counts, vec![1, 1, 1, 1, 0]);
    assert_eq!(
        (exp.data.value_min, exp.data.value_max),
        (2.5, 2.5),
        "mean stands in"
    );
    let summary = by_name("summary");
    assert_eq!((summary.data.value_min, summary.data.value_max), (1.0, 2.0));
    assert_eq!(summary.common.measurements.get("quantile_0.5"), Some(1.5));
}

fn any_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn arbitrary_span() -> impl Strategy<Value = Span> {
    (
        prop_oneof![Just(vec![7u8; 16]), any_bytes(20)],
        prop_oneof![Just(vec![8u8; 8]), any_bytes(10)],
        any_bytes(9),
        0i32..8,
        prop_oneof![Just(NOW_NS - 10), any::<u64>()],
        prop_oneof![Just(NOW_NS), any::<u64>()],
        prop::collection::vec(("[a-z._]{0,12}", any::<i64>()), 0..6),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, parent_span_id, kind, start, end, attrs, flags)| Span {
                trace_id,
                span_id,
                parent_span_id,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                flags,
                attributes: attrs.into_iter().map(|(k, v)| int_kv(&k, v)).collect(),
                events: vec![Event {
                    time_unix_nano: start,
                    name: "exception".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
}

proptest! {
    #[test]
    fn normalizing_spans_never_panics_and_counts_every_span(spans in prop::collection::vec(arbitrary_span(), 0..20)) {
        let limits = Limits::default();
        let input = spans.len() as u64;
        let out = traces(trace_request(spans), &context(&limits));
        prop_assert_eq!(out.accepted + out.rejected, input);
        prop_assert_eq!(out.batch.requests.len() + out.batch.dependencies.len(), out.accepted as usize);
    }

    #[test]
    fn normalizing_logs_never_panics_and_counts_every_record(
        records in prop::collection::vec((any_bytes(17), any_bytes(9), any::<u64>(), any::<u64>(), any::<i32>()), 0..20)
    ) {
        let limits = Limits::default();
        let input = records.len() as u64;
        let records = records
            .into_iter()
            .map(|(trace_id, span_id, time, observed, severity)| LogRecord {
                trace_id,
                span_id,
                time_unix_nano: time,
                observed_time_unix_nano: observed,
                severity_number: severity,
                ..Default::default()
            })
            .collect();
        let out = logs(log_request(records), &context(&limits));
        prop_assert_eq!(out.accepted + out.rejected, input);
    }

    #[test]
    fn normalizing_exponential_histograms_never_panics(
        scale in any::<i32>(), offset in any::<i32>(), counts in prop::collection::vec(any::<u64>(), 0..600)
    ) {
        let limits = Limits::default();
        let point = ExponentialHistogramDataPoint {
            time_unix_nano: NOW_NS,
            scale,
            positive: Some(Buckets { offset, bucket_counts: counts.clone() }),
            negative: Some(Buckets { offset, bucket_counts: counts }),
            ..Default::default()
        };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric("m", Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![point],
                        aggregation_temporality: 1,
                    }))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let out = metrics(request, &context(&limits));
        prop_assert_eq!(out.accepted + out.rejected, 1);
    }
}

/// Replaces the bytes of `marker` in an encoded request by bytes that are not UTF-8.
fn break_utf8(mut encoded: Vec<u8>, marker: &str) -> Vec<u8> {
    let at = encoded
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("marker encoded");
    encoded[at] = 0xff;
    encoded[at + 1] = 0xfe;
    encoded
}

#[test]
fn a_resource_that_is_not_utf8_refuses_only_its_own_items() {
    let limits = Limits::default();
    let mut request = trace_request(vec![span(SpanKind::Server, vec![])]);
    let mut bad = request.resource_spans[0].clone();
    bad.resource = Some(resource(vec![kv("service.name", "BADUTF8-marker")]));
    bad.scope_spans[0]
        .spans
        .push(span(SpanKind::Client, vec![]));
    request.resource_spans.push(bad);
    let body = break_utf8(prost::Message::encode_to_vec(&request), "BADUTF8-marker");
    let out = super::traces(&body, &context(&limits)).expect("the request frames");
    assert_eq!((out.accepted, out.rejected), (1, 2));
    assert!(matches!(
        out.first_rejection,
        Some(Rejection::MalformedResource(_))
    ));
    assert_eq!(out.batch.requests.len(), 1);

    let logs = ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                resource: Some(resource(vec![kv("service.name", "BADUTF8-marker")])),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default()],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceLogs {
                resource: Some(resource(vec![kv("service.name", "svc")])),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: NOW_NS - 1_000,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    };
    let body = break_utf8(prost::Message::encode_to_vec(&logs), "BADUTF8-marker");
    let out = super::logs(&body, &context(&limits)).expect("the request frames");
    assert_eq!((out.accepted, out.rejected), (1, 1));
}

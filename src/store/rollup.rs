//! Per-minute rollups of requests and dependencies: what both stores write next to each
//! batch's rows (one row per minute and combination of the [`DIMENSIONS`], holding a
//! [`Partial`]), and which stats reads they can answer. A read over a long range then adds up
//! a few rows per minute instead of every span; the partial minutes at the range's ends are
//! read from the spans themselves, so counts stay exact at any range.

use std::collections::HashMap;

use crate::model::Batch;
use crate::reads::binned::{Partial, SpanFacts};
use crate::reads::{Column, Filter, Percentiles, Selection, Source, StatsQuery, TimeRange};

/// The table, in both stores.
pub const TABLE: &str = "span_rollups";
pub use crate::time::{MINUTE_NS, minute_of};

/// What a rollup row is keyed by besides its minute and source, in table order. Columns of
/// unbounded cardinality (instances, sessions, users, prompts) are left out: reads that group
/// or filter by them read the spans.
/// Where `name` is among [`DIMENSIONS`] (and a [`RollupKey`]'s text, which comes before
/// `success`).
pub const NAME_DIMENSION: usize = 2;
const _: () = assert!(matches!(DIMENSIONS[NAME_DIMENSION], Column::Name));

pub const DIMENSIONS: [Column; 12] = [
    Column::AppName,
    Column::RoleName,
    Column::Name,
    Column::OperationName,
    Column::ResultCode,
    Column::Success,
    Column::Type,
    Column::Target,
    Column::GenAiProvider,
    Column::GenAiOperation,
    Column::GenAiModel,
    Column::GenAiResponseModel,
];

/// The text dimensions (all but `success`), in [`DIMENSIONS`] order.
pub const TEXT_DIMENSIONS: usize = 11;

/// A rollup row's key, borrowed from the batch's rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey<'a> {
    pub source: Source,
    pub minute_ns: i64,
    /// [`DIMENSIONS`] without `success`, in order.
    pub text: [&'a str; TEXT_DIMENSIONS],
    pub success: bool,
}

/// The facts of one stored span.
fn facts(item_count: u32, duration_ms: f64, success: bool, result_code: &str) -> SpanFacts {
    SpanFacts {
        duration_ms,
        item_count,
        success,
        result_code_429: result_code == "429",
        input_tokens: 0,
        output_tokens: 0,
    }
}

/// A row being built: its aggregate and its newest `(timestamp, operation id)`, borrowed.
type Building<'a> = (Partial, (i64, &'a str));

fn add<'a>(
    rows: &mut HashMap<RollupKey<'a>, Building<'a>, foldhash::fast::RandomState>,
    key: RollupKey<'a>,
    common: &'a crate::model::Common,
    span: &SpanFacts,
) {
    let latest = (common.timestamp_ns, common.operation_id.as_str());
    let (partial, newest) = rows
        .entry(key)
        .or_insert_with(|| (Partial::default(), latest));
    partial.add_span(span);
    if latest > *newest {
        *newest = latest;
    }
}

/// The rollup rows of a batch's requests and dependencies, sorted by key. Per span this is a
/// hash of borrowed columns and a few additions: it runs on every written batch. The keys
/// borrow the batch's text.
pub fn rollups_of(batch: &Batch) -> Vec<(RollupKey<'_>, Partial)> {
    let mut rows = HashMap::with_hasher(foldhash::fast::RandomState::default());
    for request in &batch.requests {
        let c = &request.common;
        let r = &request.data;
        let key = RollupKey {
            source: Source::Requests,
            minute_ns: minute_of(c.timestamp_ns),
            text: [
                &c.app_name,
                &c.resource.cloud_role_name,
                &r.name,
                &c.operation_name,
                &r.result_code,
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            success: r.success,
        };
        let span = facts(c.item_count, r.duration_ms, r.success, &r.result_code);
        add(&mut rows, key, c, &span);
    }
    for dependency in &batch.dependencies {
        let c = &dependency.common;
        let d = &dependency.data;
        let key = RollupKey {
            source: Source::Dependencies,
            minute_ns: minute_of(c.timestamp_ns),
            text: [
                &c.app_name,
                &c.resource.cloud_role_name,
                &d.name,
                &c.operation_name,
                &d.result_code,
                &d.dependency_type,
                &d.target,
                &d.genai.provider,
                &d.genai.operation,
                &d.genai.request_model,
                &d.genai.response_model,
            ],
            success: d.success,
        };
        let mut span = facts(c.item_count, d.duration_ms, d.success, &d.result_code);
        span.input_tokens = d.genai.input_tokens;
        span.output_tokens = d.genai.output_tokens;
        add(&mut rows, key, c, &span);
    }
    let mut rows: Vec<(RollupKey<'_>, Partial)> = rows
        .into_iter()
        .map(|(key, (mut partial, (ts, operation_id)))| {
            partial.latest = Some((ts, operation_id.to_owned()));
            (key, partial)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// How a read splits into whole minutes (read from the rollups) and the ends of its range
/// (read from the spans).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupPlan {
    pub minutes: TimeRange,
    pub edges: Vec<TimeRange>,
}

/// Whether the rollups can answer a selection's rows: a span table, filtered only on the
/// rolled-up columns (no duration bounds, no `customDimensions`), over at least one whole
/// minute.
pub fn plan_selection(selection: &Selection) -> Option<RollupPlan> {
    if !selection.source.is_span() {
        return None;
    }
    let rolled_up = |column: &Column| DIMENSIONS.contains(column);
    let filters_fit = selection.filters.iter().all(|filter| match filter {
        Filter::Equals(column, _)
        | Filter::OneOf(column, _)
        | Filter::NotEmpty(column)
        | Filter::NotStartingWith(column, _) => rolled_up(column),
        Filter::Dimension(..) | Filter::DurationAtLeast(_) | Filter::DurationAtMost(_) => false,
    });
    if !filters_fit {
        return None;
    }
    let range = selection.range;
    let first = range.from_ns.checked_add(MINUTE_NS - 1).map(minute_of)?;
    let last = minute_of(range.to_ns);
    if first >= last {
        return None;
    }
    let edges = [
        TimeRange {
            from_ns: range.from_ns,
            to_ns: first,
        },
        TimeRange {
            from_ns: last,
            to_ns: range.to_ns,
        },
    ]
    .into_iter()
    .filter(|edge| edge.from_ns < edge.to_ns)
    .collect();
    Some(RollupPlan {
        minutes: TimeRange {
            from_ns: first,
            to_ns: last,
        },
        edges,
    })
}

/// Whether the rollups can answer a stats read: binned percentiles (or none) asked, grouped by
/// rolled-up columns, in buckets of whole minutes, over a selection they answer.
pub fn plan(query: &StatsQuery) -> Option<RollupPlan> {
    let fits = query.percentiles != Percentiles::Exact
        && query.group_by.iter().all(|c| DIMENSIONS.contains(c))
        && query.bucket_s.is_none_or(|s| s > 0 && s % 60 == 0);
    if fits {
        plan_selection(&query.selection)
    } else {
        None
    }
}

/// The same read narrowed to another range (an edge of the plan).
pub fn narrowed(query: &StatsQuery, range: TimeRange) -> StatsQuery {
    let mut narrowed = query.clone();
    narrowed.selection.range = range;
    narrowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Common, Dependency, Item, Request};
    use crate::reads::AppScope;

    fn selection(from_ns: i64, to_ns: i64, filters: Vec<Filter>) -> Selection {
        Selection {
            source: Source::Requests,
            range: TimeRange { from_ns, to_ns },
            scope: AppScope::All,
            filters,
        }
    }

    fn query(selection: Selection, group_by: Vec<Column>, bucket_s: Option<u32>) -> StatsQuery {
        StatsQuery {
            selection,
            group_by,
            bucket_s,
            percentiles: Percentiles::Binned,
        }
    }

    #[test]
    fn whole_minutes_from_the_rollups_and_the_ends_from_the_spans() {
        let m = MINUTE_NS;
        let plan = plan(&query(selection(m + 5, 4 * m + 7, vec![]), vec![], None)).expect("fits");
        assert_eq!(
            plan.minutes,
            TimeRange {
                from_ns: 2 * m,
                to_ns: 4 * m
            }
        );
        assert_eq!(
            plan.edges,
            vec![
                TimeRange {
                    from_ns: m + 5,
                    to_ns: 2 * m
                },
                TimeRange {
                    from_ns: 4 * m,
                    to_ns: 4 * m + 7
                },
            ]
        );
        // Aligned ranges have no edges; less than a whole minute is read from the spans.
        let aligned = super::plan(&query(selection(m, 3 * m, vec![]), vec![], None));
        assert_eq!(aligned.map(|p| p.edges.len()), Some(0));
        assert!(super::plan(&query(selection(m + 1, 2 * m + 5, vec![]), vec![], None)).is_none());
        // Negative times floor like the bucket arithmetic.
        assert_eq!(minute_of(-1), -m);
        assert_eq!(minute_of(i64::MIN), i64::MIN);
        let extreme = selection(i64::MIN, i64::MAX, vec![]);
        assert!(plan_selection(&extreme).is_some());
    }

    #[test]
    fn reads_beyond_the_rolled_up_columns_read_the_spans() {
        let whole = || selection(0, 10 * MINUTE_NS, vec![]);
        assert!(
            plan(&query(
                whole(),
                vec![Column::Name, Column::Success],
                Some(300)
            ))
            .is_some()
        );
        assert!(plan(&query(whole(), vec![Column::RoleInstance], None)).is_none());
        assert!(plan(&query(whole(), vec![], Some(30))).is_none());
        let mut exact = query(whole(), vec![], None);
        exact.percentiles = Percentiles::Exact;
        assert!(plan(&exact).is_none());
        exact.percentiles = Percentiles::Unused;
        assert!(plan(&exact).is_some());
        for filter in [
            Filter::DurationAtLeast(5.0),
            Filter::Dimension("k".into(), "v".into()),
            Filter::Equals(Column::SessionId, "s".into()),
        ] {
            let narrowed = selection(0, 10 * MINUTE_NS, vec![filter.clone()]);
            assert!(plan_selection(&narrowed).is_none(), "{filter:?}");
        }
        let by_target = selection(0, 10 * MINUTE_NS, vec![Filter::NotEmpty(Column::Target)]);
        assert!(plan_selection(&by_target).is_some());
        let mut exceptions = whole();
        exceptions.source = Source::Exceptions;
        assert!(plan_selection(&exceptions).is_none());
    }

    #[test]
    fn a_batch_rolls_up_per_minute_and_combination() {
        let common = |ts: i64, op: &str| Common {
            timestamp_ns: ts,
            app_name: "shop".into(),
            operation_id: op.into(),
            operation_name: "POST /chat".into(),
            item_count: 1,
            ..Common::default()
        };
        let request = |ts: i64, ms: f64, success: bool| Item {
            common: common(ts, "op"),
            data: Request {
                name: "POST /chat".into(),
                result_code: if success { "200" } else { "500" }.into(),
                success,
                duration_ms: ms,
                ..Request::default()
            },
        };
        let batch = Batch {
            requests: vec![
                request(5, 100.0, true),
                request(10, 300.0, true),
                request(MINUTE_NS + 1, 200.0, true),
                request(20, 50.0, false),
            ],
            dependencies: vec![Item {
                common: common(7, "op"),
                data: Dependency {
                    target: "myaoai.openai.azure.com".into(),
                    result_code: "429".into(),
                    duration_ms: 2_000.0,
                    ..Dependency::default()
                },
            }],
            ..Batch::default()
        };
        let rows = rollups_of(&batch);
        let summary: Vec<(Source, i64, bool, u64)> = rows
            .iter()
            .map(|(k, p)| (k.source, k.minute_ns, k.success, p.count))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Source::Requests, 0, true, 2),
                (Source::Requests, 0, false, 1),
                (Source::Requests, MINUTE_NS, true, 1),
                (Source::Dependencies, 0, false, 1),
            ]
        );
        let (key, call) = &rows[3];
        assert_eq!(key.text[6], "myaoai.openai.azure.com");
        assert_eq!((call.throttled, call.throttled_ms), (1, 2_000.0));
        assert_eq!(rows[0].1.duration_sum_ms, 400.0);
    }
}

//! `/performance`: operations (or dependencies) with count, failure rate and duration
//! percentiles, sortable; for the selected one (or all) the duration distribution with its
//! percentiles marked and count and percentiles over time, every band and bar opening its samples.

use axum::extract::{RawQuery, State};
use maud::html;

use super::chart::{self, Series, Size};
use super::format::{Query, duration, percent};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::stats_page;
use crate::api::params::{FILTER, FROM, ParamType, TABLE, TO, param};
use crate::api::{ApiError, ApiState};
use crate::reads::histogram::DurationHistogram;
use crate::reads::{Column, Filter, Percentiles, Selection, Source, StatsQuery, StatsRow};

const PARAMS: &[crate::api::params::ParamSpec] = &[
    TABLE,
    FROM,
    TO,
    crate::api::params::PERCENTILES,
    FILTER,
    param(
        "sort",
        ParamType::String,
        "count, failures, avg, p50, p95 or p99",
    ),
    param(
        "operation",
        ParamType::String,
        "the operation (or dependency target) whose distribution is shown",
    ),
    param(
        "operation_type",
        ParamType::String,
        "with a dependency target: its dependency type",
    ),
];

/// The figure a column sorts by, largest first.
fn sort_key(sort: &str) -> fn(&StatsRow) -> f64 {
    match sort {
        "count" => |r| r.count as f64,
        "failures" => |r| r.failed as f64 / r.count.max(1) as f64,
        "avg" => |r| r.duration_sum_ms / r.count.max(1) as f64,
        "p50" => |r| r.percentiles_ms[0],
        "p99" => |r| r.percentiles_ms[3],
        _ => |r| r.percentiles_ms[2],
    }
}

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (state, raw) = (&state, raw.as_deref());
    let (access, query) = super::open(access, raw, PARAMS)?;
    let source = query.params.table()?;
    let group_by = match source {
        Source::Dependencies => vec![Column::Type, Column::Target],
        _ => vec![Column::Name],
    };
    let selection = query.params.selection(source, &access.scope)?;
    let selected = query.params.get("operation");
    let selected_type = query.params.get("operation_type");
    let percentiles = query.params.percentiles()?;
    let stats = StatsQuery {
        selection: selection.clone(),
        group_by,
        bucket_s: None,
        percentiles,
    };
    let detail = Detail::of(selection, source, selected, selected_type, percentiles);
    let ((mut rows, truncated), loaded) =
        tokio::try_join!(stats_page(state, &stats, 500), detail.load(state))?;
    let sort = query.params.get("sort").unwrap_or("p95");
    let key = sort_key(sort);
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    let widest = rows.iter().map(|r| r.percentiles_ms[2]).fold(0.0, f64::max);
    // A row is named by its name, or a dependency by its type and target.
    let name_of = |row: &StatsRow| match source {
        Source::Dependencies => (row.group[1].clone(), Some(row.group[0].clone())),
        _ => (row.group[0].clone(), None),
    };
    let headings = [
        ("count", "Count"),
        ("failures", "Failed"),
        ("avg", "Avg"),
        ("p50", "p50"),
        ("p95", "p95"),
        ("p99", "p99"),
    ];
    let body = html! {
        h1 { "Performance" }
        div.tabs {
            a.current[source == Source::Requests] href=(query.link("/performance", &[("table", None)])) { "Operations" }
            a.current[source == Source::Dependencies] href=(query.link("/performance", &[("table", Some("dependencies"))])) { "Dependencies" }
        }
        (detail.render(&query, &loaded))
        @if rows.is_empty() {
            p.empty { "Nothing in this time range." }
        } @else {
            table.grid {
                thead { tr {
                    th { @if source == Source::Dependencies { "Dependency" } @else { "Operation" } }
                    @for (name, label) in headings {
                        th.num { a.current[sort == name] href=(query.link("/performance", &[("sort", Some(name))])) { (label) } }
                    }
                    th { "p95, relative" }
                    th { "Slow calls" }
                }}
                tbody {
                    @for row in &rows {
                        @let (value, kind) = name_of(row);
                        @let row_detail = Detail::of(detail.selection.clone(), source, Some(&value), kind.as_deref(), detail.percentiles);
                        tr {
                            td.selected[selected == Some(value.as_str()) && selected_type == kind.as_deref()] {
                                @if let Some(kind) = &kind { span.type { (kind) } " " }
                                a.operation href=(query.link("/performance", &[("operation", Some(&value)), ("operation_type", kind.as_deref()), ("sort", Some(sort))])) {
                                    @if value.is_empty() { "(no target)" } @else { (value) }
                                }
                            }
                            td.num { (row.count) }
                            td.num.failed[row.failed > 0] { (percent(row.failed as f64 / row.count.max(1) as f64)) }
                            td.num { (duration(row.duration_sum_ms / row.count.max(1) as f64)) }
                            td.num { (duration(row.percentiles_ms[0])) }
                            td.num { (duration(row.percentiles_ms[2])) }
                            td.num { (duration(row.percentiles_ms[3])) }
                            td.spread { span style=(format!("width: {:.1}%", 100.0 * row.percentiles_ms[2] / widest.max(f64::MIN_POSITIVE))) {} }
                            td {
                                a href=(row_detail.samples_link(&query, &[("band", Some("p95-p99"))])) { "p95–p99 samples" }
                                " · "
                                a href=(format!("/transaction/{}", row.latest_operation_id)) { "latest" }
                            }
                        }
                    }
                }
            }
            @if truncated { p.note { "Only the 500 busiest are shown; narrow the range or filter." } }
        }
    };
    Ok(layout("Performance", "/performance", &query, body))
}

/// What the detail panel shows.
struct Loaded {
    histogram: DurationHistogram,
    /// The whole selection's aggregates; `None` when it is empty.
    overall: Option<StatsRow>,
    series: Vec<StatsRow>,
}

/// The distribution and series of the selected operation (or of all), and how its bands link.
struct Detail {
    selection: Selection,
    /// The filter parameters and values naming the selected operation in sample links.
    filters: Vec<(String, String)>,
    percentiles: Percentiles,
}

impl Detail {
    /// `selected` names an operation (requests) or a dependency target, `selected_type` the
    /// dependency's type.
    fn of(
        mut selection: Selection,
        source: Source,
        selected: Option<&str>,
        selected_type: Option<&str>,
        percentiles: Percentiles,
    ) -> Self {
        let mut filters = Vec::new();
        let named = match source {
            Source::Dependencies => [(Column::Type, selected_type), (Column::Target, selected)],
            _ => [(Column::Name, selected), (Column::Type, None)],
        };
        // Nothing is selected without the name; a type alone selects nothing.
        if selected.is_some() {
            for (column, value) in named {
                if let Some(value) = value {
                    selection
                        .filters
                        .push(Filter::Equals(column, value.to_owned()));
                    filters.push((format!("filter.{}", column.api_name()), value.to_owned()));
                }
            }
        }
        Detail {
            selection,
            filters,
            percentiles,
        }
    }

    async fn load(&self, state: &ApiState) -> Result<Loaded, ApiError> {
        let overall = StatsQuery {
            selection: self.selection.clone(),
            group_by: Vec::new(),
            bucket_s: None,
            percentiles: self.percentiles,
        };
        let series = StatsQuery {
            bucket_s: Some(chart::interval_s(self.selection.range)),
            ..overall.clone()
        };
        let (histogram, overall, series) = tokio::try_join!(
            state.store.duration_histogram(&self.selection),
            state.store.stats(&overall, 1),
            state.store.stats(&series, 10_000)
        )?;
        Ok(Loaded {
            histogram,
            overall: overall.into_iter().next(),
            series,
        })
    }

    /// A link to samples of the selected operation with `changes`.
    fn samples_link(&self, query: &Query, changes: &[(&str, Option<&str>)]) -> String {
        let named = self
            .filters
            .iter()
            .map(|(key, value)| (key.as_str(), Some(value.as_str())));
        let all: Vec<(&str, Option<&str>)> = named.chain(changes.iter().copied()).collect();
        query.link("/samples", &all)
    }

    fn render(&self, query: &Query, loaded: &Loaded) -> maud::Markup {
        let Loaded {
            histogram,
            overall,
            series,
        } = loaded;
        let Some(overall) = overall else {
            return html! {};
        };
        let [p50, p95, p99] = chart::PERCENTILE_COLORS;
        let marks = [
            ("p50", overall.percentiles_ms[0], p50),
            ("p95", overall.percentiles_ms[2], p95),
            ("p99", overall.percentiles_ms[3], p99),
        ];
        let link = |low: f64, high: Option<f64>| {
            let (low, high) = (low.to_string(), high.map(|h| h.to_string()));
            self.samples_link(
                query,
                &[("min_ms", Some(&low)), ("max_ms", high.as_deref())],
            )
        };
        let points = |value: fn(&StatsRow) -> f64| -> Vec<(i64, f64)> {
            series
                .iter()
                .filter_map(|row| Some((row.bucket_ns?, value(row))))
                .collect()
        };
        let title = match self.filters.as_slice() {
            [] => "All".to_owned(),
            named => named
                .iter()
                .map(|(_, value)| value.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        };
        html! {
            section.detail-panel {
                h2 { (title) }
                p.summary {
                    (overall.count) " calls, " (percent(overall.failed as f64 / overall.count.max(1) as f64)) " failed. Samples: "
                    @for (band, label) in [("p50-p95", "p50–p95"), ("p95-p99", "p95–p99"), ("p99-max", "p99–max")] {
                        a.band href=(self.samples_link(query, &[("band", Some(band))])) { (label) } " "
                    }
                }
                div.charts {
                    div {
                        h3 { "Duration distribution" }
                        (chart::duration_histogram(histogram, &marks, &link))
                    }
                    div {
                        h3 { "Calls" }
                        (chart::time_series(Size::Small, self.selection.range, &[
                            Series { name: "calls", color: chart::BLUE, points: points(|r| r.count as f64) },
                            Series { name: "failed", color: chart::RED, points: points(|r| r.failed as f64) },
                        ], |v| format!("{v:.0}")))
                    }
                    div {
                        h3 { "Duration" }
                        (chart::time_series(Size::Small, self.selection.range, &[
                            Series { name: "p50", color: p50, points: points(|r| r.percentiles_ms[0]) },
                            Series { name: "p95", color: p95, points: points(|r| r.percentiles_ms[2]) },
                            Series { name: "p99", color: p99, points: points(|r| r.percentiles_ms[3]) },
                        ], duration))
                    }
                }
            }
        }
    }
}

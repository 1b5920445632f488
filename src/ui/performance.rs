//! `/performance`: operations (or dependencies) with count, failure rate and duration
//! percentiles, sortable; each links to the samples of its slow band.

use axum::extract::{RawQuery, State};
use maud::html;

use super::format::{Query, duration, percent};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::stats_page;
use crate::api::params::{FILTER, FROM, ParamType, TABLE, TO, param};
use crate::api::{ApiError, ApiState};
use crate::reads::{Column, Source, StatsQuery, StatsRow};

const PARAMS: &[crate::api::params::ParamSpec] = &[
    TABLE,
    FROM,
    TO,
    FILTER,
    param(
        "sort",
        ParamType::String,
        "count, failures, avg, p50, p95 or p99",
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
    let access = access?;
    let query = Query::parse(raw, PARAMS)?;
    let source = query.params.table()?;
    let group_by = match source {
        Source::Dependencies => vec![Column::Type, Column::Target],
        _ => vec![Column::Name],
    };
    let stats = StatsQuery {
        selection: query.params.selection(source, &access.scope)?,
        group_by,
        bucket_s: None,
    };
    let (mut rows, truncated) = stats_page(state, &stats, 500).await?;
    let sort = query.params.get("sort").unwrap_or("p95");
    let key = sort_key(sort);
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    let widest = rows.iter().map(|r| r.percentiles_ms[2]).fold(0.0, f64::max);
    let filter_of = |row: &StatsRow| match source {
        Source::Dependencies => ("filter.target", row.group[1].clone()),
        _ => ("filter.name", row.group[0].clone()),
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
                        @let (filter, value) = filter_of(row);
                        tr {
                            td {
                                @if source == Source::Dependencies { span.type { (row.group[0]) } " " }
                                (value)
                            }
                            td.num { (row.count) }
                            td.num.failed[row.failed > 0] { (percent(row.failed as f64 / row.count.max(1) as f64)) }
                            td.num { (duration(row.duration_sum_ms / row.count.max(1) as f64)) }
                            td.num { (duration(row.percentiles_ms[0])) }
                            td.num { (duration(row.percentiles_ms[2])) }
                            td.num { (duration(row.percentiles_ms[3])) }
                            td.spread { span style=(format!("width: {:.1}%", 100.0 * row.percentiles_ms[2] / widest.max(f64::MIN_POSITIVE))) {} }
                            td {
                                a href=(query.link("/samples", &[(filter, Some(&value)), ("band", Some("p95-p99"))])) { "p95–p99 samples" }
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

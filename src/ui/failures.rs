//! `/failures`: failed requests by name and result code, failing dependencies by target and
//! result code, exceptions by type and problem id — each with its count over time and its
//! latest operation to open.

use axum::extract::{RawQuery, State};
use maud::html;

use super::chart::{self, Series, Size};
use super::format::percent;
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::stats_page;
use crate::api::insights::{FAILURES_PARAMS, failure_queries};
use crate::api::{ApiError, ApiState};
use crate::reads::{StatsQuery, StatsRow};

/// One grouping's rows (and whether some were left out), and its count per interval.
async fn section(
    state: &ApiState,
    stats: &StatsQuery,
) -> Result<(Vec<StatsRow>, bool, Vec<(i64, f64)>), ApiError> {
    let series = StatsQuery {
        group_by: Vec::new(),
        bucket_s: Some(chart::interval_s(stats.selection.range)),
        ..stats.clone()
    };
    let ((rows, truncated), (series, _)) = tokio::try_join!(
        stats_page(state, stats, 100),
        stats_page(state, &series, 10_000)
    )?;
    let points = series
        .iter()
        .filter_map(|row| Some((row.bucket_ns?, row.count as f64)))
        .collect();
    Ok((rows, truncated, points))
}

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (state, raw) = (&state, raw.as_deref());
    let (access, query) = super::open(access, raw, FAILURES_PARAMS)?;
    let queries = failure_queries(&query.params, &access.scope)?;
    let loaded =
        futures_util::future::try_join_all(queries.iter().map(|(_, stats)| section(state, stats)))
            .await?;
    let range = query.params.range()?;
    let body = html! {
        h1 { "Failures" }
        @for ((key, stats), (rows, truncated, points)) in queries.iter().zip(&loaded) {
            @let columns = &stats.group_by;
            @let title = match *key { "requests" => "Failed requests", "dependencies" => "Failing dependencies", _ => "Exceptions" };
            h2 { (title) }
            @if rows.is_empty() {
                p.empty { "None in this time range." }
            } @else {
                (chart::time_series(Size::Wide, range, &[Series { name: title, color: chart::RED, points: points.clone() }], |v| format!("{v:.0}")))
                table.grid {
                    thead { tr {
                        @for column in columns { th { (column.api_name().replace('_', " ")) } }
                        th.num { "Count" }
                        @if *key != "exceptions" { th.num { "Of all failures" } }
                        th { "Latest" }
                    }}
                    tbody {
                        @let total: u64 = rows.iter().map(|r| r.count).sum();
                        @for row in rows {
                            tr {
                                @for value in &row.group { td { (value) } }
                                td.num { (row.count) }
                                @if *key != "exceptions" { td.num { (percent(row.count as f64 / total.max(1) as f64)) } }
                                td { a href=(format!("/transaction/{}", row.latest_operation_id)) { "open" } }
                            }
                        }
                    }
                }
                @if *truncated { p.note { "Only the 100 largest groups are shown." } }
            }
        }
    };
    Ok(layout("Failures", "/failures", &query, body))
}

//! `/failures`: failed requests by name and result code, failing dependencies by target and
//! result code, exceptions by type and problem id — each with its latest operation to open.

use axum::extract::{RawQuery, State};
use maud::html;

use super::format::{Query, percent};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::stats_page;
use crate::api::insights::{FAILURES_PARAMS, failure_queries};
use crate::api::{ApiError, ApiState};

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (state, raw) = (&state, raw.as_deref());
    let access = access?;
    let query = Query::parse(raw, FAILURES_PARAMS)?;
    let mut sections = Vec::new();
    for (key, stats) in failure_queries(&query.params, &access.scope)? {
        let (rows, truncated) = stats_page(state, &stats, 100).await?;
        sections.push((key, stats.group_by, rows, truncated));
    }
    let body = html! {
        h1 { "Failures" }
        @for (key, columns, rows, truncated) in &sections {
            h2 { (match *key { "requests" => "Failed requests", "dependencies" => "Failing dependencies", _ => "Exceptions" }) }
            @if rows.is_empty() {
                p.empty { "None in this time range." }
            } @else {
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

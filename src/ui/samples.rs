//! `/samples`: the spans of a percentile band (or duration range), slowest or newest first, each
//! opening its transaction.

use axum::extract::{RawQuery, State};
use maud::html;

use super::format::{Query, duration};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::{SAMPLES_PARAMS, find_samples};
use crate::api::{ApiError, ApiState};
use crate::time::format_instant;

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (state, raw) = (&state, raw.as_deref());
    let access = access?;
    let query = Query::parse(raw, SAMPLES_PARAMS)?;
    let page = find_samples(state, &query.params, &access.scope).await?;
    let band = query.params.get("band");
    let order = query.params.get("order").unwrap_or("slowest");
    let what = ["filter.name", "filter.target"]
        .iter()
        .find_map(|key| query.params.get(key))
        .unwrap_or("all operations");
    let body = html! {
        h1 { "Samples of " (what) }
        p.summary {
            @if let (Some(band), Some((low, high))) = (band, page.band) {
                "Band " (band) ": " (duration(low)) " to " (duration(high)) ". "
            }
            "Ordered " (order) " first."
        }
        div.tabs {
            @for (name, label) in [("slowest", "Slowest"), ("newest", "Newest")] {
                a.current[order == name] href=(query.link("/samples", &[("order", Some(name)), ("band", band)])) { (label) }
            }
        }
        @if page.items.is_empty() {
            p.empty { "No samples in this band and time range." }
        } @else {
            table.grid {
                thead { tr {
                    th { "Start" } th { "Operation" } th.num { "Duration" } th { "Result" } th { "Role" }
                }}
                tbody {
                    @for item in &page.items {
                        tr {
                            td { (format_instant(item.timestamp_ns)) }
                            td {
                                a.sample href=(format!("/transaction/{}", item.operation_id)) { (item.name) }
                                @if !item.target.is_empty() { " → " (item.target) }
                            }
                            td.num { (duration(item.duration_ms)) }
                            td.failed[!item.success] { (item.result_code) }
                            td { (item.role) }
                        }
                    }
                }
            }
            @if let Some(cursor) = &page.next_cursor {
                p { a href=(query.link("/samples", &[("band", band), ("order", Some(order)), ("cursor", Some(cursor))])) { "Next page" } }
            }
        }
    };
    Ok(layout("Samples", "/performance", &query, body))
}

//! `/logs`: log lines and exceptions by text, severity and role, newest first; each opens its
//! transaction.

use axum::extract::{RawQuery, State};
use maud::html;

use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::{SEARCH_PARAMS, search_cursor, search_query};
use crate::api::{ApiError, ApiState};
use crate::time::format_instant;

const SEVERITIES: [&str; 5] = ["verbose", "information", "warning", "error", "critical"];

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (state, raw) = (&state, raw.as_deref());
    let (access, query) = super::open(access, raw, SEARCH_PARAMS)?;
    let search = search_query(&query.params, &access.scope)?;
    let hits = state.store.search(&search).await?;
    let next_cursor = search_cursor(&hits, search.limit);
    let text = query.params.get("q").unwrap_or("");
    let severity = query.params.get("severity").unwrap_or("");
    let body = html! {
        h1 { "Logs" }
        form.search method="get" action="/logs" {
            @for (key, value) in query.shared() { input type="hidden" name=(key) value=(value); }
            input type="search" name="q" value=(text) placeholder="text in the message or exception type";
            select name="severity" {
                option value="" selected[severity.is_empty()] { "any severity" }
                @for name in SEVERITIES { option value=(name) selected[severity == name] { "≥ " (name) } }
            }
            button type="submit" { "Search" }
        }
        @if hits.is_empty() {
            p.empty { "Nothing found in this time range." }
        } @else {
            table.grid {
                thead { tr { th { "Time" } th { "Role" } th { "Level" } th { "Message" } th { "Transaction" } } }
                tbody {
                    @for hit in &hits {
                        tr.failed[hit.kind == "exception"] {
                            td { (format_instant(hit.timestamp_ns)) }
                            td { (hit.role) }
                            td { (SEVERITIES.get(usize::from(hit.severity_level)).copied().unwrap_or("")) }
                            td {
                                @if !hit.exception_type.is_empty() { strong { (hit.exception_type) } ": " }
                                (hit.message)
                            }
                            td { @if !hit.operation_id.is_empty() { a href=(format!("/transaction/{}", hit.operation_id)) { "open" } } }
                        }
                    }
                }
            }
            @if let Some(cursor) = &next_cursor {
                p { a href=(query.link("/logs", &[("q", Some(text).filter(|t| !t.is_empty())), ("severity", Some(severity).filter(|s| !s.is_empty())), ("cursor", Some(cursor))])) { "Older" } }
            }
        }
    };
    Ok(layout("Logs", "/logs", &query, body))
}

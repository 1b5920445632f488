//! `/samples`: the spans of a percentile band (or duration range), slowest or newest first, each
//! opening its transaction, with a one-line cause where its failed calls show one.

use axum::extract::{RawQuery, State};
use maud::html;

use super::format::duration;
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::analysis::{SAMPLES_PARAMS, find_samples};
use crate::api::causes::failed_calls_of;
use crate::api::{ApiError, ApiState};
use crate::query::causes::FailedCalls;
use crate::time::format_instant;

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (state, raw) = (&state, raw.as_deref());
    let (access, query) = super::open(access, raw, SAMPLES_PARAMS)?;
    let page = find_samples(state, &query.params, &access.scope).await?;
    let causes = failed_calls_of(state, &access.scope, query.params.range()?, &page.items).await?;
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
                    th { "Start" } th { "Operation" } th.num { "Duration" } th { "Result" } th { "Role" } th { "Cause" }
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
                            td.cause { @if let Some(calls) = causes.get(&item.operation_id) { (cause_line(calls)) } }
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

/// The failed calls of an operation in one line: the largest group first
/// ("3 × 429 from myaoai.openai.azure.com, 6.20 s"), then how many other calls failed.
pub fn cause_line(calls: &[FailedCalls]) -> String {
    let Some(first) = calls.first() else {
        return String::new();
    };
    let result = if first.result_code.is_empty() {
        "failures"
    } else {
        &first.result_code
    };
    // A throttled caller's loss is its wait; a failure's, the calls' own time.
    let time = if first.throttled_ms > 0.0 {
        first.throttled_ms
    } else {
        first.duration_ms
    };
    let mut line = format!(
        "{} × {result} from {}, {}",
        first.calls,
        if first.target.is_empty() {
            "an unnamed target"
        } else {
            &first.target
        },
        duration(time)
    );
    let others: u64 = calls[1..].iter().map(|c| c.calls).sum();
    if others > 0 {
        line.push_str(&format!(
            "; {others} other failed call{}",
            if others == 1 { "" } else { "s" }
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(target: &str, result_code: &str, calls: u64, duration_ms: f64) -> FailedCalls {
        FailedCalls {
            target: target.into(),
            result_code: result_code.into(),
            calls,
            duration_ms,
            throttled_ms: if result_code == "429" { 6_200.0 } else { 0.0 },
        }
    }

    #[test]
    fn the_cause_names_the_largest_group_of_failed_calls() {
        let line = cause_line(&[
            calls("myaoai.openai.azure.com", "429", 3, 600.0),
            calls("search", "", 1, 12.0),
        ]);
        assert_eq!(
            line,
            "3 × 429 from myaoai.openai.azure.com, 6.20 s; 1 other failed call"
        );
        assert_eq!(
            cause_line(&[calls("", "", 2, 5.0)]),
            "2 × failures from an unnamed target, 5 ms"
        );
        assert_eq!(cause_line(&[]), "");
    }
}

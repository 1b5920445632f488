//! `/live`: Live Metrics per instance — request and dependency rates, failures, durations, CPU
//! and memory — as the SDKs last posted them. A small embedded script reloads the table from
//! `/live/instances` every second while the page is open; the server renders it either way.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::header;
use maud::{Markup, html};
use serde_json::Value;

use super::format::duration;
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::params::{FROM, TO};
use crate::api::{ApiError, ApiState};

/// The refresh script, embedded in the binary.
const SCRIPT: &str = include_str!("live.js");

/// Instances silent for longer than this are shown as stale.
const STALE_NS: i64 = 10_000_000_000;

/// A column: its heading, the counter names the SDKs post it under (the first one posted is
/// shown) and how its value reads.
type LiveColumn = (&'static str, &'static [&'static str], fn(f64) -> String);

/// The columns, with the counter names the Python and Node.js Azure Monitor SDKs post.
const COLUMNS: [LiveColumn; 9] = [
    ("Req/s", &["\\ApplicationInsights\\Requests/Sec"], rate),
    (
        "Failed/s",
        &["\\ApplicationInsights\\Requests Failed/Sec"],
        rate,
    ),
    (
        "Req duration",
        &["\\ApplicationInsights\\Request Duration"],
        duration,
    ),
    (
        "Calls/s",
        &["\\ApplicationInsights\\Dependency Calls/Sec"],
        rate,
    ),
    (
        "Failed calls/s",
        &["\\ApplicationInsights\\Dependency Calls Failed/Sec"],
        rate,
    ),
    (
        "Call duration",
        &["\\ApplicationInsights\\Dependency Call Duration"],
        duration,
    ),
    ("Exc/s", &["\\ApplicationInsights\\Exceptions/Sec"], rate),
    (
        "CPU",
        &[
            "\\% Process\\Processor Time Normalized",
            "\\Processor(_Total)\\% Processor Time",
        ],
        |v| format!("{v:.1} %"),
    ),
    (
        "Memory",
        &["\\Process\\Physical Bytes", "\\Memory\\Committed Bytes"],
        bytes,
    ),
];

fn rate(value: f64) -> String {
    format!("{value:.1}")
}

fn bytes(value: f64) -> String {
    format!("{:.0} MiB", value / 1_048_576.0)
}

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let (access, query) = super::open(access, raw.as_deref(), &[FROM, TO])?;
    let body = html! {
        h1 { "Live metrics" }
        p.summary { "What each instance's SDK last posted, refreshed every second while this page is open." }
        div #live { (instances_table(&state, &access)) }
        script src="/ui/live.js" {}
    };
    Ok(layout("Live", "/live", &query, body))
}

/// The table alone, for the script to swap in.
pub async fn instances(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
) -> Result<Markup, PageError> {
    Ok(instances_table(&state, &access?))
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The value of the first of `names` that `point` holds a metric of.
fn metric(point: &Value, names: &[&str]) -> Option<f64> {
    let metrics = point["Metrics"].as_array()?;
    names.iter().find_map(|name| {
        metrics
            .iter()
            .find(|m| m["Name"].as_str() == Some(name))
            .and_then(|m| m["Value"].as_f64())
    })
}

fn instances_table(state: &ApiState, access: &Access) -> Markup {
    let instances = state.live.snapshot(&access.scope);
    let now = crate::clock::now_ns();
    html! {
        @if instances.is_empty() {
            p.empty { "No instance is posting Live Metrics. SDKs post them when live metrics are enabled (" code { "enable_live_metrics=True" } " in Python; on by default in Node.js)." }
        } @else {
            table.grid {
                thead { tr {
                    th { "Role" } th { "Instance" } th { "App" } th { "Last heard" }
                    @for (heading, _, _) in COLUMNS { th.num { (heading) } }
                }}
                tbody {
                    @for instance in &instances {
                        @let received = instance["received"].as_str().unwrap_or("");
                        @let seen = crate::time::parse_instant(received).unwrap_or(0);
                        @let point = &instance["data_point"];
                        tr.stale[now.saturating_sub(seen) > STALE_NS] {
                            td { (instance["role"].as_str().unwrap_or("")) }
                            td { (instance["instance"].as_str().unwrap_or("")) }
                            td { (instance["app"].as_str().unwrap_or("")) }
                            td.num { (duration(now.saturating_sub(seen) as f64 / 1e6)) " ago" }
                            @for (_, names, format) in COLUMNS {
                                td.num { @match metric(point, names) { Some(value) => (format(value)), None => "–" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_found_by_their_counter_names() {
        let point = serde_json::json!({"Metrics": [
            {"Name": "\\ApplicationInsights\\Requests/Sec", "Value": 3.0},
            {"Name": "\\ApplicationInsights\\Requests Failed/Sec", "Value": 1.0},
            {"Name": "\\Processor(_Total)\\% Processor Time", "Value": 12.5},
            {"Name": "\\Memory\\Committed Bytes", "Value": 1.0},
            {"Name": "\\Process\\Physical Bytes", "Value": 104857600.0},
        ]});
        let found: Vec<Option<String>> = COLUMNS
            .iter()
            .map(|(_, names, format)| metric(&point, names).map(format))
            .collect();
        assert_eq!(found[0].as_deref(), Some("3.0"));
        assert_eq!(found[1].as_deref(), Some("1.0"));
        assert_eq!(found[2], None);
        assert_eq!(found[7].as_deref(), Some("12.5 %"));
        assert_eq!(found[8].as_deref(), Some("100 MiB"));
        assert_eq!(metric(&serde_json::json!({}), COLUMNS[0].1), None);
    }
}

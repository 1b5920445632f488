//! `/query`: a KQL editor over the view's time range, the answer as a table, and the chart
//! its `render` asks for (time charts as lines, bar, column and pie charts as bars).

use axum::extract::{RawQuery, State};
use maud::{Markup, html};
use serde_json::Value;

use super::chart::{self, Size};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::params::{FROM, ParamSpec, ParamType, TO, param};
use crate::api::{ApiError, ApiState};
use crate::kql::ResultTable;
use crate::kql::run::{QueryError, run_query};
use crate::kql::types::KqlType;
use crate::kql::values::{format_datetime, parse_datetime};
use crate::reads::TimeRange;

pub const PARAMS: &[ParamSpec] = &[FROM, TO, param("q", ParamType::String, "the KQL query")];

/// Rows a page shows; the rest are counted.
const SHOWN_ROWS: usize = 500;
/// Lines or bars a chart draws at most.
const MAX_SERIES: usize = 5;
const MAX_BARS: usize = 20;

const EXAMPLES: [&str; 4] = [
    "AppRequests\n| summarize TotalRequests = count(), ErrorRequests = countif(ResultCode >= 500) by bin(TimeGenerated, 5m)\n| extend ErrorRate = ErrorRequests * 100.0 / TotalRequests\n| render timechart",
    "AppRequests\n| summarize percentiles(DurationMs, 50, 95, 99) by Name\n| top 10 by percentile_DurationMs_95 desc",
    "AppDependencies\n| where ResultCode == \"429\"\n| summarize throttled = count() by Target, bin(TimeGenerated, 1m)\n| render timechart",
    "AppExceptions\n| summarize count() by ExceptionType\n| render barchart",
];

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let (access, query) = super::open(access, raw.as_deref(), PARAMS)?;
    let range = query.params.range()?;
    let text = query.params.get("q").unwrap_or("").to_owned();
    let answer = if text.trim().is_empty() {
        None
    } else {
        let timespan = format!(
            "{}/{}",
            format_datetime(range.from_ns),
            format_datetime(range.to_ns)
        );
        Some(
            run_query(
                state.store.as_ref(),
                &access.scope,
                &text,
                Some(&timespan),
                crate::clock::now_ns(),
            )
            .await,
        )
    };
    let body = html! {
        h1 { "Query" }
        form.query method="get" action="/query" {
            @for (key, value) in query.shared() { input type="hidden" name=(key) value=(value); }
            textarea name="q" rows="6" spellcheck="false" placeholder="AppRequests | summarize count() by bin(TimeGenerated, 5m)" { (text) }
            button type="submit" { "Run" }
            span.note { " KQL over the range above: requests/AppRequests, dependencies/AppDependencies, traces/AppTraces, exceptions/AppExceptions, …" }
        }
        @match answer {
            None => {
                p.note { "Examples:" }
                ul.examples {
                    @for example in EXAMPLES {
                        li { a href=(query.link("/query", &[("q", Some(example))])) { pre { (example) } } }
                    }
                }
            }
            Some(Err(QueryError::Store(error))) => { p.error { (error.public_message()) } }
            Some(Err(error)) => { p.error { (error.to_string()) } }
            Some(Ok(table)) => { (answer_view(&table, range)) }
        }
    };
    Ok(layout("Query", "/query", &query, body))
}

fn answer_view(table: &ResultTable, range: TimeRange) -> Markup {
    let chart = match table.visualization.as_deref() {
        Some("timechart" | "linechart" | "areachart" | "stackedareachart") => {
            time_chart(table, range)
        }
        Some("barchart" | "columnchart" | "piechart") => bar_chart(table),
        _ => html! {},
    };
    html! {
        (chart)
        p.summary {
            (table.rows.len()) @if table.rows.len() == 1 { " row" } @else { " rows" }
            @if table.truncated { " (the first 30,000; more matched)" }
            @if table.rows.len() > SHOWN_ROWS { ", the first " (SHOWN_ROWS) " shown" }
        }
        div.results {
            table.grid.compact {
                thead { tr { @for (name, ty) in &table.columns { th title=(ty.name()) { (name) } } } }
                tbody {
                    @for row in table.rows.iter().take(SHOWN_ROWS) {
                        tr {
                            @for (cell, (_, ty)) in row.iter().zip(&table.columns) {
                                td.num[ty.is_numeric()] { (cell_text(cell)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A cell as the table shows it: reals to four decimals, the rest as answered.
fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Number(n) if n.is_f64() => short_number(n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

fn short_number(x: f64) -> String {
    let text = format!("{x:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn number(cell: &Value) -> Option<f64> {
    cell.as_f64().filter(|x| x.is_finite())
}

/// Lines over the first datetime column: one per numeric column, or per value of the first
/// text column when there is one (`by Target`), the busiest first.
fn time_chart(table: &ResultTable, range: TimeRange) -> Markup {
    let Some(time) = table
        .columns
        .iter()
        .position(|(_, ty)| *ty == KqlType::Datetime)
    else {
        return html! { p.note { "A time chart needs a datetime column (bin(TimeGenerated, …))." } };
    };
    let numeric: Vec<usize> = (0..table.columns.len())
        .filter(|i| *i != time && table.columns[*i].1.is_numeric())
        .collect();
    let split = table
        .columns
        .iter()
        .position(|(_, ty)| *ty == KqlType::String);
    let mut lines: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
    for row in &table.rows {
        let Some(at) = row
            .get(time)
            .and_then(Value::as_str)
            .and_then(parse_datetime)
        else {
            continue;
        };
        for &column in &numeric {
            let Some(value) = row.get(column).and_then(number) else {
                continue;
            };
            let mut name = table.columns[column].0.clone();
            if let Some(split) = split {
                let label = row.get(split).map(cell_text).unwrap_or_default();
                name = if numeric.len() > 1 {
                    format!("{label} {name}")
                } else {
                    label
                };
            }
            match lines.iter_mut().find(|(line, _)| *line == name) {
                Some((_, points)) => points.push((at, value)),
                None => lines.push((name, vec![(at, value)])),
            }
        }
    }
    let total = |points: &[(i64, f64)]| points.iter().map(|p| p.1).sum::<f64>();
    lines.sort_by(|a, b| total(&b.1).total_cmp(&total(&a.1)));
    lines.truncate(MAX_SERIES);
    for (_, points) in &mut lines {
        points.sort_by_key(|p| p.0);
    }
    let series = chart::palette_series(&lines);
    chart::time_series(Size::Wide, range, &series, short_number)
}

/// Bars of the first numeric column, labelled by the first text column.
fn bar_chart(table: &ResultTable) -> Markup {
    let label = table
        .columns
        .iter()
        .position(|(_, ty)| *ty == KqlType::String);
    let Some(value) = table.columns.iter().position(|(_, ty)| ty.is_numeric()) else {
        return html! { p.note { "A bar chart needs a numeric column." } };
    };
    let bars: Vec<(String, f64)> = table
        .rows
        .iter()
        .take(MAX_BARS)
        .filter_map(|row| {
            let amount = row.get(value).and_then(number)?;
            let name = label
                .and_then(|l| row.get(l))
                .map(cell_text)
                .unwrap_or_default();
            Some((name, amount))
        })
        .collect();
    let highest = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    html! {
        div.bars {
            @for (name, amount) in &bars {
                div.barrow {
                    span.barlabel { (name) }
                    span.barfill style=(format!("width: {:.1}%", if highest > 0.0 { amount / highest * 100.0 } else { 0.0 })) {}
                    span.barvalue { (short_number(*amount)) }
                }
            }
        }
    }
}

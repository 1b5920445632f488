//! `/genai`: LLM calls per provider, model and target — calls, tokens, peak tokens per minute,
//! throttling inside the calls (the SDK's retried 429s), latency per output token — each
//! model linking to its slowest calls — the busiest models' tokens over time, and the latest
//! sessions with their users, calls, tokens and cost.

use axum::extract::{RawQuery, State};
use maud::html;

use super::chart::{self, Size};
use super::format::{duration, interval, percent, usd};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::genai::{GENAI_PARAMS, Throttled, genai_usage_of};
use crate::api::genai_sessions::{Grouping, SessionRow, sessions_of};
use crate::time::format_instant;

/// Sessions listed on the page; the API lists more.
const SESSIONS_SHOWN: usize = 20;
use crate::api::{ApiError, ApiState};

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<maud::Markup, PageError> {
    let (access, query) = super::open(access, raw.as_deref(), GENAI_PARAMS)?;
    let range = query.params.range()?;
    let interval_s = chart::interval_s(range);
    let query = query.or_default("interval", &format!("{interval_s}s"), GENAI_PARAMS)?;
    let (usage, (sessions, more_sessions)) = tokio::try_join!(
        genai_usage_of(&state, &query.params, &access.scope),
        sessions_of(
            &state,
            &query.params,
            &access.scope,
            Grouping::Sessions,
            SESSIONS_SHOWN
        )
    )?;
    let busiest: Vec<(String, Vec<(i64, f64)>)> = usage
        .rows
        .iter()
        .take(chart::PALETTE.len())
        .map(|row| {
            let points = usage.series.get(&row.group).map_or_else(Vec::new, |rows| {
                rows.iter()
                    .filter_map(|r| {
                        Some((
                            r.bucket_ns?,
                            r.input_tokens.saturating_add(r.output_tokens) as f64,
                        ))
                    })
                    .collect()
            });
            (format!("{} · {}", row.group[1], row.group[2]), points)
        })
        .collect();
    let series = chart::palette_series(&busiest);
    let body = html! {
        h1 { "GenAI" }
        @if usage.rows.is_empty() {
            p.empty { "No LLM calls in this time range." }
        } @else {
            h3 { "Tokens per " (interval(query.params.interval_s(range)?.unwrap_or(interval_s))) ", busiest models" }
            (chart::time_series(Size::Wide, range, &series, |v| format!("{v:.0}")))
            table.grid.compact {
                thead { tr {
                    th { "Provider" } th { "Model" } th { "Endpoint" }
                    th.num { "Calls" } th.num { "Input tokens" } th.num { "Output tokens" }
                    th.num { "Peak tokens/min" } th.num { "Throttled calls" } th.num { "429 attempts" } th.num { "Throttled time" }
                    th.num { "p95" } th.num { "Per output token" } th.num { "Cost" } th.num { "Quota peak" } th { "Calls" }
                }}
                tbody {
                    @for row in &usage.rows {
                        @let key = (row.group[0].clone(), row.group[1].clone(), row.group[2].clone());
                        @let throttled = Throttled::of(row, usage.throttling.get(&key));
                        tr {
                            td { (key.0) } td { (key.1) } td { (key.2) }
                            td.num { (row.count) }
                            td.num { (row.input_tokens) }
                            td.num { (row.output_tokens) }
                            td.num { @match usage.peak_tokens_per_minute(&row.group) { Some(peak) => (peak), None => "–" } }
                            td.num.failed[throttled.calls > 0] { (throttled.calls) }
                            td.num.failed[throttled.attempts > 0] { (throttled.attempts) }
                            td.num { (duration(throttled.time_ms)) }
                            td.num { (duration(row.percentiles_ms[2])) }
                            td.num {
                                @if row.output_tokens > 0 { (duration(row.duration_sum_ms / row.output_tokens as f64)) } @else { "–" }
                            }
                            td.num { @match state.genai.cost_usd(&key.1, row.input_tokens, row.output_tokens) { Some(cost) => (usd(cost)), None => "–" } }
                            @let quota = usage.quota(&state.genai, row);
                            td.num.failed[quota.as_ref().is_some_and(|q| q.minutes_over_80_percent > 0)] title=[quota.as_ref().map(|q| format!("{} minutes past 80 %, {} throttled calls in them", q.minutes_over_80_percent, q.throttled_calls_in_those_minutes))] {
                                @match &quota { Some(q) => (percent(q.peak_share)), None => "–" }
                            }
                            td { a href=(query.link("/samples", &[("table", Some("dependencies")), ("filter.model", Some(&key.1)), ("filter.target", Some(&key.2)), ("order", Some("slowest"))])) { "slowest" } }
                        }
                    }
                }
            }
            @if usage.truncated { p.note { "Only the 100 busiest are shown." } }
            (sessions_table(&query, &sessions, more_sessions))
        }
    };
    Ok(layout("GenAI", "/genai", &query, body))
}

fn sessions_table(
    query: &super::format::Query,
    sessions: &[SessionRow],
    more: bool,
) -> maud::Markup {
    html! {
        h3 { "Sessions" }
        @if sessions.is_empty() {
            p.empty { "No call names a session (session.id, langfuse.session.id or gen_ai.conversation.id on the call or the request above it)." }
        } @else {
            table.grid.compact {
                thead { tr {
                    th { "Session" } th { "Users" } th.num { "Requests" } th.num { "Calls" } th.num { "Failed calls" }
                    th.num { "Input tokens" } th.num { "Output tokens" } th.num { "Cost" } th { "Models" } th { "Last seen" } th { "" }
                }}
                tbody {
                    @for row in sessions.iter().take(SESSIONS_SHOWN) {
                        tr {
                            td { a href=(query.range_link("/samples", &[("table", Some("requests")), ("filter.session_id", Some(&row.key)), ("order", Some("newest"))])) { (row.key) } }
                            td { (row.others.iter().cloned().collect::<Vec<_>>().join(", ")) }
                            td.num { (row.requests) }
                            td.num { (row.calls) }
                            td.num.failed[row.failed_calls > 0] { (row.failed_calls) }
                            td.num { (row.input_tokens) }
                            td.num { (row.output_tokens) }
                            td.num title=[(row.unpriced_calls > 0).then(|| format!("{} calls of models without a price are not counted", row.unpriced_calls))] { (usd(row.cost_usd)) @if row.unpriced_calls > 0 { "+" } }
                            td { (row.models.iter().cloned().collect::<Vec<_>>().join(", ")) }
                            td { (format_instant(row.latest_timestamp_ns)) }
                            td { a href=(format!("/transaction/{}", row.latest_operation_id)) { "latest" } }
                        }
                    }
                }
            }
            @if more || sessions.len() > SESSIONS_SHOWN { p.note { "The latest " (SESSIONS_SHOWN) " are shown; /api/v1/genai/sessions lists more." } }
        }
    }
}

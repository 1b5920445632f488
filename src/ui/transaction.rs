//! `/transaction/{operation_id}`: the end-to-end transaction as a waterfall across roles: one
//! row per span indented by depth, bars at their offset, failures red, the critical path marked,
//! retry groups summed up, and each span's attributes, log lines and exceptions beside it.

use axum::extract::{Path, RawQuery, State};
use maud::{Markup, html};

use super::format::{duration, percent, usd};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::transaction::{DeploymentLoad, diagnose, llm_costs};
use crate::api::transaction::{PARAMS, load, operation_scores};
use crate::api::{ApiError, ApiState};
use crate::query::findings::Finding;
use crate::query::tree::{Node, RetryGroup, Transaction};
use crate::reads::scores::ScoreType;
use crate::time::format_instant;

/// Role colours in the stylesheet (`role-0` …).
const ROLE_COLOURS: usize = 8;

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    Path(operation_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let (state, operation_id, raw) = (&state, operation_id.as_str(), raw.as_deref());
    let (access, query) = super::open(access, raw, PARAMS)?;
    let loaded = load(state, &access.scope, operation_id, query.params.get("app")).await?;
    let tx = &loaded.transaction;
    let diagnosis = diagnose(state, &loaded.app, tx).await?;
    let costs = llm_costs(&state.genai, tx);
    let cost: Option<f64> = (!costs.is_empty()).then(|| costs.iter().filter_map(|(_, c)| *c).sum());
    let scores = operation_scores(state, &loaded.app, operation_id).await?;
    let body = html! {
        h1 { (tx.operation_name) }
        p.summary {
            (format_instant(tx.start_ns)) " · " (duration(tx.duration_ms)) " · "
            (tx.nodes.len()) " spans · roles: " (tx.roles.join(", "))
            @if !loaded.app.is_empty() { " · app " (loaded.app) }
            @if let Some(cost) = cost { " · LLM cost " (usd(cost)) }
        }
        @if !loaded.other_apps.is_empty() {
            p.note { "Also under this id: "
                @for app in &loaded.other_apps {
                    a href=(format!("/transaction/{operation_id}?app={app}")) { (app) } " "
                }
            }
        }
        @if !scores.is_empty() {
            section.scores {
                h2 { "Scores" }
                ul { @for score in &scores {
                    li {
                        strong { (score.name) } " "
                        @match score.data_type {
                            ScoreType::Categorical => (score.category),
                            ScoreType::Boolean => (if score.value > 0.0 { "true" } else { "false" }),
                            ScoreType::Numeric => (score.value),
                        }
                        " · " (score.source)
                        @if let Some(node) = tx.nodes.iter().find(|n| !score.span_id.is_empty() && n.id == score.span_id) {
                            " · " a href=(format!("#span-{}", node.index)) { (node.name) }
                        }
                        @if !score.comment.is_empty() { " · " (score.comment) }
                    }
                } }
            }
        }
        @if !diagnosis.is_empty() {
            section.findings {
                h2 { "Findings" }
                ul { @for d in &diagnosis {
                    li {
                        (finding_line(&d.finding))
                        @if let Some(load) = &d.deployment { " " (deployment_line(load)) }
                        " " a href=(format!("#span-{}", d.finding.span())) { "show" }
                    }
                } }
            }
        }
        @for group in &tx.retries { (retry_summary(tx, group)) }
        div.waterfall {
            @for node in &tx.nodes { (row(tx, node)) }
        }
        @if !tx.unattached.logs.is_empty() || !tx.unattached.exceptions.is_empty() {
            h2 { "Not attached to a received span" }
            ul.attached {
                @for exception in &tx.unattached.exceptions { li.failed { (exception.exception_type) ": " (exception.message) } }
                @for log in &tx.unattached.logs { li { (log.message) } }
            }
        }
    };
    Ok(layout(&tx.operation_name, "/performance", &query, body))
}

/// One finding as a sentence an operator would say.
fn finding_line(finding: &Finding) -> Markup {
    match finding {
        Finding::Throttling {
            name,
            target,
            model,
            attempts,
            throttled_ms,
            share_of_request,
            succeeded,
            ..
        } => html! {
            strong.failed { "Throttling" } ": " (name) " waited " (duration(*throttled_ms))
            " (" (percent(*share_of_request)) " of the request) — " (attempts) " × 429 from " (target)
            @if !model.is_empty() { " for " (model) }
            @if !succeeded { ", never answered" }
            ". More quota (tokens per minute) shortens this; more instances do not."
        },
        Finding::Failure {
            name,
            target,
            result_code,
            count,
            ..
        } => html! {
            strong.failed { "Failed" } ": " (count) " × " (name)
            @if !target.is_empty() { " on " (target) }
            " → " @if result_code.is_empty() { "failure" } @else { (result_code) }
        },
        Finding::SlowDependency {
            name,
            target,
            duration_ms,
            share_of_request,
            ..
        } => html! {
            strong { "Slow call" } ": " (name)
            @if !target.is_empty() { " on " (target) }
            " took " (duration(*duration_ms)) " (" (percent(*share_of_request)) " of the request, on the critical path)"
        },
        Finding::RetriesInvisible {
            name,
            duration_ms,
            output_tokens,
            usual_ms,
            ..
        } => html! {
            strong { "Retries may be hidden" } ": " (name) " took " (duration(*duration_ms)) " for "
            (output_tokens) " output tokens (usually about " (duration(*usual_ms)) ") with no HTTP attempts recorded beneath it. Instrument the HTTP client (" code { "HTTPX2ClientInstrumentor" } " for openai ≥ 3) to see its retries."
        },
    }
}

/// "The deployment served up to 7500 tokens a minute around it, 94 % of its 8000 quota."
fn deployment_line(load: &DeploymentLoad) -> Markup {
    html! {
        "The deployment served up to " (load.peak_tokens_per_minute) " tokens a minute around it"
        @match load.quota_tokens_per_minute {
            Some(quota) => {
                ", " (percent(load.peak_tokens_per_minute as f64 / quota.max(1) as f64)) " of its " (quota) " tokens/min quota."
            }
            None => "; no quota is configured for it (--genai-quota).",
        }
    }
}

/// "chat gpt-4o → POST: 3 × 429, 6.20 s before success".
fn retry_summary(tx: &Transaction, group: &RetryGroup) -> Markup {
    let parent = &tx.nodes[group.parent].name;
    html! {
        p.retry {
            strong { (parent) } " retried " (group.name) " on " (group.target) ": "
            (group.attempts.len()) " attempts, "
            @if group.throttled > 0 { (group.throttled) " × 429" }
            @if group.failed > 0 { ", " (group.failed) " failed" }
            ", " (duration(group.time_before_success_ms))
            @if group.succeeded { " before success" } @else { " without success" }
            " (" (duration(group.throttled_time_ms)) " throttled)"
        }
    }
}

fn role_class(role: &str) -> String {
    let hash = role.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    format!("role-{}", hash % ROLE_COLOURS)
}

/// A span's bar as `(left, width)` in percent of the transaction. Every bar keeps a sliver of
/// width, even at the very end; offsets and durations come from clients' clocks, so anything
/// (negative, past the end, NaN) must give a bar, never a panic.
fn bar_geometry(start_offset_ms: f64, duration_ms: f64, total_ms: f64) -> (f64, f64) {
    let total = if total_ms > 0.0 {
        total_ms
    } else {
        f64::MIN_POSITIVE
    };
    let share = |ms: f64| {
        let percent = 100.0 * ms / total;
        if percent.is_nan() { 0.0 } else { percent }
    };
    let left = share(start_offset_ms).clamp(0.0, 99.8);
    let width = share(duration_ms).clamp(0.2, 100.0 - left);
    (left, width)
}

fn row(tx: &Transaction, node: &Node) -> Markup {
    let (left, width) = bar_geometry(node.start_offset_ms, node.duration_ms, tx.duration_ms);
    let label = if node.dependency_type.is_empty() {
        String::new()
    } else {
        node.dependency_type.clone()
    };
    html! {
        details.span.failed[!node.success].critical[node.on_critical_path].orphan[node.orphan] id=(format!("span-{}", node.index)) {
            summary {
                span.name style=(format!("padding-left: {}em", node.depth)) {
                    @if !label.is_empty() { span.type { (label) } " " }
                    (node.name)
                    @if node.retry.is_some() { " " span.tag { "retry" } }
                    @if node.orphan { " " span.tag { "orphan" } }
                    @if !node.attached.exceptions.is_empty() { " " span.tag.exception { (node.attached.exceptions.len()) " exception" } }
                    @if !node.attached.logs.is_empty() { " " span.tag.logs { (node.attached.logs.len()) " log" @if node.attached.logs.len() > 1 { "s" } } }
                }
                span.role { (node.role) }
                span.result { (node.result_code) }
                span.time { (duration(node.duration_ms)) }
                span.track { span class=(format!("bar {}", role_class(&node.role))) style=(format!("left: {left:.2}%; width: {width:.2}%")) {} }
            }
            div.detail {
                dl {
                    dt { "start" } dd { "+" (duration(node.start_offset_ms)) " · self " (duration(node.self_time_ms)) }
                    @if !node.target.is_empty() { dt { "target" } dd { (node.target) } }
                    @if !node.data.is_empty() { dt { "data" } dd { code { (node.data) } } }
                    @if let Some(genai) = &node.genai {
                        dt { "model" } dd { (genai.request_model) " → " (genai.response_model) " (" (genai.provider) ")" }
                        dt { "tokens" } dd {
                            (genai.input_tokens) " in"
                            @if genai.cached_input_tokens > 0 { " (" (genai.cached_input_tokens) " cached)" }
                            ", " (genai.output_tokens) " out"
                            @if genai.reasoning_tokens > 0 { " (" (genai.reasoning_tokens) " reasoning)" }
                        }
                        @if !genai.prompt_name.is_empty() {
                            dt { "prompt" } dd { (genai.prompt_name) @if !genai.prompt_version.is_empty() { " v" (genai.prompt_version) } }
                        }
                    }
                }
                @if node.genai.is_some() {
                    @let said = crate::query::messages::messages(&node.attributes);
                    @if !said.is_empty() {
                        div.messages {
                            @for message in &said {
                                div.message.output[message.direction == crate::query::messages::Direction::Output] {
                                    span.role { (message.role) }
                                    " " (message.content)
                                    @for call in &message.tool_calls { div.tool { "→ " (call.name) "(" (call.arguments) ")" } }
                                }
                            }
                        }
                    }
                }
                dl.rest {
                    @for (key, value) in &node.attributes { dt { (key) } dd { (value) } }
                }
                @for exception in &node.attached.exceptions {
                    p.failed { (exception.exception_type) ": " (exception.message) }
                    @if !exception.stack.is_empty() { pre { (exception.stack) } }
                }
                @for log in &node.attached.logs {
                    p.log { span.time { (format_instant(log.timestamp_ns)) } " " (log.message) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bar_geometry;
    use proptest::prelude::*;

    #[test]
    fn a_span_at_the_very_end_still_gets_a_bar() {
        assert_eq!(bar_geometry(4_999.0, 1.0, 5_000.0), (99.8, 0.2));
        assert_eq!(bar_geometry(0.0, 5_000.0, 5_000.0), (0.0, 100.0));
        assert_eq!(bar_geometry(f64::NAN, f64::NAN, f64::NAN), (0.0, 0.2));
    }

    proptest! {
        #[test]
        fn bars_stay_inside_the_track(
            offset in proptest::num::f64::ANY,
            duration in proptest::num::f64::ANY,
            total in proptest::num::f64::ANY,
        ) {
            let (left, width) = bar_geometry(offset, duration, total);
            prop_assert!((0.0..=99.8).contains(&left));
            prop_assert!(width >= 0.2 && left + width <= 100.0 + 1e-9);
        }
    }
}

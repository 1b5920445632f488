//! The diagnosis of one transaction, as an operator would state it: where its time went and
//! why — throttling (and how long the caller waited for it), failed calls, slow calls on the
//! critical path, and LLM calls whose retries cannot be seen. One pure function over the tree;
//! the transaction answer, the UI and the samples' one-line causes all read it.

use serde::Serialize;

use super::tree::{Node, Transaction};
use crate::reads::records::SpanTable;

/// A dependency on the critical path taking at least this share of the request is slow.
const SLOW_SHARE: f64 = 0.25;
/// Most slow dependencies named.
const MAX_SLOW: usize = 3;
/// An LLM call's usual latency: a fixed overhead and a rate per output token (about 33
/// tokens a second). Far beyond it, with no HTTP attempt beneath, retries are likely hidden.
const USUAL_OVERHEAD_MS: f64 = 1_000.0;
const USUAL_MS_PER_OUTPUT_TOKEN: f64 = 30.0;
const INVISIBLE_FACTOR: f64 = 3.0;
const INVISIBLE_MIN_MS: f64 = 5_000.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A call whose attempts were answered 429: `span` is the call (the node the attempts hang
    /// under, or the call itself when it ended 429 with no attempts recorded).
    Throttling {
        span: usize,
        name: String,
        target: String,
        model: String,
        attempts: usize,
        status: u16,
        throttled_ms: f64,
        share_of_request: f64,
        succeeded: bool,
    },
    /// Failed calls of one name, target and result code that no later attempt made good.
    Failure {
        span: usize,
        name: String,
        target: String,
        result_code: String,
        count: usize,
    },
    /// A dependency on the critical path taking a large share of the request.
    SlowDependency {
        span: usize,
        name: String,
        target: String,
        duration_ms: f64,
        share_of_request: f64,
    },
    /// An LLM call far slower than its output explains, with no HTTP attempts beneath it:
    /// enable the HTTP client's instrumentation (`httpx2` for openai ≥ 3) to see its retries.
    RetriesInvisible {
        span: usize,
        name: String,
        model: String,
        duration_ms: f64,
        output_tokens: u64,
        usual_ms: f64,
    },
}

impl Finding {
    /// The node the finding is about.
    pub fn span(&self) -> usize {
        match self {
            Finding::Throttling { span, .. }
            | Finding::Failure { span, .. }
            | Finding::SlowDependency { span, .. }
            | Finding::RetriesInvisible { span, .. } => *span,
        }
    }
}

fn share(ms: f64, tx: &Transaction) -> f64 {
    if tx.duration_ms > 0.0 {
        (ms / tx.duration_ms).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn model(node: &Node) -> String {
    node.genai
        .as_ref()
        .map(|g| g.request_model.clone())
        .unwrap_or_default()
}

/// Throttling first (longest wait first), then failures, hidden retries and slow dependencies.
pub fn findings(tx: &Transaction) -> Vec<Finding> {
    let mut found = throttling(tx);
    found.extend(failures(tx));
    found.extend(invisible_retries(tx));
    let slow = slow_dependencies(tx, &found);
    found.extend(slow);
    found
}

fn throttling(tx: &Transaction) -> Vec<Finding> {
    let mut found: Vec<Finding> = tx
        .retries
        .iter()
        .filter(|group| group.throttled > 0)
        .map(|group| {
            let call = &tx.nodes[group.parent];
            Finding::Throttling {
                span: group.parent,
                name: call.name.clone(),
                target: group.target.clone(),
                model: model(call),
                attempts: group.throttled,
                status: 429,
                throttled_ms: group.throttled_time_ms,
                share_of_request: share(group.throttled_time_ms, tx),
                succeeded: group.succeeded,
            }
        })
        .collect();
    // A 429 outside any retry group: a call that ended 429 itself, or the only attempt of an
    // LLM call (reported on the call, once).
    let mut alone: Vec<(usize, f64)> = Vec::new();
    for node in tx.nodes.iter().filter(|n| {
        n.kind == SpanTable::Dependency
            && n.retry.is_none()
            && super::throttling::is_throttled(&n.result_code)
    }) {
        let call = match node.parent {
            Some(parent) if tx.nodes[parent].genai.is_some() => parent,
            _ => node.index,
        };
        let grouped = tx.retries.iter().any(|g| g.parent == call);
        if !grouped && !alone.iter().any(|(c, _)| *c == call) {
            alone.push((call, node.duration_ms));
        }
    }
    found.extend(alone.into_iter().map(|(call, waited_ms)| {
        let n = &tx.nodes[call];
        Finding::Throttling {
            span: call,
            name: n.name.clone(),
            target: n.target.clone(),
            model: model(n),
            attempts: 1,
            status: 429,
            throttled_ms: waited_ms,
            share_of_request: share(waited_ms, tx),
            succeeded: false,
        }
    }));
    let waited = |f: &Finding| match f {
        Finding::Throttling { throttled_ms, .. } => *throttled_ms,
        _ => 0.0,
    };
    found.sort_by(|a, b| waited(b).total_cmp(&waited(a)));
    found
}

/// Whether a failed node was made good by a later attempt of its retry group.
fn recovered(tx: &Transaction, node: &Node) -> bool {
    node.retry
        .is_some_and(|attempt| tx.retries[attempt.group].succeeded)
}

fn failures(tx: &Transaction) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for node in tx.nodes.iter().filter(|n| !n.success && !recovered(tx, n)) {
        // Throttled calls are reported as throttling.
        if super::throttling::is_throttled(&node.result_code) {
            continue;
        }
        let same = found.iter_mut().find(|f| {
            matches!(f, Finding::Failure { name, target, result_code, .. }
                if *name == node.name && *target == node.target && *result_code == node.result_code)
        });
        match same {
            Some(Finding::Failure { count, .. }) => *count += 1,
            _ => found.push(Finding::Failure {
                span: node.index,
                name: node.name.clone(),
                target: node.target.clone(),
                result_code: node.result_code.clone(),
                count: 1,
            }),
        }
    }
    found
}

fn slow_dependencies(tx: &Transaction, earlier: &[Finding]) -> Vec<Finding> {
    // A throttled call's slowness is its throttling.
    let explained: Vec<usize> = earlier
        .iter()
        .filter(|f| matches!(f, Finding::Throttling { .. }))
        .map(Finding::span)
        .collect();
    let mut slow: Vec<&Node> = Vec::new();
    for node in tx.nodes.iter() {
        let candidate = node.kind == SpanTable::Dependency
            && node.on_critical_path
            && node.retry.is_none()
            && !explained.contains(&node.index)
            && share(node.duration_ms, tx) >= SLOW_SHARE;
        // The outermost slow call names it; the calls inside it are its detail.
        let inside_reported = ancestors(tx, node).any(|a| slow.iter().any(|s| s.index == a));
        if candidate && !inside_reported {
            slow.push(node);
        }
    }
    slow.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
    slow.into_iter()
        .take(MAX_SLOW)
        .map(|node| Finding::SlowDependency {
            span: node.index,
            name: node.name.clone(),
            target: node.target.clone(),
            duration_ms: node.duration_ms,
            share_of_request: share(node.duration_ms, tx),
        })
        .collect()
}

fn ancestors<'a>(tx: &'a Transaction, node: &Node) -> impl Iterator<Item = usize> + 'a {
    std::iter::successors(node.parent, |&p| tx.nodes[p].parent)
}

fn invisible_retries(tx: &Transaction) -> Vec<Finding> {
    tx.nodes
        .iter()
        .filter_map(|node| {
            let genai = node.genai.as_ref()?;
            let usual_ms =
                USUAL_OVERHEAD_MS + USUAL_MS_PER_OUTPUT_TOKEN * genai.output_tokens as f64;
            let has_attempts = node
                .children
                .iter()
                .any(|&c| tx.nodes[c].kind == SpanTable::Dependency);
            (!has_attempts
                && node.duration_ms >= INVISIBLE_MIN_MS
                && node.duration_ms > INVISIBLE_FACTOR * usual_ms)
                .then(|| Finding::RetriesInvisible {
                    span: node.index,
                    name: node.name.clone(),
                    model: genai.request_model.clone(),
                    duration_ms: node.duration_ms,
                    output_tokens: genai.output_tokens,
                    usual_ms,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::test_trees::{attempt, seed_story, span};
    use crate::query::tree::assemble;
    use crate::reads::records::{GenAiRecord, OperationItems};

    fn genai(output_tokens: u64) -> GenAiRecord {
        GenAiRecord {
            provider: "azure.ai.openai".into(),
            request_model: "gpt-4o".into(),
            output_tokens,
            ..GenAiRecord::default()
        }
    }

    #[test]
    fn the_seed_story_is_throttling_of_gpt_4o() {
        let mut items = seed_story();
        items.spans[2].genai = genai(50);
        let tx = assemble("op", items).expect("transaction");
        let found = findings(&tx);
        assert_eq!(
            found[0],
            Finding::Throttling {
                span: 2,
                name: "chat".into(),
                target: "aoai.openai.azure.com".into(),
                model: "gpt-4o".into(),
                attempts: 3,
                status: 429,
                throttled_ms: 5_670.0,
                share_of_request: 5_670.0 / 7_700.0,
                succeeded: true,
            }
        );
        // The throttled call explains its own slowness; the recovered 429s are no failures.
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn an_llm_call_far_slower_than_its_tokens_without_attempts_hides_its_retries() {
        let mut call = span(SpanTable::Dependency, "chat", "req", 10, 7_000.0);
        call.genai = genai(40);
        let items = OperationItems {
            spans: vec![span(SpanTable::Request, "req", "", 0, 7_100.0), call],
            ..Default::default()
        };
        let found = findings(&assemble("op", items).expect("transaction"));
        assert!(
            matches!(found[0], Finding::RetriesInvisible { span: 1, output_tokens: 40, usual_ms, .. } if usual_ms == 2_200.0),
            "{found:?}"
        );
        // The same call on the critical path is also the slow dependency.
        assert!(
            matches!(found[1], Finding::SlowDependency { span: 1, .. }),
            "{found:?}"
        );
    }

    #[test]
    fn a_slow_search_on_the_critical_path_is_named_once() {
        let items = OperationItems {
            spans: vec![
                span(SpanTable::Request, "req", "", 0, 1_000.0),
                span(SpanTable::Dependency, "search", "req", 10, 800.0),
                span(SpanTable::Dependency, "search-http", "search", 20, 780.0),
                span(SpanTable::Dependency, "cache", "req", 820, 20.0),
            ],
            ..Default::default()
        };
        let found = findings(&assemble("op", items).expect("transaction"));
        assert_eq!(
            found,
            [Finding::SlowDependency {
                span: 1,
                name: "search".into(),
                target: String::new(),
                duration_ms: 800.0,
                share_of_request: 0.8,
            }]
        );
    }

    #[test]
    fn failures_that_no_retry_made_good_are_grouped() {
        let mut items = OperationItems {
            spans: vec![
                span(SpanTable::Request, "req", "", 0, 100.0),
                attempt("a1", 10, 5.0, "503"),
                attempt("a2", 20, 5.0, "503"),
            ],
            ..Default::default()
        };
        for attempt in &mut items.spans[1..] {
            attempt.parent_id = "req".into();
        }
        items.spans[0].success = false;
        items.spans[0].result_code = "500".into();
        let found = findings(&assemble("op", items).expect("transaction"));
        let failures: Vec<(&str, usize)> = found
            .iter()
            .filter_map(|f| match f {
                Finding::Failure { name, count, .. } => Some((name.as_str(), *count)),
                _ => None,
            })
            .collect();
        assert_eq!(
            failures,
            [
                ("req", 1),
                ("POST /openai/deployments/gpt-4o/chat/completions", 2)
            ]
        );
    }

    #[test]
    fn a_single_throttled_attempt_is_told_on_its_llm_call_once() {
        let mut call = span(SpanTable::Dependency, "chat", "req", 10, 300.0);
        call.genai = genai(0);
        call.result_code = "429".into();
        call.success = false;
        let items = OperationItems {
            spans: vec![
                span(SpanTable::Request, "req", "", 0, 400.0),
                call,
                attempt("a1", 20, 250.0, "429"),
            ],
            ..Default::default()
        };
        let found = findings(&assemble("op", items).expect("transaction"));
        let throttling: Vec<(usize, &str, usize)> = found
            .iter()
            .filter_map(|f| match f {
                Finding::Throttling {
                    span,
                    model,
                    attempts,
                    ..
                } => Some((*span, model.as_str(), *attempts)),
                _ => None,
            })
            .collect();
        assert_eq!(throttling, [(1, "gpt-4o", 1)], "{found:?}");
    }

    #[test]
    fn a_fast_healthy_request_has_no_finding() {
        let items = OperationItems {
            spans: vec![
                span(SpanTable::Request, "req", "", 0, 100.0),
                span(SpanTable::Dependency, "cache", "req", 10, 5.0),
            ],
            ..Default::default()
        };
        assert_eq!(findings(&assemble("op", items).expect("transaction")), []);
    }
}

//! Assembles one operation's rows into its end-to-end transaction: spans nested by parent id
//! across roles, log lines and exceptions attached to their span, offsets and self time, the
//! critical path, and repeated throttled or failing calls grouped as retries.
//!
//! The tree is returned flat, in pre-order (each node follows its parent, `depth` and `parent`
//! give the nesting), so arbitrarily deep traces neither overflow a stack here nor in a JSON
//! reader. Every received span appears exactly once: a span whose parent was not received is a
//! root marked `orphan`, and parent links that form a cycle are cut at the earliest span.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::reads::records::{
    EventRecord, ExceptionRecord, GenAiRecord, OperationItems, SpanRecord, SpanTable, TraceRecord,
    pairs_as_object,
};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transaction {
    pub operation_id: String,
    /// The name of the root request, given to every item that arrived without one.
    pub operation_name: String,
    pub start_ns: i64,
    pub duration_ms: f64,
    pub roles: Vec<String>,
    pub nodes: Vec<Node>,
    /// Node indices on the critical path, root first.
    pub critical_path: Vec<usize>,
    pub retries: Vec<RetryGroup>,
    /// Log lines, exceptions and events whose span was not received.
    pub unattached: Attachments,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attachments {
    pub exceptions: Vec<ExceptionRecord>,
    pub logs: Vec<TraceRecord>,
    pub events: Vec<EventRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub index: usize,
    pub parent: Option<usize>,
    pub depth: usize,
    pub children: Vec<usize>,
    pub kind: SpanTable,
    pub id: String,
    pub parent_id: String,
    /// As sent, or the root request's name where the SDK left it empty.
    pub operation_name: String,
    pub name: String,
    #[serde(rename = "type")]
    pub dependency_type: String,
    pub target: String,
    pub data: String,
    pub result_code: String,
    pub success: bool,
    pub role: String,
    pub role_instance: String,
    pub start_offset_ms: f64,
    pub duration_ms: f64,
    /// Duration not covered by any child.
    pub self_time_ms: f64,
    pub on_critical_path: bool,
    /// Its parent id names a span that was not received (or links back into a cycle).
    pub orphan: bool,
    pub item_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryAttempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genai: Option<GenAiRecord>,
    #[serde(serialize_with = "pairs_as_object")]
    pub attributes: Vec<(String, String)>,
    #[serde(flatten)]
    pub attached: Attachments,
}

/// Where a call sits in a retry group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryAttempt {
    /// Index into the transaction's `retries`.
    pub group: usize,
    /// 1-based.
    pub attempt: usize,
}

/// Calls of one dependency repeated under one parent with throttled (429) or failed results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryGroup {
    pub parent: usize,
    pub name: String,
    #[serde(rename = "type")]
    pub dependency_type: String,
    pub target: String,
    /// Node indices of the attempts, in start order.
    pub attempts: Vec<usize>,
    pub throttled: usize,
    pub failed: usize,
    pub succeeded: bool,
    /// From the first attempt's start to the successful attempt's start (or the last attempt's
    /// end when none succeeded).
    pub time_before_success_ms: f64,
    /// What the caller waited because of throttling, as [`super::throttling`] defines it.
    pub throttled_time_ms: f64,
}

/// Builds the transaction; `None` when nothing was stored under the id.
pub fn assemble(operation_id: &str, items: OperationItems) -> Option<Transaction> {
    if items.is_empty() {
        return None;
    }
    let spans = unique_spans(items.spans);
    let order = preorder(&spans);
    let start_ns = spans
        .iter()
        .map(|s| s.timestamp_ns)
        .chain(items.traces.iter().map(|t| t.timestamp_ns))
        .chain(items.exceptions.iter().map(|e| e.timestamp_ns))
        .min()
        .unwrap_or(0);
    let mut nodes = build_nodes(spans, &order, start_ns);
    let duration_ms = nodes
        .iter()
        .map(|n| n.start_offset_ms + n.duration_ms)
        .fold(0.0, f64::max);
    fill_self_times(&mut nodes);
    let critical_path = mark_critical_path(&mut nodes);
    let retries = group_retries(&mut nodes);
    let operation_name = operation_name(&nodes, critical_path.first().copied());
    for node in nodes.iter_mut().filter(|n| n.operation_name.is_empty()) {
        node.operation_name.clone_from(&operation_name);
    }
    let unattached = attach(&mut nodes, items.exceptions, items.traces, items.events);
    let mut roles: Vec<String> = nodes.iter().map(|n| n.role.clone()).collect();
    roles.sort();
    roles.dedup();
    Some(Transaction {
        operation_id: operation_id.to_owned(),
        operation_name,
        start_ns,
        duration_ms,
        roles,
        nodes,
        critical_path,
        retries,
        unattached,
    })
}

/// Spans in start order, each `(table, id)` once (a batch resent after a lost answer can store
/// a span twice).
fn unique_spans(mut spans: Vec<SpanRecord>) -> Vec<SpanRecord> {
    spans.sort_by(|a, b| {
        (a.timestamp_ns, &a.id, a.table == SpanTable::Dependency).cmp(&(
            b.timestamp_ns,
            &b.id,
            b.table == SpanTable::Dependency,
        ))
    });
    let mut seen = HashSet::new();
    spans.retain(|s| seen.insert((s.table, s.id.clone())));
    spans
}

/// Pre-order of span indices with each one's parent position and orphan flag.
struct Placement {
    span: usize,
    parent: Option<usize>,
    depth: usize,
    orphan: bool,
}

fn preorder(spans: &[SpanRecord]) -> Vec<Placement> {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, span) in spans.iter().enumerate() {
        by_id.entry(span.id.as_str()).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match by_id.get(span.parent_id.as_str()) {
            Some(&parent) if parent != i && !span.parent_id.is_empty() => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let mut placed = vec![false; spans.len()];
    let mut order = Vec::with_capacity(spans.len());
    let mut visit = |root: usize, orphan: bool, placed: &mut Vec<bool>| {
        let mut stack = vec![(root, None, 0usize, orphan)];
        while let Some((span, parent, depth, orphan)) = stack.pop() {
            if std::mem::replace(&mut placed[span], true) {
                continue;
            }
            let position = order.len();
            order.push(Placement {
                span,
                parent,
                depth,
                orphan,
            });
            // Reversed so the earliest child is visited first.
            for &child in children[span].iter().rev() {
                stack.push((child, Some(position), depth + 1, false));
            }
        }
    };
    for &root in &roots {
        visit(root, !spans[root].parent_id.is_empty(), &mut placed);
    }
    // Whatever is left hangs off a cycle of parent links: cut it at its earliest span.
    for first in 0..spans.len() {
        if !placed[first] {
            visit(first, true, &mut placed);
        }
    }
    order
}

fn build_nodes(spans: Vec<SpanRecord>, order: &[Placement], start_ns: i64) -> Vec<Node> {
    let mut spans: Vec<Option<SpanRecord>> = spans.into_iter().map(Some).collect();
    let mut nodes: Vec<Node> = Vec::with_capacity(order.len());
    for (index, placement) in order.iter().enumerate() {
        let Some(span) = spans[placement.span].take() else {
            continue;
        };
        if let Some(parent) = placement.parent {
            nodes[parent].children.push(index);
        }
        let offset_ns = span.timestamp_ns.saturating_sub(start_ns);
        let duration_ms = if span.duration_ms.is_finite() {
            span.duration_ms.max(0.0)
        } else {
            0.0
        };
        nodes.push(Node {
            index,
            parent: placement.parent,
            depth: placement.depth,
            children: Vec::new(),
            kind: span.table,
            id: span.id,
            parent_id: span.parent_id,
            operation_name: span.operation_name,
            name: span.name,
            dependency_type: span.dependency_type,
            target: span.target,
            data: span.data,
            result_code: span.result_code,
            success: span.success,
            role: span.cloud_role_name,
            role_instance: span.cloud_role_instance,
            start_offset_ms: offset_ns as f64 / 1e6,
            duration_ms,
            self_time_ms: duration_ms,
            on_critical_path: false,
            orphan: placement.orphan,
            item_count: span.item_count,
            retry: None,
            genai: (!span.genai.provider.is_empty()).then_some(span.genai),
            attributes: span.dimensions,
            attached: Attachments::default(),
        });
    }
    nodes
}

fn end_ms(node: &Node) -> f64 {
    node.start_offset_ms + node.duration_ms
}

/// Self time: the parent's interval minus the union of its children's (clipped to it).
fn fill_self_times(nodes: &mut [Node]) {
    for i in 0..nodes.len() {
        let (start, end) = (nodes[i].start_offset_ms, end_ms(&nodes[i]));
        let mut intervals: Vec<(f64, f64)> = nodes[i]
            .children
            .iter()
            .map(|&c| {
                let child = &nodes[c];
                (
                    child.start_offset_ms.clamp(start, end),
                    end_ms(child).clamp(start, end),
                )
            })
            .collect();
        intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut covered = 0.0;
        let mut reach = start;
        for (from, to) in intervals {
            let from = from.max(reach);
            if to > from {
                covered += to - from;
                reach = to;
            }
        }
        nodes[i].self_time_ms = (nodes[i].duration_ms - covered).max(0.0);
    }
}

/// The chain of work that determined the transaction's end: from the main root (the longest
/// root request, else the longest root), the child that finished last, then, before it
/// started, the one that finished last before that, and so on down every level.
fn mark_critical_path(nodes: &mut [Node]) -> Vec<usize> {
    let roots = nodes.iter().filter(|n| n.parent.is_none());
    let Some(main) = roots
        .max_by(|a, b| {
            (
                a.kind == SpanTable::Request,
                a.duration_ms,
                std::cmp::Reverse(a.index),
            )
                .partial_cmp(&(
                    b.kind == SpanTable::Request,
                    b.duration_ms,
                    std::cmp::Reverse(b.index),
                ))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|n| n.index)
    else {
        return Vec::new();
    };
    let mut path = Vec::new();
    // Each entry carries the node's end as its parent saw it: children that outlive their
    // parent (async work, clock skew, SDKs that round to milliseconds) count up to that end,
    // and so do their own children, however deep.
    let mut stack = vec![(main, end_ms(&nodes[main]))];
    while let Some((index, end)) = stack.pop() {
        nodes[index].on_critical_path = true;
        path.push(index);
        let start = nodes[index].start_offset_ms;
        let clipped_end = |child: &Node| end_ms(child).min(end);
        let mut until = end;
        let mut children = nodes[index].children.clone();
        children.sort_by(|&a, &b| clipped_end(&nodes[b]).total_cmp(&clipped_end(&nodes[a])));
        for child in children {
            if until <= start {
                break;
            }
            let child_end = clipped_end(&nodes[child]);
            if child_end <= until && child_end > start {
                stack.push((child, child_end));
                until = nodes[child].start_offset_ms;
            }
        }
    }
    path.sort_unstable();
    path
}

fn is_throttled(node: &Node) -> bool {
    super::throttling::is_throttled(&node.result_code)
}

fn is_retryable_failure(node: &Node) -> bool {
    is_throttled(node) || node.result_code.starts_with('5') || !node.success
}

/// Groups repeated dependency calls (same name, type and target) under one parent when at least
/// one attempt was throttled or failed.
fn group_retries(nodes: &mut [Node]) -> Vec<RetryGroup> {
    let mut groups = Vec::new();
    for parent in 0..nodes.len() {
        let mut calls: Vec<(&str, &str, &str, Vec<usize>)> = Vec::new();
        for &child in &nodes[parent].children {
            let node = &nodes[child];
            if node.kind != SpanTable::Dependency {
                continue;
            }
            let key = (
                node.name.as_str(),
                node.dependency_type.as_str(),
                node.target.as_str(),
            );
            match calls.iter_mut().find(|c| (c.0, c.1, c.2) == key) {
                Some(call) => call.3.push(child),
                None => calls.push((key.0, key.1, key.2, vec![child])),
            }
        }
        let found: Vec<RetryGroup> = calls
            .into_iter()
            .filter(|c| c.3.len() > 1 && c.3.iter().any(|&i| is_retryable_failure(&nodes[i])))
            .map(|(name, dependency_type, target, mut attempts)| {
                attempts.sort_by(|&a, &b| {
                    nodes[a]
                        .start_offset_ms
                        .total_cmp(&nodes[b].start_offset_ms)
                });
                retry_group(nodes, parent, name, dependency_type, target, attempts)
            })
            .collect();
        groups.extend(found);
    }
    for (group_index, group) in groups.iter().enumerate() {
        for (attempt, &node) in group.attempts.iter().enumerate() {
            nodes[node].retry = Some(RetryAttempt {
                group: group_index,
                attempt: attempt + 1,
            });
        }
    }
    groups
}

fn retry_group(
    nodes: &[Node],
    parent: usize,
    name: &str,
    dependency_type: &str,
    target: &str,
    attempts: Vec<usize>,
) -> RetryGroup {
    let first_start = nodes[attempts[0]].start_offset_ms;
    let success = attempts.iter().find(|&&i| nodes[i].success);
    let time_before_success_ms = match success {
        Some(&i) => nodes[i].start_offset_ms - first_start,
        None => {
            attempts
                .iter()
                .map(|&i| end_ms(&nodes[i]))
                .fold(first_start, f64::max)
                - first_start
        }
    };
    let throttled: Vec<&Node> = attempts
        .iter()
        .map(|&i| &nodes[i])
        .filter(|n| is_throttled(n))
        .collect();
    RetryGroup {
        parent,
        name: name.to_owned(),
        dependency_type: dependency_type.to_owned(),
        target: target.to_owned(),
        throttled: throttled.len(),
        failed: attempts
            .iter()
            .filter(|&&i| !nodes[i].success && !is_throttled(&nodes[i]))
            .count(),
        succeeded: success.is_some(),
        time_before_success_ms,
        // Offsets stand in for start times: the wait is a difference of them.
        throttled_time_ms: super::throttling::throttled_time_of_stored(attempts.iter().map(|&i| {
            (
                super::throttling::ns_of_ms(nodes[i].start_offset_ms),
                nodes[i].duration_ms,
                nodes[i].result_code.as_str(),
                nodes[i].success,
            )
        })),
        attempts,
    }
}

/// The root request's name, falling back to the main root's name.
fn operation_name(nodes: &[Node], main_root: Option<usize>) -> String {
    main_root.map(|i| nodes[i].name.clone()).unwrap_or_default()
}

/// Puts each exception, log line and event on the span it belongs to; returns the rest.
fn attach(
    nodes: &mut [Node],
    exceptions: Vec<ExceptionRecord>,
    logs: Vec<TraceRecord>,
    events: Vec<EventRecord>,
) -> Attachments {
    let by_id: HashMap<String, usize> = nodes
        .iter()
        .rev()
        .map(|n| (n.id.clone(), n.index))
        .collect();
    let mut rest = Attachments::default();
    for exception in exceptions {
        match by_id.get(&exception.parent_id) {
            Some(&i) => nodes[i].attached.exceptions.push(exception),
            None => rest.exceptions.push(exception),
        }
    }
    for log in logs {
        match by_id.get(&log.parent_id) {
            Some(&i) => nodes[i].attached.logs.push(log),
            None => rest.logs.push(log),
        }
    }
    for event in events {
        match by_id.get(&event.parent_id) {
            Some(&i) => nodes[i].attached.events.push(event),
            None => rest.events.push(event),
        }
    }
    rest
}

#[cfg(test)]
mod tests;

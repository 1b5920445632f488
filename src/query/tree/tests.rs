use proptest::prelude::*;

use super::*;

use crate::query::test_trees::{MS, seed_story, span};

#[test]
fn the_seed_story_shows_three_throttled_retries_before_the_answer() {
    let tx = assemble("op", seed_story()).expect("transaction");
    assert_eq!(tx.operation_name, "req");
    assert!(
        tx.nodes.iter().all(|n| n.operation_name == "req"),
        "filled on every item"
    );
    assert_eq!(tx.duration_ms, 7_700.0);
    let names: Vec<(&str, usize)> = tx.nodes.iter().map(|n| (n.id.as_str(), n.depth)).collect();
    assert_eq!(
        names,
        [
            ("req", 0),
            ("search", 1),
            ("chat", 1),
            ("a1", 2),
            ("a2", 2),
            ("a3", 2),
            ("a4", 2)
        ]
    );
    assert_eq!(tx.retries.len(), 1);
    let retry = &tx.retries[0];
    assert_eq!(
        (retry.throttled, retry.failed, retry.succeeded),
        (3, 0, true)
    );
    assert_eq!(retry.attempts, [3, 4, 5, 6]);
    assert_eq!(retry.time_before_success_ms, 5_670.0);
    assert_eq!(retry.throttled_time_ms, 5_670.0);
    assert_eq!(
        tx.nodes[6].retry,
        Some(RetryAttempt {
            group: 0,
            attempt: 4
        })
    );
    // The answer's attempt and the throttled ones before it are all on the critical path.
    let critical: Vec<&str> = tx
        .critical_path
        .iter()
        .map(|&i| tx.nodes[i].id.as_str())
        .collect();
    assert_eq!(critical, ["req", "search", "chat", "a1", "a2", "a3", "a4"]);
    // chat's own time is what its attempts do not cover.
    assert!((tx.nodes[2].self_time_ms - (7_350.0 - 2_250.0)).abs() < 1e-6);
    assert_eq!(tx.nodes[0].attached.logs.len(), 1);
    assert_eq!(tx.unattached.logs[0].item_id, "log2");
}

#[test]
fn parallel_children_leave_the_shorter_one_off_the_critical_path() {
    let items = OperationItems {
        spans: vec![
            span(SpanTable::Request, "req", "", 0, 100.0),
            span(SpanTable::Dependency, "long", "req", 0, 90.0),
            span(SpanTable::Dependency, "short", "req", 10, 20.0),
        ],
        ..Default::default()
    };
    let tx = assemble("op", items).expect("transaction");
    let critical: Vec<&str> = tx
        .critical_path
        .iter()
        .map(|&i| tx.nodes[i].id.as_str())
        .collect();
    assert_eq!(critical, ["req", "long"]);
    assert_eq!(tx.nodes[0].self_time_ms, 10.0);
}

#[test]
fn orphans_and_cycles_become_roots_and_nothing_is_dropped() {
    let items = OperationItems {
        spans: vec![
            span(SpanTable::Request, "req", "", 0, 50.0),
            span(SpanTable::Request, "late", "missing-parent", 5, 10.0),
            span(SpanTable::Dependency, "x", "y", 20, 1.0),
            span(SpanTable::Dependency, "y", "x", 21, 1.0),
            span(SpanTable::Dependency, "self", "self", 22, 1.0),
            span(SpanTable::Dependency, "req", "", 0, 50.0),
        ],
        ..Default::default()
    };
    let tx = assemble("op", items).expect("transaction");
    assert_eq!(tx.nodes.len(), 6);
    let orphans: Vec<&str> = tx
        .nodes
        .iter()
        .filter(|n| n.orphan)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(orphans, ["late", "self", "x"]);
    assert_eq!(
        tx.nodes
            .iter()
            .find(|n| n.id == "y")
            .and_then(|n| n.parent)
            .map(|p| tx.nodes[p].id.as_str()),
        Some("x")
    );
}

#[test]
fn a_span_stored_twice_appears_once() {
    let mut items = seed_story();
    items.spans.push(items.spans[3].clone());
    let tx = assemble("op", items).expect("transaction");
    assert_eq!(tx.nodes.len(), 7);
    assert_eq!(tx.retries[0].attempts.len(), 4);
}

#[test]
fn nothing_stored_is_not_a_transaction() {
    assert!(assemble("op", OperationItems::default()).is_none());
}

fn arbitrary_spans() -> impl Strategy<Value = Vec<SpanRecord>> {
    prop::collection::vec(
        (
            0u8..12,
            0u8..14,
            0i64..1_000,
            0.0f64..500.0,
            any::<bool>(),
            0u8..3,
        ),
        0..40,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(id, parent, start, duration, is_request, code)| {
                let parent = if parent >= 12 {
                    String::new()
                } else {
                    format!("s{parent}")
                };
                let table = if is_request {
                    SpanTable::Request
                } else {
                    SpanTable::Dependency
                };
                SpanRecord {
                    result_code: ["200", "429", "503"][code as usize].into(),
                    success: code == 0,
                    ..span(table, &format!("s{id}"), &parent, start, duration)
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn every_span_is_placed_once_in_a_consistent_tree(spans in arbitrary_spans()) {
        let distinct: HashSet<(SpanTable, String)> =
            spans.iter().map(|s| (s.table, s.id.clone())).collect();
        let items = OperationItems { spans, ..Default::default() };
        let Some(tx) = assemble("op", items) else {
            prop_assert!(distinct.is_empty());
            return Ok(());
        };
        prop_assert_eq!(tx.nodes.len(), distinct.len());
        for node in &tx.nodes {
            prop_assert!(node.self_time_ms >= 0.0 && node.self_time_ms <= node.duration_ms);
            match node.parent {
                Some(p) => {
                    prop_assert!(p < node.index);
                    prop_assert_eq!(tx.nodes[p].depth + 1, node.depth);
                    prop_assert!(tx.nodes[p].children.contains(&node.index));
                    prop_assert_eq!(&tx.nodes[p].id, &node.parent_id);
                }
                None => prop_assert_eq!(node.depth, 0),
            }
        }
        // The critical path starts at one root and every other node on it has its parent on it.
        let roots_on_path = tx.critical_path.iter().filter(|&&i| tx.nodes[i].parent.is_none()).count();
        prop_assert_eq!(roots_on_path, 1);
        for &i in &tx.critical_path {
            if let Some(p) = tx.nodes[i].parent {
                prop_assert!(tx.nodes[p].on_critical_path);
            }
        }
        for group in &tx.retries {
            prop_assert!(group.attempts.len() >= 2);
            prop_assert!(group.time_before_success_ms >= 0.0);
        }
    }
}

/// Node's SDK rounds span ends to milliseconds, so a child can end just after its parent: the
/// path must still go through the child and on into its own children.
#[test]
fn children_ending_just_after_their_parent_stay_on_the_critical_path() {
    let mut spans = vec![
        span(SpanTable::Request, "req", "", 0, 704.5),
        span(SpanTable::Dependency, "mw", "req", 0, 1.0),
        span(SpanTable::Dependency, "handler", "req", 1, 704.0),
        span(SpanTable::Dependency, "work", "handler", 2, 703.2),
    ];
    spans[1].name = "middleware".into();
    let tx = assemble(
        "op",
        OperationItems {
            spans,
            ..Default::default()
        },
    )
    .expect("transaction");
    let on_path: Vec<&str> = tx
        .critical_path
        .iter()
        .map(|&i| tx.nodes[i].id.as_str())
        .collect();
    assert_eq!(on_path, ["req", "mw", "handler", "work"]);
}

/// A tree whose spans start and end on quarter milliseconds (exact in floating point), each
/// child inside its parent give or take an overrun of up to 1 ms past the parent's end.
fn overrunning_tree() -> impl Strategy<Value = Vec<SpanRecord>> {
    prop::collection::vec((any::<u16>(), 0u32..4, 0u32..4, 0u32..=4), 1..14).prop_map(|raw| {
        // (start, end) in quarter milliseconds, per span.
        let mut bounds: Vec<(i64, i64)> = Vec::new();
        let mut spans = Vec::new();
        for (i, (pick, start_part, length_part, overrun)) in raw.into_iter().enumerate() {
            let (parent, (from, to)) = if i == 0 {
                (String::new(), (0, 4_000))
            } else {
                let p = usize::from(pick) % i;
                (format!("s{p}"), bounds[p])
            };
            let start = from + (to - from) * i64::from(start_part) / 4;
            let end = start + (to - start) * i64::from(length_part) / 4 + i64::from(overrun);
            bounds.push((start, end));
            let mut record = span(SpanTable::Dependency, &format!("s{i}"), &parent, 0, 0.0);
            record.timestamp_ns = 1_000_000 * MS + start * MS / 4;
            record.duration_ms = (end - start) as f64 / 4.0;
            spans.push(record);
        }
        spans
    })
}

/// Every span's end clipped to its parent's (already clipped) end.
fn clipped_to_parents(spans: &[SpanRecord]) -> Vec<SpanRecord> {
    let mut ends: HashMap<String, i64> = HashMap::new();
    let mut clipped = Vec::new();
    for span in spans {
        let start = span.timestamp_ns;
        let mut end = start + (span.duration_ms * 1e6) as i64;
        if let Some(parent_end) = ends.get(&span.parent_id) {
            end = end.min(*parent_end).max(start);
        }
        ends.insert(span.id.clone(), end);
        clipped.push(SpanRecord {
            duration_ms: (end - start) as f64 / 1e6,
            ..span.clone()
        });
    }
    clipped
}

proptest! {
    #[test]
    fn overruns_up_to_a_millisecond_do_not_change_the_critical_path(spans in overrunning_tree()) {
        let path = |spans: Vec<SpanRecord>| {
            assemble("op", OperationItems { spans, ..Default::default() })
                .map(|tx| tx.critical_path)
        };
        let clipped = clipped_to_parents(&spans);
        prop_assert_eq!(path(spans), path(clipped));
    }
}

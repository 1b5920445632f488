//! What the failed calls inside an operation say, folded per target and result code — the
//! one-line cause of a sample. A group of 429s carries what its callers waited, with the one
//! definition of [`super::throttling`].

use std::collections::HashMap;

use serde::Serialize;

use super::throttling::{is_throttled, throttled_time_of_stored};
use crate::reads::CallRecord;

/// Failed calls of one operation to one target with one result code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedCalls {
    pub target: String,
    pub result_code: String,
    pub calls: u64,
    /// Their summed duration.
    pub duration_ms: f64,
    /// For 429s: what the callers waited because of them, back-off included (0 otherwise).
    pub throttled_ms: f64,
}

/// The failed calls of each operation, most calls first; `records` are the failed calls and
/// the calls sharing a parent with a throttled one.
pub fn failed_calls_by_operation(records: &[CallRecord]) -> HashMap<String, Vec<FailedCalls>> {
    // A call whose attempts were throttled is told by its attempts, not counted beside them.
    let retried_parents: std::collections::HashSet<(&str, &str, &str)> = records
        .iter()
        .filter(|r| is_throttled(&r.result_code))
        .map(|r| {
            (
                r.app.as_str(),
                r.operation_id.as_str(),
                r.parent_id.as_str(),
            )
        })
        .collect();
    let not_retried_call = |r: &&CallRecord| {
        !retried_parents.contains(&(r.app.as_str(), r.operation_id.as_str(), r.id.as_str()))
    };
    let mut by_operation: HashMap<String, Vec<FailedCalls>> = HashMap::new();
    for record in records
        .iter()
        .filter(not_retried_call)
        .filter(|r| !r.success)
    {
        let groups = by_operation.entry(record.operation_id.clone()).or_default();
        let group = match groups
            .iter_mut()
            .position(|g| g.target == record.target && g.result_code == record.result_code)
        {
            Some(index) => &mut groups[index],
            None => {
                groups.push(FailedCalls {
                    target: record.target.clone(),
                    result_code: record.result_code.clone(),
                    calls: 0,
                    duration_ms: 0.0,
                    throttled_ms: 0.0,
                });
                groups.last_mut().expect("just pushed")
            }
        };
        group.calls += 1;
        group.duration_ms += record.duration_ms;
    }
    // The wait of each parent's throttled calls to a target, from all its calls to it.
    let mut retried: HashMap<(&str, &str, &str, &str), Vec<&CallRecord>> = HashMap::new();
    for record in records.iter().filter(not_retried_call) {
        retried
            .entry((
                &record.app,
                &record.operation_id,
                &record.parent_id,
                &record.target,
            ))
            .or_default()
            .push(record);
    }
    for ((_, operation_id, _, target), calls) in &retried {
        if !calls.iter().any(|c| is_throttled(&c.result_code)) {
            continue;
        }
        let waited = throttled_time_of_stored(calls.iter().map(|c| {
            (
                c.timestamp_ns,
                c.duration_ms,
                c.result_code.as_str(),
                c.success,
            )
        }));
        if let Some(group) = by_operation.get_mut(*operation_id).and_then(|groups| {
            groups
                .iter_mut()
                .find(|g| g.target == *target && is_throttled(&g.result_code))
        }) {
            group.throttled_ms += waited;
        }
    }
    for groups in by_operation.values_mut() {
        groups.sort_by(|a, b| {
            (b.calls, &a.target, &a.result_code).cmp(&(a.calls, &b.target, &b.result_code))
        });
    }
    by_operation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(parent: &str, target: &str, at_ms: i64, duration_ms: f64, code: &str) -> CallRecord {
        CallRecord {
            app: "a".into(),
            operation_id: "op".into(),
            parent_id: parent.into(),
            id: format!("{parent}-{at_ms}"),
            target: target.into(),
            result_code: code.into(),
            success: code == "200",
            timestamp_ns: at_ms * 1_000_000,
            duration_ms,
        }
    }

    #[test]
    fn throttled_calls_carry_their_wait_and_other_failures_their_count() {
        let records = [
            call("chat", "aoai", 10, 200.0, "429"),
            call("chat", "aoai", 1_220, 210.0, "429"),
            call("chat", "aoai", 3_440, 190.0, "429"),
            call("chat", "aoai", 5_680, 1_650.0, "200"),
            call("req", "search", 5, 12.0, "503"),
        ];
        // The LLM call itself ended 429 after its attempts: it is not a fourth 429.
        let mut with_call = records.to_vec();
        with_call.push(CallRecord {
            id: "chat".into(),
            parent_id: "req".into(),
            ..call("req", "aoai", 0, 7_000.0, "429")
        });
        assert_eq!(
            failed_calls_by_operation(&with_call)["op"],
            failed_calls_by_operation(&records)["op"]
        );
        let causes = failed_calls_by_operation(&records);
        assert_eq!(
            causes["op"],
            [
                FailedCalls {
                    target: "aoai".into(),
                    result_code: "429".into(),
                    calls: 3,
                    duration_ms: 600.0,
                    throttled_ms: 5_670.0,
                },
                FailedCalls {
                    target: "search".into(),
                    result_code: "503".into(),
                    calls: 1,
                    duration_ms: 12.0,
                    throttled_ms: 0.0,
                },
            ]
        );
        assert!(failed_calls_by_operation(&[call("p", "t", 0, 1.0, "200")]).is_empty());
    }
}

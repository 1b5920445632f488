//! What "throttled" means, defined once for every answer (transaction, findings, GenAI usage,
//! the UI): an attempt is throttled when it answered 429; a call is throttled when any of its
//! attempts was; the throttled time is what the caller waited because of it — from the first
//! throttled attempt's start to the start of the successful attempt after it (the SDK's back-off
//! included), or to the last attempt's end when none succeeded. It lives beneath the stores
//! and the query layer alike: SQLite folds each throttled call with its attempts here (as the
//! transaction view does), ClickHouse computes the same on the server
//! (`store::sql::genai_throttling`), and `tests/query_api.rs` checks that usage and the
//! transaction view agree.

use std::collections::HashMap;

use super::ThrottledCall;

/// The result code of a throttled attempt.
pub const THROTTLED_RESULT: &str = "429";

pub fn is_throttled(result_code: &str) -> bool {
    result_code == THROTTLED_RESULT
}

/// Whether a dependency is a throttled attempt of a call: it answered 429 and names no GenAI
/// provider (the HTTP try beneath the GenAI call that does).
pub fn is_throttled_attempt(genai_provider: &str, result_code: &str) -> bool {
    genai_provider.is_empty() && is_throttled(result_code)
}

/// A duration in ms as whole ns, rounded half up. Throttled time is added up in whole ns, so
/// that every store's total is the same whatever order it adds calls in; ClickHouse takes the
/// same steps (`toInt64(floor(ms * 1e6 + 0.5))`: 18.16 and current releases round ties
/// differently, `floor` does not). Out-of-range values saturate.
pub fn ns_of_ms(ms: f64) -> i64 {
    (ms * 1e6 + 0.5).floor() as i64
}

/// The time a call's stored attempts, given as (start in UTC ns, duration in ms, result code,
/// succeeded), waited because of throttling, in whole ns (the module's definition: from the
/// first 429's start to the start of the first successful attempt from then on, or to the
/// last attempt's end).
pub fn throttled_ns_of_stored<'a>(
    attempts: impl IntoIterator<Item = (i64, f64, &'a str, bool)>,
) -> i64 {
    let attempts: Vec<(i64, f64, &str, bool)> = attempts.into_iter().collect();
    let Some(first) = attempts
        .iter()
        .filter(|a| is_throttled(a.2))
        .map(|a| a.0)
        .min()
    else {
        return 0;
    };
    let success = attempts
        .iter()
        .filter(|a| a.3 && a.0 >= first)
        .map(|a| a.0)
        .min();
    let until = success.unwrap_or_else(|| {
        attempts
            .iter()
            .map(|a| a.0.saturating_add(ns_of_ms(a.1)))
            .fold(first, i64::max)
    });
    until.saturating_sub(first).max(0)
}

/// [`throttled_ns_of_stored`] in ms.
pub fn throttled_time_of_stored<'a>(
    attempts: impl IntoIterator<Item = (i64, f64, &'a str, bool)>,
) -> f64 {
    throttled_ns_of_stored(attempts) as f64 / 1e6
}

/// Throttling of one provider, model and target's calls.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThrottledCalls {
    /// Calls with a throttled attempt (once each, however often stored).
    pub calls: u64,
    /// Throttled attempts, weighted by `itemCount` (every stored copy counts).
    pub attempts: u64,
    /// What the callers waited because of throttling, summed over the calls in whole ns.
    pub throttled_ns: i64,
    /// Of these calls, those that ended 429 themselves, and their summed duration (whole ns):
    /// the aggregate rows count such calls as throttled already.
    pub ended_throttled: u64,
    pub ended_throttled_ns: i64,
}

impl ThrottledCalls {
    pub fn throttled_ms(&self) -> f64 {
        self.throttled_ns as f64 / 1e6
    }

    pub fn ended_throttled_ms(&self) -> f64 {
        self.ended_throttled_ns as f64 / 1e6
    }
}

/// Key of a provider, model and target.
pub type ModelKey = (String, String, String);

/// A window's GenAI throttling, per provider, model and target of the calls: what the usage
/// read needs from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenAiThrottling {
    pub per_model: HashMap<ModelKey, ThrottledCalls>,
    /// The minute (bucket start, ns) each throttled call was first throttled in, ascending.
    pub first_minutes: HashMap<ModelKey, Vec<i64>>,
}

/// What one throttled call adds to [`GenAiThrottling`] (SQLite keeps these per call, kept
/// up to date as its spans are written).
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottledCallFacts {
    pub model: ModelKey,
    /// Its throttled attempts, weighted by `itemCount` (every stored copy counts).
    pub throttled_attempts: u64,
    /// What the caller waited because of throttling, in whole ns.
    pub waited_ns: i64,
    /// The minute its first throttled attempt started in.
    pub first_minute_ns: Option<i64>,
    /// Whether the call ended 429 itself, and its duration in whole ns.
    pub ended_throttled: bool,
    pub duration_ns: i64,
}

impl ThrottledCallFacts {
    pub fn of(call: &ThrottledCall) -> Self {
        let throttled = || {
            call.attempts
                .iter()
                .filter(|a| is_throttled(&a.result_code))
        };
        ThrottledCallFacts {
            model: model_key(call),
            throttled_attempts: throttled()
                .fold(0, |sum: u64, a| sum.saturating_add(u64::from(a.item_count))),
            waited_ns: throttled_ns_of_stored(call.attempts.iter().map(|a| {
                (
                    a.timestamp_ns,
                    a.duration_ms,
                    a.result_code.as_str(),
                    a.success,
                )
            })),
            first_minute_ns: throttled()
                .map(|a| a.timestamp_ns)
                .min()
                .map(crate::time::minute_of),
            ended_throttled: is_throttled(&call.result_code),
            duration_ns: ns_of_ms(call.duration_ms),
        }
    }
}

impl GenAiThrottling {
    /// The throttling of calls read with their attempts.
    pub fn of_calls(calls: &[ThrottledCall]) -> Self {
        Self::of_facts(calls.iter().map(ThrottledCallFacts::of))
    }

    /// Adds up calls' facts (in whole ns, so the order does not change the sums).
    pub fn of_facts(facts: impl IntoIterator<Item = ThrottledCallFacts>) -> Self {
        let mut throttling = GenAiThrottling::default();
        for call in facts {
            let entry = throttling.per_model.entry(call.model.clone()).or_default();
            entry.calls += 1;
            entry.attempts = entry.attempts.saturating_add(call.throttled_attempts);
            entry.throttled_ns = entry.throttled_ns.saturating_add(call.waited_ns);
            if call.ended_throttled {
                entry.ended_throttled += 1;
                entry.ended_throttled_ns =
                    entry.ended_throttled_ns.saturating_add(call.duration_ns);
            }
            if let Some(minute) = call.first_minute_ns {
                throttling
                    .first_minutes
                    .entry(call.model)
                    .or_default()
                    .push(minute);
            }
        }
        for minutes in throttling.first_minutes.values_mut() {
            minutes.sort_unstable();
        }
        throttling
    }
}

fn model_key(call: &ThrottledCall) -> ModelKey {
    (
        call.provider.clone(),
        call.model.clone(),
        call.target.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reads::StoredAttempt;

    fn attempt(start_ms: i64, duration_ms: f64, result: &str) -> (i64, f64, &str, bool) {
        (start_ms * 1_000_000, duration_ms, result, result == "200")
    }

    #[test]
    fn throttled_time_runs_from_the_first_429_to_the_successful_attempt() {
        // The seed story: 429s at 10, 1,220 and 3,440 ms (back-off between), then the answer.
        let attempts = [
            attempt(10, 200.0, "429"),
            attempt(1_220, 210.0, "429"),
            attempt(3_440, 190.0, "429"),
            attempt(5_680, 1_650.0, "200"),
        ];
        assert_eq!(throttled_time_of_stored(attempts), 5_670.0);
        // Never answered: until the last attempt ended.
        assert_eq!(throttled_time_of_stored(attempts[..3].to_vec()), 3_620.0);
        // A failure that was not a 429 is no throttling.
        assert_eq!(
            throttled_time_of_stored([attempt(0, 50.0, "503"), attempt(60, 10.0, "200")]),
            0.0
        );
        assert_eq!(throttled_time_of_stored([]), 0.0);
        assert!(is_throttled("429") && !is_throttled("503"));
    }

    fn attempt_at(at_ms: i64, duration_ms: f64, result: &str) -> StoredAttempt {
        StoredAttempt {
            timestamp_ns: at_ms * 1_000_000,
            duration_ms,
            result_code: result.into(),
            success: result == "200",
            item_count: 1,
        }
    }

    fn call(id: &str, attempts: Vec<StoredAttempt>) -> ThrottledCall {
        ThrottledCall {
            provider: "azure.ai.openai".into(),
            model: "gpt-4o".into(),
            target: "aoai".into(),
            app: "a".into(),
            operation_id: "op".into(),
            call_id: id.into(),
            timestamp_ns: 0,
            result_code: "200".into(),
            duration_ms: 7_000.0,
            attempts,
        }
    }

    #[test]
    fn every_stored_attempt_counts_and_each_call_once() {
        let once = [
            attempt_at(10, 200.0, "429"),
            attempt_at(1_220, 210.0, "429"),
            attempt_at(3_440, 190.0, "429"),
            attempt_at(5_680, 1_650.0, "200"),
        ];
        // The first call's attempts were stored twice; the second ended 429 itself.
        let twice: Vec<StoredAttempt> = once.iter().chain(&once).cloned().collect();
        let mut ended = call(
            "c2",
            vec![attempt_at(100, 50.0, "429"), attempt_at(400, 50.0, "200")],
        );
        ended.result_code = "429".into();
        let calls = [call("c1", twice), ended];
        let key = (
            "azure.ai.openai".to_owned(),
            "gpt-4o".to_owned(),
            "aoai".to_owned(),
        );
        let throttling = GenAiThrottling::of_calls(&calls);
        let folded = throttling.per_model[&key];
        assert_eq!(
            (folded.calls, folded.attempts, folded.throttled_ms()),
            (2, 7, 5_670.0 + 300.0)
        );
        assert_eq!(
            (folded.ended_throttled, folded.ended_throttled_ms()),
            (1, 7_000.0)
        );
        assert_eq!(throttling.first_minutes[&key], [0, 0]);
    }

    #[test]
    fn throttled_time_adds_up_in_whole_ns_in_any_order() {
        // 0.1 + 0.2 + 0.3 ms differs from 0.3 + 0.2 + 0.1 in floating point; the stores add
        // calls up in different orders and must agree.
        let facts = |waits: [f64; 3]| {
            waits.map(|ms| ThrottledCallFacts {
                model: ("p".into(), "m".into(), "t".into()),
                throttled_attempts: 1,
                waited_ns: ns_of_ms(ms),
                first_minute_ns: None,
                ended_throttled: true,
                duration_ns: ns_of_ms(ms),
            })
        };
        let total = |waits| {
            let throttling = GenAiThrottling::of_facts(facts(waits));
            let calls = throttling
                .per_model
                .values()
                .next()
                .copied()
                .expect("one model");
            (calls.throttled_ms(), calls.ended_throttled_ms())
        };
        assert_eq!(total([0.1, 0.2, 0.3]), total([0.3, 0.2, 0.1]));
        assert_eq!(total([0.1, 0.2, 0.3]).0, 0.6);
        // A call never answered waits until its last attempt ended, in whole ns.
        let never = [
            (1_000_000, 0.4, "429", false),
            (2_000_000, 1.0000004, "429", false),
        ];
        assert_eq!(throttled_ns_of_stored(never), 2_000_000);
        assert_eq!(ns_of_ms(f64::NAN), 0);
        assert_eq!(ns_of_ms(1e300), i64::MAX);
    }
}

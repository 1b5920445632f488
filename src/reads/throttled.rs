//! The spans of throttled GenAI calls as SQLite reads them — every GenAI call and HTTP
//! attempt of the operations with a 429 attempt — paired into [`ThrottledCall`]s (ClickHouse
//! pairs them in its statement, `store::sql::genai_throttling`).

use std::collections::HashMap;

use super::throttling::is_throttled;
use super::{StoredAttempt, ThrottledCall};

/// A dependency of an operation with a throttled attempt: a GenAI call (`provider` set) or an
/// attempt (`provider` empty) beneath one.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottlingSpan {
    pub provider: String,
    pub model: String,
    pub target: String,
    pub app: String,
    pub operation_id: String,
    pub id: String,
    pub parent_id: String,
    pub result_code: String,
    pub duration_ms: f64,
    pub timestamp_ns: i64,
    pub success: bool,
    pub item_count: u32,
}

impl ThrottlingSpan {
    fn is_call(&self) -> bool {
        !self.provider.is_empty()
    }

    /// The call a span belongs to: its own id for a call, its parent's for an attempt.
    fn call_key(&self) -> CallKey<'_> {
        let call = if self.is_call() {
            &self.id
        } else {
            &self.parent_id
        };
        (&self.app, &self.operation_id, call)
    }
}

/// (app, operation id, call id).
type CallKey<'a> = (&'a str, &'a str, &'a str);

/// Every call with a throttled (429) attempt among `spans`, with its attempts oldest first
/// (every stored copy), ordered by app, operation and call id; at most `max_calls` (the first
/// in that order). A call stored twice is one; attempts whose call is not among `spans` are
/// left out.
pub fn throttled_calls(spans: &[ThrottlingSpan], max_calls: usize) -> Vec<ThrottledCall> {
    let mut calls: HashMap<CallKey<'_>, &ThrottlingSpan> = HashMap::new();
    let mut attempts: HashMap<CallKey<'_>, Vec<&ThrottlingSpan>> = HashMap::new();
    for span in spans {
        if span.is_call() {
            calls.entry(span.call_key()).or_insert(span);
        } else {
            attempts.entry(span.call_key()).or_default().push(span);
        }
    }
    let mut throttled: Vec<(CallKey<'_>, Vec<&ThrottlingSpan>)> = attempts
        .into_iter()
        .filter(|(key, tries)| {
            calls.contains_key(key) && tries.iter().any(|a| is_throttled(&a.result_code))
        })
        .collect();
    throttled.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    throttled.truncate(max_calls);
    throttled
        .into_iter()
        .map(|(key, mut tries)| {
            let call = calls[&key];
            tries.sort_by_key(|a| a.timestamp_ns);
            ThrottledCall {
                provider: call.provider.clone(),
                model: call.model.clone(),
                target: call.target.clone(),
                app: call.app.clone(),
                operation_id: call.operation_id.clone(),
                call_id: call.id.clone(),
                timestamp_ns: call.timestamp_ns,
                result_code: call.result_code.clone(),
                duration_ms: call.duration_ms,
                attempts: tries
                    .into_iter()
                    .map(|attempt| StoredAttempt {
                        timestamp_ns: attempt.timestamp_ns,
                        duration_ms: attempt.duration_ms,
                        result_code: attempt.result_code.clone(),
                        success: attempt.success,
                        item_count: attempt.item_count,
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, provider: &str, code: &str, at: i64) -> ThrottlingSpan {
        ThrottlingSpan {
            provider: provider.into(),
            model: if provider.is_empty() { "" } else { "gpt-4o" }.into(),
            target: "aoai".into(),
            app: "app".into(),
            operation_id: "op".into(),
            id: id.into(),
            parent_id: parent.into(),
            result_code: code.into(),
            duration_ms: 80.0,
            timestamp_ns: at,
            success: code == "200",
            item_count: 1,
        }
    }

    #[test]
    fn attempts_pair_with_their_call_once_each_copy_counted() {
        let spans = [
            // A throttled call, stored twice, its attempts out of order, one stored twice.
            span("c1", "r", "openai", "200", 0),
            span("a2", "c1", "", "200", 30),
            span("a1", "c1", "", "429", 10),
            span("c1", "r", "openai", "200", 0),
            span("a1", "c1", "", "429", 10),
            // A call never throttled, and attempts whose call is not among the spans.
            span("c2", "r", "openai", "200", 0),
            span("b1", "c2", "", "200", 5),
            span("x1", "gone", "", "429", 7),
        ];
        let calls = throttled_calls(&spans, 100);
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!(
            (
                call.call_id.as_str(),
                call.model.as_str(),
                call.provider.as_str()
            ),
            ("c1", "gpt-4o", "openai")
        );
        let seen: Vec<(i64, &str)> = call
            .attempts
            .iter()
            .map(|a| (a.timestamp_ns, a.result_code.as_str()))
            .collect();
        assert_eq!(seen, [(10, "429"), (10, "429"), (30, "200")]);
    }

    #[test]
    fn past_the_limit_the_last_calls_are_left_out() {
        let spans = [
            span("c1", "r", "openai", "200", 0),
            span("a1", "c1", "", "429", 1),
            span("a2", "c1", "", "200", 2),
            span("c2", "r", "openai", "200", 0),
            span("b1", "c2", "", "429", 1),
            span("b2", "c2", "", "200", 2),
        ];
        let calls = throttled_calls(&spans, 1);
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].call_id.as_str(), calls[0].attempts.len()),
            ("c1", 2)
        );
    }
}

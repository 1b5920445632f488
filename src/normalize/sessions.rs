//! Sessions and users named once per trace. Applications usually set `session.id` and
//! `user.id` on the span that handles the request (or through OpenInference's `using_session`
//! on the spans of one block), not on every LLM call and HTTP attempt beneath it; the GenAI
//! views group calls by session and user, so a span without them takes its nearest ancestor's
//! within the same request, and the exceptions and log lines of a span take the span's.
//! Spans exported in another request keep what they carry.

use std::collections::HashMap;

use crate::model::{Batch, Common};

/// Ancestors followed from a span; deeper chains (or cycles) stop there.
const MAX_DEPTH: usize = 64;

struct SpanContext<'a> {
    parent: &'a str,
    session: &'a str,
    user: &'a str,
}

pub fn inherit_session_and_user(batch: &mut Batch) {
    let spans = || {
        batch
            .requests
            .iter()
            .map(|r| &r.common)
            .chain(batch.dependencies.iter().map(|d| &d.common))
    };
    if !spans().any(|c| !c.session_id.is_empty() || !c.user_id.is_empty()) {
        return;
    }
    let by_span: HashMap<(&str, &str), SpanContext<'_>> = spans()
        .map(|c| {
            let context = SpanContext {
                parent: &c.operation_parent_id,
                session: &c.session_id,
                user: &c.user_id,
            };
            ((c.operation_id.as_str(), c.item_id.as_str()), context)
        })
        .collect();
    // The first non-empty value on the way up from `span`, for each of session and user.
    let inherited = |operation: &str, span: &str| -> (String, String) {
        let (mut session, mut user) = ("", "");
        let mut at = span;
        for _ in 0..MAX_DEPTH {
            let Some(context) = by_span.get(&(operation, at)) else {
                break;
            };
            if session.is_empty() {
                session = context.session;
            }
            if user.is_empty() {
                user = context.user;
            }
            if !session.is_empty() && !user.is_empty() {
                break;
            }
            at = context.parent;
        }
        (session.to_owned(), user.to_owned())
    };
    // Span rows start at themselves; exceptions and log lines at the span they belong to.
    let found = |c: &Common, from_self: bool| {
        let start = if from_self {
            &c.item_id
        } else {
            &c.operation_parent_id
        };
        (c.session_id.is_empty() || c.user_id.is_empty()).then(|| inherited(&c.operation_id, start))
    };
    let requests: Vec<_> = batch
        .requests
        .iter()
        .map(|r| found(&r.common, true))
        .collect();
    let dependencies: Vec<_> = batch
        .dependencies
        .iter()
        .map(|d| found(&d.common, true))
        .collect();
    let exceptions: Vec<_> = batch
        .exceptions
        .iter()
        .map(|e| found(&e.common, false))
        .collect();
    let traces: Vec<_> = batch
        .traces
        .iter()
        .map(|t| found(&t.common, false))
        .collect();
    drop(by_span);
    let apply = |common: &mut Common, found: Option<(String, String)>| {
        if let Some((session, user)) = found {
            if common.session_id.is_empty() {
                common.session_id = session;
            }
            if common.user_id.is_empty() {
                common.user_id = user;
            }
        }
    };
    for (row, found) in batch.requests.iter_mut().zip(requests) {
        apply(&mut row.common, found);
    }
    for (row, found) in batch.dependencies.iter_mut().zip(dependencies) {
        apply(&mut row.common, found);
    }
    for (row, found) in batch.exceptions.iter_mut().zip(exceptions) {
        apply(&mut row.common, found);
    }
    for (row, found) in batch.traces.iter_mut().zip(traces) {
        apply(&mut row.common, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dependency, Exception, Item, Request};

    fn common(operation: &str, id: &str, parent: &str, session: &str, user: &str) -> Common {
        Common {
            operation_id: operation.into(),
            item_id: id.into(),
            operation_parent_id: parent.into(),
            session_id: session.into(),
            user_id: user.into(),
            ..Default::default()
        }
    }

    fn dependency(c: Common) -> Item<Dependency> {
        Item {
            common: c,
            data: Dependency::default(),
        }
    }

    #[test]
    fn spans_take_the_nearest_ancestors_session_and_user() {
        let mut batch = Batch::default();
        batch.requests.push(Item {
            common: common("t1", "root", "", "s-1", "u-1"),
            data: Request::default(),
        });
        // A block with its own session, under the root.
        batch
            .dependencies
            .push(dependency(common("t1", "agent", "root", "s-2", "")));
        batch
            .dependencies
            .push(dependency(common("t1", "llm", "agent", "", "")));
        batch
            .dependencies
            .push(dependency(common("t1", "attempt", "llm", "", "")));
        // Another trace with the same span ids: nothing crosses over.
        batch
            .dependencies
            .push(dependency(common("t2", "llm", "agent", "", "")));
        batch.exceptions.push(Item {
            common: common("t1", "ex", "attempt", "", ""),
            data: Exception::default(),
        });
        inherit_session_and_user(&mut batch);
        let of = |c: &Common| (c.session_id.clone(), c.user_id.clone());
        let got: Vec<_> = batch.dependencies.iter().map(|d| of(&d.common)).collect();
        let pair = |s: &str, u: &str| (s.to_owned(), u.to_owned());
        assert_eq!(
            got,
            vec![
                pair("s-2", "u-1"),
                pair("s-2", "u-1"),
                pair("s-2", "u-1"),
                pair("", "")
            ]
        );
        assert_eq!(of(&batch.exceptions[0].common), pair("s-2", "u-1"));
        assert_eq!(of(&batch.requests[0].common), pair("s-1", "u-1"));
    }

    #[test]
    fn a_cycle_of_parents_ends() {
        let mut batch = Batch::default();
        batch
            .dependencies
            .push(dependency(common("t", "a", "b", "", "")));
        batch
            .dependencies
            .push(dependency(common("t", "b", "a", "", "")));
        batch
            .dependencies
            .push(dependency(common("t", "c", "", "s", "")));
        inherit_session_and_user(&mut batch);
        assert_eq!(batch.dependencies[0].common.session_id, "");
    }
}

use proptest::prelude::*;

use super::eval::Matcher;
use super::*;
use crate::query::otlp_trace::{TraceSpan, Value};

fn parsed(text: &str) -> SpansetExpr {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn error(text: &str) -> TraceQlError {
    match parse(text) {
        Ok(query) => panic!("{text} parsed as {query:?}"),
        Err(e) => e,
    }
}

#[test]
fn parses_what_grafanas_search_form_writes() {
    for text in [
        "{}",
        r#"{resource.service.name="rag-api" && name="POST /chat" && duration>5s}"#,
        "{span.http.response.status_code=429}",
        r#"{resource.service.name=~"rag-api|worker" && span.http.method="POST" && status=error}"#,
        "{duration>100ms && duration<=2.5s && kind=server}",
        r#"{traceDuration>1m && rootName="POST /chat" && rootServiceName="rag-api"}"#,
        r#"{span:name="x" && trace:rootService="y" && trace:duration>1h && span:status=ok}"#,
        r#"{.http.route="/chat" || .db.system!="redis"} && {status=error}"#,
        r#"({name="a"} || {name="b"}) && {span."attr with spaces"=1.5}"#,
        r#"{span.flag=true && statusMessage!~"timeout.*" && span.n>=-3}"#,
        "{ resource.k8s.pod.name = `raw\\string` }",
    ] {
        let query = parsed(text);
        assert_eq!(parsed(&print::query(&query)), query, "{text}");
    }
}

#[test]
fn and_binds_tighter_than_or() {
    let query = parsed(r#"{name="a"} || {name="b"} && {name="c"}"#);
    assert!(matches!(&query, SpansetExpr::Or(_, right) if matches!(**right, SpansetExpr::And(..))));
    let query = parsed(r#"{name="a" || name="b" && name="c"}"#);
    let SpansetExpr::Filter(SpansetFilter {
        expr: Some(FieldExpr::Or(_, right)),
        ..
    }) = query
    else {
        panic!("{query:?}");
    };
    assert!(matches!(*right, FieldExpr::And(..)));
}

#[test]
fn errors_name_the_column_and_what_is_not_supported() {
    let e = error(r#"{name="a"} | count() > 2"#);
    assert!(e.unsupported && e.column == 12, "{e}");
    assert!(e.to_string().contains("pipelines"), "{e}");
    let e = error(r#"{name="a"} >> {name="b"}"#);
    assert!(e.unsupported && e.to_string().contains(">>"), "{e}");
    let e = error("{span.x = nil}");
    assert!(e.unsupported && e.column == 11, "{e}");
    let e = error("{event.name = \"x\"}");
    assert!(e.unsupported, "{e}");
    let e = error("{duration > \"5s\"}");
    assert!(!e.unsupported && e.column == 13, "{e}");
    assert!(e.to_string().contains("duration cannot be compared"), "{e}");
    let e = error("{status = 5}");
    assert_eq!(e.column, 11, "{e}");
    let e = error("{name = \"a\"");
    assert!(e.to_string().contains("expected }"), "{e}");
    let e = error("{foo = 1}");
    assert!(e.to_string().contains("span.foo"), "{e}");
    let e = error("{duration > 5parsecs}");
    assert!(e.to_string().contains("unit"), "{e}");
    let e = error(r#"{name =~ "("}"#);
    assert!(e.to_string().contains("invalid regex"), "{e}");
    let e = error(&"(".repeat(200));
    assert!(e.to_string().contains("nested"), "{e}");
    assert!(error("").to_string().contains("expected a spanset"));
}

fn span(name: &str, service: &str, parent: &str, start_ms: i64, ms: i64) -> TraceSpan {
    TraceSpan {
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: format!("{:016x}", start_ms + 1),
        parent_span_id: parent.into(),
        name: name.into(),
        kind: crate::model::otel_span::SpanKind::Server,
        status: crate::model::otel_span::SpanStatus::Unset,
        status_message: String::new(),
        start_ns: start_ms * 1_000_000,
        end_ns: (start_ms + ms) * 1_000_000,
        resource: vec![("service.name".into(), Value::Str(service.into()))],
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        app: "app".into(),
    }
}

fn seed_trace() -> Vec<TraceSpan> {
    let root = span("POST /chat", "rag-api", "", 0, 7_700);
    let mut attempts: Vec<TraceSpan> = (0..4)
        .map(|i| {
            let mut s = span("POST", "rag-api", &root.span_id, 10 + i * 100, 90);
            let code = if i < 3 { 429 } else { 200 };
            s.attributes
                .push(("http.response.status_code".into(), Value::Int(code)));
            if i < 3 {
                s.status = crate::model::otel_span::SpanStatus::Error;
            }
            s
        })
        .collect();
    attempts.insert(0, root);
    attempts
}

fn matched(text: &str, spans: &[TraceSpan]) -> Vec<usize> {
    let query = parsed(text);
    Matcher::new(&query).expect("compiles").matches(spans)
}

#[test]
fn finds_the_slow_chat_and_its_throttled_attempts() {
    let trace = seed_trace();
    assert_eq!(
        matched(
            r#"{resource.service.name="rag-api" && name="POST /chat" && duration>5s}"#,
            &trace
        ),
        vec![0]
    );
    assert_eq!(
        matched("{span.http.response.status_code=429}", &trace),
        vec![1, 2, 3]
    );
    assert_eq!(
        matched(r#"{.http.response.status_code="200"}"#, &trace),
        vec![4]
    );
    assert_eq!(
        matched("{status=error} && {duration>7s}", &trace),
        vec![0, 1, 2, 3]
    );
    assert!(matched("{status=error} && {duration>8s}", &trace).is_empty());
    assert_eq!(
        matched("{status=error} || {duration>7s}", &trace),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        matched(
            r#"{rootName="POST /chat" && traceDuration>=7700ms && name="POST"}"#,
            &trace
        )
        .len(),
        4
    );
    assert_eq!(
        matched(r#"{resource.service.name=~"rag|api"}"#, &trace),
        Vec::<usize>::new()
    );
    assert_eq!(
        matched(r#"{resource.service.name=~"rag.*"}"#, &trace).len(),
        5
    );
    // A missing attribute matches neither = nor !=.
    assert!(matched(r#"{span.missing != "x"}"#, &trace).is_empty());
    assert_eq!(
        matched("{span.http.response.status_code >= 300}", &trace),
        vec![1, 2, 3]
    );
    assert_eq!(
        matched("{kind=server && status!=error}", &trace),
        vec![0, 4]
    );
    assert_eq!(matched("{}", &trace).len(), 5);
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z][a-z0-9_.]{0,12}", "[ -~]{1,8}", "\\PC{1,6}"]
}

fn arb_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<String>().prop_map(Literal::String),
        any::<i64>().prop_map(Literal::Int),
        (-1e12f64..1e12).prop_map(Literal::Float),
        any::<bool>().prop_map(Literal::Bool),
    ]
}

fn arb_comparison() -> impl Strategy<Value = FieldExpr> {
    let attribute = (
        prop_oneof![Just(Scope::Span), Just(Scope::Resource), Just(Scope::Any)],
        arb_name(),
        prop_oneof![
            Just(CompareOp::Eq),
            Just(CompareOp::Ne),
            Just(CompareOp::Gt),
            Just(CompareOp::Le)
        ],
        arb_literal(),
    )
        .prop_filter("bools compare with = and != only", |(_, _, op, value)| {
            !matches!(value, Literal::Bool(_)) || matches!(op, CompareOp::Eq | CompareOp::Ne)
        })
        .prop_map(|(scope, name, op, value)| (Field::Attribute { scope, name }, op, value));
    let duration = (
        prop_oneof![Just(Intrinsic::Duration), Just(Intrinsic::TraceDuration)],
        any::<i64>(),
    )
        .prop_map(|(i, ns)| (Field::Intrinsic(i), CompareOp::Ge, Literal::Duration(ns)));
    let status =
        prop::sample::select(crate::model::otel_span::SpanStatus::ALL.to_vec()).prop_map(|s| {
            (
                Field::Intrinsic(Intrinsic::Status),
                CompareOp::Ne,
                Literal::Status(s),
            )
        });
    let kind =
        prop::sample::select(crate::model::otel_span::SpanKind::ALL.to_vec()).prop_map(|k| {
            (
                Field::Intrinsic(Intrinsic::Kind),
                CompareOp::Eq,
                Literal::Kind(k),
            )
        });
    let regex = "[a-z]{0,4}(\\|[a-z]{1,3}\\.*)?".prop_map(|p| {
        (
            Field::Intrinsic(Intrinsic::Name),
            CompareOp::Regex,
            Literal::String(p),
        )
    });
    prop_oneof![attribute, duration, status, kind, regex].prop_map(|(field, op, value)| {
        FieldExpr::Compare(Comparison {
            field,
            op,
            value,
            pos: Pos(1),
        })
    })
}

fn arb_field_expr() -> impl Strategy<Value = FieldExpr> {
    arb_comparison().prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(l, r)| FieldExpr::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| FieldExpr::Or(Box::new(l), Box::new(r))),
        ]
    })
}

fn arb_query() -> impl Strategy<Value = SpansetExpr> {
    prop::option::of(arb_field_expr())
        .prop_map(|expr| SpansetExpr::Filter(SpansetFilter { expr, pos: Pos(1) }))
        .prop_recursive(3, 8, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(l, r)| SpansetExpr::And(Box::new(l), Box::new(r))),
                (inner.clone(), inner).prop_map(|(l, r)| SpansetExpr::Or(Box::new(l), Box::new(r))),
            ]
        })
}

proptest! {
    #[test]
    fn printing_and_parsing_again_is_the_identity(query in arb_query()) {
        let text = print::query(&query);
        let again = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(again, query, "{}", text);
    }

    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,64}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_near_misses(text in r#"[{}()&|=!~<>.:" a-z0-9sm]{0,40}"#) {
        if let Ok(query) = parse(&text) {
            let printed = print::query(&query);
            prop_assert_eq!(parse(&printed).ok(), Some(query));
        }
    }
}

//! Parser and planner tests: errors that point at the problem, every statement's SQL binding
//! its values, and properties over generated input (no panic on any text; printed queries
//! parse back to the same AST).

use proptest::prelude::*;

use super::ast::*;
use super::*;
use crate::reads::tabular::Param;

const NOW_NS: i64 = 1_795_341_600_000_000_000;
/// Where a table read starts when nothing sets its range: 24 hours before now (inclusive).
const DEFAULT_FROM: i64 = NOW_NS + 1 - DEFAULT_RANGE_NS;

fn planned(text: &str, dialect: Dialect) -> Result<PlannedQuery, KqlError> {
    let registry = Registry::app_insights();
    let scope = AppScope::Only(vec!["shop".into()]);
    plan(
        text,
        &QueryContext {
            dialect,
            now_ns: NOW_NS,
            scope: &scope,
            timespan: None,
            registry: &registry,
        },
    )
}

fn error(text: &str) -> String {
    planned(text, Dialect::Sqlite)
        .expect_err("the query is refused")
        .to_string()
}

#[test]
fn errors_name_the_position_and_what_was_expected() {
    assert_eq!(
        error("AppRequests | summarize count() by"),
        "1:35: expected a column after 'by', found the end of the query"
    );
    assert_eq!(
        error("AppRequests\n| where Nmae == 'x'"),
        "2:9: unknown column or name 'Nmae' (columns here: TimeGenerated, _ItemId, IKey, AppName, OperationId, ParentId, OperationName, AppRoleName, AppRoleInstance, SDKVersion, AppVersion, UserId, …)"
    );
    assert_eq!(
        error("AppRequests | mv-expand Properties"),
        "1:15: not supported: operator `mv-expand`"
    );
    assert_eq!(
        error("AppRequests | frobnicate"),
        "1:15: unknown operator 'frobnicate'"
    );
    assert!(error("Nope | take 1").starts_with("1:1: unknown table 'Nope' (tables: "));
    assert_eq!(
        error("AppRequests | where DurationMs"),
        "1:21: where needs a true/false condition, not a real value"
    );
    assert_eq!(
        error("AppRequests | where Name + 1 > 0"),
        "1:26: '+' does not apply to string and long"
    );
    assert_eq!(
        error("AppRequests | project count()"),
        "1:23: count() aggregates rows: use it in summarize"
    );
    assert_eq!(
        error("AppRequests | render timechart | take 1"),
        "1:22: render must be the last operator"
    );
}

#[test]
fn every_value_is_a_parameter_and_every_table_is_scoped() {
    let hostile = "x'); DROP TABLE requests; --";
    let text = format!(
        "let v = \"{hostile}\";\nunion AppRequests, (traces | where message has \"{hostile}\")\n| where Name == v or Name contains \"{hostile}\"\n| join kind=leftouter (AppDependencies | where Target startswith \"{hostile}\") on OperationId\n| summarize count() by Name"
    );
    for dialect in [Dialect::Sqlite, Dialect::ClickHouse] {
        let statement = planned(&text, dialect).expect("plans").statement;
        assert!(!statement.sql.contains("DROP"), "{}", statement.sql);
        assert_eq!(statement.sql.matches('?').count(), statement.params.len());
        // Four table reads (the left outer join reads the right side twice), each scoped.
        let scoped = statement
            .params
            .iter()
            .filter(|p| **p == Param::Text("shop".into()))
            .count();
        assert_eq!(scoped, statement.sql.matches(" FROM {").count());
        assert!(scoped >= 4, "{}", statement.sql);
    }
}

#[test]
fn the_time_range_comes_from_the_query_or_the_default() {
    let range_of = |text: &str| -> (i64, i64) {
        let statement = planned(text, Dialect::Sqlite).expect("plans").statement;
        let ints: Vec<i64> = statement
            .params
            .iter()
            .filter_map(|p| match p {
                Param::Int(n) => Some(*n),
                _ => None,
            })
            .collect();
        (ints[0], ints[1])
    };
    let hour = 3_600_000_000_000;
    assert_eq!(
        range_of("AppRequests | count"),
        (NOW_NS + 1 - 24 * hour, NOW_NS + 1)
    );
    assert_eq!(
        range_of("AppRequests | where TimeGenerated > ago(6h) | count"),
        (NOW_NS - 6 * hour, NOW_NS + 1)
    );
    assert_eq!(
        range_of(
            "let start = ago(2d); requests | where timestamp between (start .. ago(1d)) | count"
        ),
        (NOW_NS - 48 * hour, NOW_NS - 24 * hour + 1)
    );
}

#[test]
fn huge_take_is_capped_at_the_row_limit() {
    let statement = planned("AppRequests | take 9223372036854775807", Dialect::Sqlite)
        .expect("plans")
        .statement;
    assert_eq!(
        statement.params.last(),
        Some(&Param::Int(MAX_ROWS as i64 + 1))
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("print x = {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    assert!(error(&deep).contains("nests deeper than"));
    let negations = format!("print x = {}1", "-".repeat(5_000));
    assert!(error(&negations).contains("nests deeper than"));
}

fn parse_text(text: &str) -> Result<Query, KqlError> {
    parse(text, &Registry::app_insights())
}

// Generated ASTs: names that are never keywords, literals the lexer reads back exactly.
fn name() -> impl Strategy<Value = Ident> {
    "[a-z][a-zA-Z0-9_]{0,6}".prop_map(|name| Ident {
        name: format!("n{name}"),
        pos: Pos::START,
    })
}

fn literal() -> impl Strategy<Value = Expr> {
    prop_oneof![
        any::<bool>().prop_map(Literal::Bool),
        (0i64..i64::MAX).prop_map(Literal::Long),
        (0.0f64..1e12).prop_map(Literal::Real),
        ".{0,12}".prop_map(Literal::String),
        (0i64..1_000_000_000).prop_map(|n| Literal::Timespan(n * 100)),
        (0i64..4_000_000_000_000_000_000).prop_map(Literal::Datetime),
    ]
    .prop_map(|value| Expr::Literal(value, Pos::START))
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![literal(), name().prop_map(Expr::Column)];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let ops = prop_oneof![
            Just(BinaryOp::Or),
            Just(BinaryOp::And),
            Just(BinaryOp::Eq),
            Just(BinaryOp::Lt),
            Just(BinaryOp::EqTilde),
            Just(BinaryOp::Add),
            Just(BinaryOp::Mod),
            (0usize..4, any::<bool>(), any::<bool>()).prop_map(|(t, cs, neg)| {
                BinaryOp::Text(StringOp {
                    test: StringTest::WORDS[t].0,
                    case_sensitive: cs,
                    negated: neg,
                })
            }),
        ];
        prop_oneof![
            (ops, inner.clone(), inner.clone()).prop_map(|(op, l, r)| Expr::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r),
                pos: Pos::START
            }),
            (name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| Expr::Call { name, args }),
            (inner.clone(), name()).prop_map(|(base, name)| Expr::Member {
                base: Box::new(base),
                name
            }),
            inner
                .clone()
                .prop_map(|e| Expr::Negate(Box::new(e), Pos::START)),
            (
                inner.clone(),
                prop::collection::vec(inner.clone(), 1..3),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(e, list, negated, ci)| Expr::In {
                    expr: Box::new(e),
                    list,
                    negated,
                    case_insensitive: ci,
                    pos: Pos::START
                }),
            (inner.clone(), inner.clone(), inner).prop_map(|(e, lo, hi)| Expr::Between {
                expr: Box::new(e),
                low: Box::new(lo),
                high: Box::new(hi),
                negated: false,
                pos: Pos::START
            }),
        ]
    })
}

fn named() -> impl Strategy<Value = NamedExpr> {
    (prop::option::of(name()), expr()).prop_map(|(name, expr)| NamedExpr { name, expr })
}

fn operator() -> impl Strategy<Value = Operator> {
    prop_oneof![
        expr().prop_map(Operator::Where),
        prop::collection::vec(named(), 1..3).prop_map(Operator::Project),
        prop::collection::vec(named(), 1..3).prop_map(Operator::Extend),
        prop::collection::vec(name(), 1..3).prop_map(Operator::ProjectAway),
        (
            prop::collection::vec(named(), 0..3),
            prop::collection::vec(named(), 0..2)
        )
            .prop_filter("summarize needs something", |(a, b)| !a.is_empty()
                || !b.is_empty())
            .prop_map(|(aggregates, by)| Operator::Summarize { aggregates, by }),
        prop::collection::vec((expr(), any::<bool>(), any::<bool>()), 1..3).prop_map(|keys| {
            Operator::Sort(
                keys.into_iter()
                    .map(|(expr, descending, nulls_first)| SortKey {
                        expr,
                        descending,
                        nulls_first,
                    })
                    .collect(),
            )
        }),
        (0i64..1000).prop_map(|n| Operator::Take(Expr::Literal(Literal::Long(n), Pos::START))),
        Just(Operator::Count),
        prop::collection::vec(name(), 0..3).prop_map(Operator::Distinct),
        (0usize..5, name(), prop::collection::vec(name(), 1..3)).prop_map(|(kind, table, keys)| {
            Operator::Join {
                kind: JoinKind::ALL[kind].0,
                right: Tabular {
                    source: Source::Table(table),
                    operators: vec![Operator::Count],
                },
                on: keys.into_iter().map(JoinKey::Same).collect(),
            }
        }),
        name().prop_map(Operator::Render),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::collection::vec((name(), expr()), 0..2),
        name(),
        prop::collection::vec(operator(), 0..5),
    )
        .prop_map(|(lets, table, operators)| Query {
            lets: lets
                .into_iter()
                .map(|(name, value)| Let {
                    name,
                    value: LetValue::Scalar(value),
                })
                .collect(),
            body: Tabular {
                source: Source::Table(table),
                operators,
            },
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_queries_parse_back_to_the_same_ast(query in query()) {
        let text = print::query(&query);
        let parsed = parse_text(&text);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&query), "{}\n{:?}", text, parsed.as_ref().err());
    }

    #[test]
    fn no_text_makes_the_parser_or_planner_panic(text in "\\PC{0,200}") {
        let _ = planned(&text, Dialect::Sqlite);
    }

    #[test]
    fn no_token_soup_makes_the_parser_or_planner_panic(
        words in prop::collection::vec(prop_oneof![
            Just("AppRequests"), Just("|"), Just("where"), Just("summarize"), Just("by"),
            Just("count()"), Just("("), Just(")"), Just(","), Just("=="), Just("and"),
            Just("join"), Just("on"), Just("kind=leftouter"), Just("project"), Just("extend"),
            Just("x"), Just("DurationMs"), Just("'a'"), Just("5m"), Just("1"), Just("let"),
            Just("="), Just(";"), Just("union"), Just("bin(TimeGenerated, 1h)"), Just("*"),
            Just("Properties.k"), Just("["), Just("]"), Just("in"), Just("!"), Just("~"),
            Just("take"), Just("top"), Just("desc"), Just("percentiles(DurationMs, 50)"),
            Just("arg_max(DurationMs, *)"), Just("print"), Just("between"), Just(".."),
        ], 0..40),
    ) {
        let text = words.join(" ");
        for dialect in [Dialect::Sqlite, Dialect::ClickHouse] {
            if let Ok(planned) = planned(&text, dialect) {
                prop_assert_eq!(planned.statement.sql.matches('?').count(), planned.statement.params.len());
            }
        }
    }
}

#[test]
fn calls_named_like_keywords_print_back_as_calls() {
    // Found by fuzzing (fuzz/fuzz_targets/kql_parse.rs): `in(…)` printed as `['in'](…)`.
    for text in [
        "AppDependencies | summarize in(x) | summarize arg_max",
        "print and(1), by(2)",
    ] {
        let Ok(query) = parse_text(text) else {
            continue;
        };
        let printed = print::query(&query);
        assert_eq!(parse_text(&printed).ok(), Some(query), "{printed}");
    }
}

#[test]
fn printing_nests_no_deeper_than_the_query_did() {
    // Found by fuzzing: 38 minus signs parse, but printed as `-(-(…))` they nested too deep.
    let negations = format!("AppRequests | extend {}DurationMs", "-".repeat(35));
    let sum = format!("print x = {}", vec!["1"; 150].join(" + "));
    let mixed = "print x = -1 * (2 + 3) - 4 / -(5 % 6) > 7 and not(a or b) == c.d[\"e\"] or f in (1, 2) and g between (1 .. -2)";
    for text in [negations.as_str(), sum.as_str(), mixed] {
        let query = parse_text(text).expect("parses");
        let printed = print::query(&query);
        assert_eq!(parse_text(&printed).ok(), Some(query), "{printed}");
    }
}

#[test]
fn lets_see_the_lets_before_them_and_chains_are_bounded() {
    // `let T = T | …` reads the earlier T; planning it once looped forever.
    let shadowing = "let a = 1;\nlet a = a + 1;\nlet T = AppRequests;\nlet T = T | take 1;\nT | where DurationMs > a";
    for dialect in [Dialect::Sqlite, Dialect::ClickHouse] {
        let statement = planned(shadowing, dialect).expect("plans").statement;
        assert_eq!(statement.sql.matches(" FROM {requests}").count(), 1);
    }
    assert!(error("let x = x; print y = x").contains("unknown column or name 'x'"));
    let mut chain = "let T0 = AppRequests;\n".to_owned();
    for i in 1..200 {
        chain.push_str(&format!("let T{i} = T{} | take 1;\n", i - 1));
    }
    chain.push_str("T199 | count");
    assert!(error(&chain).contains("lets refer to other lets more than 40 deep"));
}

#[test]
fn long_operator_chains_count_against_the_depth_limit() {
    // Found in review: `1 + 1 + …` and `a and b and …` built trees as deep as the text was long
    // without a depth check, and planning them overflowed the stack.
    for chain in [" + ", " and ", " * ", " or "] {
        let longest_allowed = format!("print x = {}", vec!["1 > 0"; 180].join(chain));
        let _ = planned(&longest_allowed, Dialect::ClickHouse);
        let _ = planned(&longest_allowed, Dialect::Sqlite);
        let too_long = format!("print x = {}", vec!["1"; 10_000].join(chain));
        assert!(error(&too_long).contains("nests deeper than"), "{chain}");
    }
    let members = format!("AppRequests | extend x = Properties{}", ".a".repeat(20_000));
    assert!(error(&members).contains("nests deeper than"));
    let conditions = format!(
        "AppRequests | where {} | count",
        (0..150)
            .map(|i| format!("Name != \"n{i}\""))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    planned(&conditions, Dialect::ClickHouse).expect("150 conditions plan");
}

#[test]
fn the_deepest_accepted_calls_plan_within_a_thread_stack() {
    // Planning recurses once per call; the API plans on a 16 MiB stack (api::kql), which the
    // parser's limit must keep it within even in a debug build.
    for depth in [30, 60, 95] {
        let calls = format!(
            "print x = {}1{}",
            "strlen(tostring(iff(true, ".repeat(depth / 3),
            ", 2)))".repeat(depth / 3)
        );
        let strings = format!(
            "print x = {}\"a\"{}",
            "strcat(".repeat(depth),
            ")".repeat(depth)
        );
        for text in [calls, strings] {
            let _ = std::thread::Builder::new()
                .stack_size(16 << 20)
                .spawn(move || {
                    let _ = planned(&text, Dialect::ClickHouse);
                    let _ = planned(&text, Dialect::Sqlite);
                })
                .expect("thread")
                .join();
        }
    }
}

#[test]
fn queries_that_would_grow_exponentially_are_refused() {
    // Found in review: bin() uses its value twice, so nesting doubled the SQL per level; lets
    // referring to a let twice did the same to the SQL and to constant folding.
    let nested_bins = format!("print x = {}1{}", "bin(".repeat(35), ", 1)".repeat(35));
    assert!(
        error(&nested_bins).contains("bytes of SQL"),
        "{}",
        error(&nested_bins)
    );
    let mut doubling = "let a0 = 1;\n".to_owned();
    for i in 1..39 {
        doubling.push_str(&format!("let a{i} = a{} + a{};\n", i - 1, i - 1));
    }
    doubling.push_str("AppRequests | take a38");
    assert!(
        error(&doubling).contains("bytes of SQL"),
        "{}",
        error(&doubling)
    );
    let many_operators = format!("AppRequests{}", " | where true".repeat(4_000));
    assert!(error(&many_operators).contains("more than 300 operators"));
}

#[test]
fn review_findings_stay_fixed() {
    // Text and numbers in one conditional, summarize without an aggregation, no columns left.
    assert!(error("print x = iff(true, \"a\", 1)").contains("does not apply to"));
    assert!(error("AppRequests | summarize x = 1").contains("needs an aggregation"));
    assert!(error("AppRequests | project-away * | distinct *").contains("no columns"));
    // The capture group is a constant, read as one (not any fragment with one value).
    assert!(error("print x = extract(\"(a)(b)\", -1, \"ab\")").contains("no capture group -1"));
    assert!(
        error("AppRequests | extend x = extract(\"(a)(b)\", ItemCount * 2, Name)")
            .contains("constant capture group")
    );
    // A right-side column renamed by a join (`Name1`) keeps its column read.
    let joined = "AppDependencies | join kind=inner (AppRequests) on OperationId | summarize count() by Name1";
    planned(joined, Dialect::ClickHouse).expect("Name1 is the requests' Name");
    // ClickHouse's DateTime bounds stay inside its range for a 1900 lower bound.
    let statement = planned(
        "AppRequests | where TimeGenerated > datetime(1900-01-01) | count",
        Dialect::ClickHouse,
    )
    .expect("plans")
    .statement;
    assert_eq!(statement.params[0], Param::Int(0));
}

#[test]
fn lets_and_union_parts_take_the_time_range_of_the_pipeline_reading_them() {
    let week = NOW_NS - 7 * 86_400_000_000_000;
    for text in [
        "let R = AppRequests; R | where TimeGenerated > ago(7d) | count",
        "union AppRequests, AppDependencies | where TimeGenerated > ago(7d) | count",
        "let R = AppRequests | where Success; R | where TimeGenerated > ago(7d) | count",
    ] {
        let statement = planned(text, Dialect::Sqlite).expect("plans").statement;
        assert!(
            !statement.params.contains(&Param::Int(DEFAULT_FROM)),
            "{text}"
        );
        assert!(statement.params.contains(&Param::Int(week)), "{text}");
    }
    // A join's right side keeps its own (default) range.
    let joined = planned(
        "AppRequests | where TimeGenerated > ago(7d) | join (AppDependencies) on OperationId",
        Dialect::Sqlite,
    )
    .expect("plans")
    .statement;
    assert!(joined.params.contains(&Param::Int(DEFAULT_FROM)));
}

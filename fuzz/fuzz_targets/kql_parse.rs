//! Any bytes as a KQL query: parsing and planning for both stores must answer (a plan or an
//! error), never panic, and every plan binds exactly one value per placeholder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracehouse::kql::tables::Registry;
use tracehouse::kql::{QueryContext, plan, print};
use tracehouse::reads::AppScope;
use tracehouse::reads::tabular::Dialect;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = Registry::app_insights();
    let scope = AppScope::Only(vec!["app".into()]);
    for dialect in [Dialect::Sqlite, Dialect::ClickHouse] {
        let ctx = QueryContext {
            dialect,
            now_ns: 1_795_341_600_000_000_000,
            scope: &scope,
            timespan: None,
            registry: &registry,
        };
        if let Ok(planned) = plan(text, &ctx) {
            let statement = planned.statement;
            assert_eq!(statement.sql.matches('?').count(), statement.params.len());
        }
    }
    // A query that parses prints back to text that parses to the same query.
    if let Ok(query) = tracehouse::kql::parse(text, &registry) {
        let printed = print::query(&query);
        let reparsed = tracehouse::kql::parse(&printed, &registry);
        assert_eq!(reparsed.as_ref().ok(), Some(&query), "{printed}");
    }
});

use super::*;

pub(super) fn planned(text: &str, dialect: Dialect) -> Result<PlannedQuery, KqlError> {
    let registry = Registry::app_insights();
    let scope = AppScope::All;
    plan(
        text,
        &QueryContext {
            dialect,
            now_ns: 1_795_341_600_000_000_000,
            scope: &scope,
            timespan: None,
            registry: &registry,
        },
    )
}

#[test]
fn print_sql() {
    for d in [Dialect::Sqlite, Dialect::ClickHouse] {
        let p = planned("AppRequests | count", d).expect("ok");
        println!("{}\n{:?}", p.statement.sql, p.statement.params);
    }
}

#[tokio::test]
async fn debug_sqlite() {
    use crate::store::Store;
    let dir = tempfile::tempdir().expect("ok");
    let store = crate::store::sqlite::SqliteStore::open(dir.path())
        .await
        .expect("ok");
    let p = planned("AppRequests | extend d = DurationMs / 1000 | summarize avg(d) by bin(DurationMs, 1000) | sort by DurationMs asc", Dialect::Sqlite).expect("ok");
    println!("{}", p.statement.sql);
    println!("{:?}", store.tabular(&p.statement).await);
}

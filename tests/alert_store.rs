//! Alert state, history and the evaluator lease, read back alike from SQLite and from
//! ClickHouse (18.16 and chDB's current engine).

mod common;

use common::clickhouse::{Engine, both_stores, on_both_engines};
use tracehouse::reads::alert_records::{AlertEventRow, AlertStateRow, HistoryQuery, LeaseClaim};
use tracehouse::store::Store;

on_both_engines!(
    alert_states_and_history_read_back_alike,
    a_lease_has_one_holder_until_it_lapses_or_is_released,
);

fn state(rule: &str, series: &str, body: &str) -> AlertStateRow {
    AlertStateRow {
        rule: rule.into(),
        series: series.into(),
        body: body.into(),
    }
}

fn event(time_ns: i64, rule: &str, kind: &str) -> AlertEventRow {
    AlertEventRow {
        time_ns,
        rule: rule.into(),
        series: r#"[["role","api"]]"#.into(),
        kind: kind.into(),
        body: format!(r#"{{"at":{time_ns}}}"#),
    }
}

async fn alert_states_and_history_read_back_alike(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "alert_state").await;
    let stores: [&dyn Store; 2] = [&clickhouse, &sqlite];
    for store in stores {
        let name = store.name();
        store
            .save_alert_states(&[state("b", "", "{\"v\":1}"), state("a", "x", "{\"v\":1}")])
            .await
            .expect("save");
        // A later save replaces; an empty body forgets.
        store
            .save_alert_states(&[state("a", "x", "{\"v\":2}"), state("b", "", "")])
            .await
            .expect("save");
        store
            .save_alert_states(&[state("a", "y", "{\"v\":3}")])
            .await
            .expect("save");
        assert_eq!(
            store.alert_states().await.expect("states"),
            [state("a", "x", "{\"v\":2}"), state("a", "y", "{\"v\":3}")],
            "{name}"
        );

        let events: Vec<AlertEventRow> = (1..=5)
            .map(|i| event(i * 1_000, if i % 2 == 0 { "even" } else { "odd" }, "Fired"))
            .collect();
        store.append_alert_events(&events).await.expect("append");
        let read = |rules: Option<Vec<String>>, limit| {
            let query = HistoryQuery {
                rules,
                from_ns: 2_000,
                to_ns: 5_000,
                limit,
            };
            async move { store.alert_history(&query).await.expect("history") }
        };
        let times = |rows: Vec<AlertEventRow>| rows.iter().map(|e| e.time_ns).collect::<Vec<_>>();
        assert_eq!(
            times(read(None, 10).await),
            [4_000, 3_000, 2_000],
            "{name}: newest first, to exclusive"
        );
        assert_eq!(times(read(None, 2).await), [4_000, 3_000], "{name}");
        assert_eq!(
            times(read(Some(vec!["odd".into()]), 10).await),
            [3_000],
            "{name}"
        );
        assert_eq!(
            times(read(Some(Vec::new()), 10).await),
            Vec::<i64>::new(),
            "{name}"
        );
        assert_eq!(
            read(None, 1).await[0],
            events[3],
            "{name}: every field back"
        );
    }
}

fn claim(holder: &str, now_ns: i64) -> LeaseClaim {
    LeaseClaim {
        name: "alert-evaluator".into(),
        holder: holder.into(),
        now_ns,
        ttl_ns: 10_000,
    }
}

async fn a_lease_has_one_holder_until_it_lapses_or_is_released(engine: Engine) {
    let (clickhouse, sqlite, _dir) = both_stores(engine, "alert_lease").await;
    let stores: [&dyn Store; 2] = [&clickhouse, &sqlite];
    for store in stores {
        let name = store.name();
        let take = |holder: &'static str, now_ns: i64| async move {
            store
                .take_lease(&claim(holder, now_ns))
                .await
                .expect("lease")
        };
        assert!(take("a", 1_000).await, "{name}: a free lease is taken");
        assert!(!take("b", 2_000).await, "{name}: held");
        assert!(take("a", 8_000).await, "{name}: the holder renews");
        assert!(
            !take("b", 15_000).await,
            "{name}: the renewal lasts 10 µs from 8 µs"
        );
        assert!(take("b", 18_001).await, "{name}: lapsed, taken over");
        assert!(
            !take("a", 19_000).await,
            "{name}: the old holder is refused"
        );
        store
            .release_lease(&claim("a", 19_500))
            .await
            .expect("release");
        assert!(!take("a", 19_600).await, "{name}: only the holder releases");
        store
            .release_lease(&claim("b", 20_000))
            .await
            .expect("release");
        assert!(take("a", 20_001).await, "{name}: released, taken at once");
    }
}

//! The Grafana dashboards in `deploy/grafana/dashboards` run on tracehouse's ClickHouse tables,
//! on ClickHouse 18.16 and on chDB's current engine: every variable and panel query is expanded
//! the way the ClickHouse plugin (grafana-clickhouse-datasource) expands its macros, run on the
//! stored scenario, and answers rows of the shape its panel needs — and the figures of the seed
//! story (requests, failures, tokens, the three 429s under `gpt-4o`) come out right.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::TestServer;
use common::clickhouse::{Engine, database_for, on_both_engines, query};
use common::scenario::{AOAI, CALLS, MS, Scenario, load, wait_until_stored};
use serde_json::Value;

const DATASOURCE_UID: &str = "tracehouse-clickhouse";
const INTERVAL_S: u64 = 60;

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dashboards directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let json = serde_json::from_str(&text).expect("dashboard json");
            (path, json)
        })
        .collect()
}

/// The time range and interval a panel query is expanded with.
struct Window {
    from_s: u64,
    to_s: u64,
}

/// Expands the plugin's macros (`pkg/macros` of grafana-clickhouse-datasource: seconds
/// precision, `toStartOfInterval` buckets) and Grafana's `${name:singlequote}` variables.
/// Anything else starting with `$` is left in place, so the query fails to run and the test
/// names it.
fn expand(sql: &str, window: &Window, variables: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = sql.to_owned();
    for (name, values) in variables {
        let quoted: Vec<String> = values
            .iter()
            .map(|v| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect();
        out = out.replace(&format!("${{{name}:singlequote}}"), &quoted.join(","));
    }
    let from = format!("toDateTime({})", window.from_s);
    let to = format!("toDateTime({})", window.to_s);
    out = out.replace("$__interval_s", &INTERVAL_S.to_string());
    out = out.replace("$__fromTime", &from);
    out = out.replace("$__toTime", &to);
    for (macro_name, render) in [
        (
            "$__timeFilter(",
            &(|column: &str| format!("{column} >= {from} AND {column} <= {to}"))
                as &dyn Fn(&str) -> String,
        ),
        ("$__timeInterval(", &|column: &str| {
            format!("toStartOfInterval(toDateTime({column}), INTERVAL {INTERVAL_S} second)")
        }),
    ] {
        while let Some(at) = out.find(macro_name) {
            let open = at + macro_name.len();
            let close = open + out[open..].find(')').expect("macro closed");
            let rendered = render(out[open..close].trim());
            out.replace_range(at..=close, &rendered);
        }
    }
    assert!(!out.contains('$'), "unexpanded in {out}");
    out
}

/// Runs `sql` in `database`, answering ClickHouse's JSON output.
async fn run(engine: Engine, database: &str, sql: &str) -> Value {
    let url = format!("{}/?database={database}", engine.url());
    let text = query(&url, &format!("{sql}\nFORMAT JSON"))
        .await
        .unwrap_or_else(|e| panic!("{sql}\n-> {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn number(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().expect("f64"),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("number: {s}")),
        other => panic!("number: {other}"),
    }
}

/// Each dashboard's panels by title, as the rows they answered.
type Answers = BTreeMap<String, BTreeMap<String, Vec<Value>>>;

async fn answers_on(engine: Engine, database: &str, window: &Window) -> Answers {
    let mut answers = Answers::new();
    for (path, dashboard) in dashboards() {
        let title = dashboard["title"].as_str().expect("title").to_owned();
        // Variables in order, each at "All" (every value its query answers), as a fresh
        // dashboard opens.
        let mut variables = BTreeMap::new();
        for variable in dashboard["templating"]["list"].as_array().expect("list") {
            assert_eq!(variable["datasource"]["uid"], DATASOURCE_UID, "{path:?}");
            let name = variable["name"].as_str().expect("name").to_owned();
            let sql = expand(
                variable["query"].as_str().expect("query"),
                window,
                &variables,
            );
            let rows = run(engine, database, &sql).await;
            let values: Vec<String> = rows["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|row| {
                    let object = row.as_object().expect("row");
                    assert_eq!(object.len(), 1, "{name}: one column");
                    object
                        .values()
                        .next()
                        .and_then(Value::as_str)
                        .expect("text")
                        .to_owned()
                })
                .collect();
            assert!(!values.is_empty(), "{title}: variable {name} has no values");
            variables.insert(name, values);
        }
        let mut panels = BTreeMap::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            let panel_title = panel["title"].as_str().expect("title").to_owned();
            assert_eq!(panel["datasource"]["uid"], DATASOURCE_UID, "{panel_title}");
            let target = &panel["targets"][0];
            assert_eq!(target["editorType"], "sql", "{panel_title}");
            let sql = expand(target["rawSql"].as_str().expect("sql"), window, &variables);
            let result = run(engine, database, &sql).await;
            let meta = result["meta"].as_array().expect("meta");
            let rows = result["data"].as_array().expect("data").clone();
            assert!(!rows.is_empty(), "{title} / {panel_title}: no rows\n{sql}");
            let time_series = panel["type"] == "timeseries";
            assert_eq!(target["format"], if time_series { 0 } else { 1 });
            if time_series {
                // The plugin turns long rows (time, labels…, values…) into series: time comes
                // first as a DateTime, and at least one value is a number.
                assert_eq!(meta[0]["name"], "time", "{panel_title}");
                assert!(
                    meta[0]["type"]
                        .as_str()
                        .expect("type")
                        .starts_with("DateTime"),
                    "{panel_title}: {meta:?}"
                );
                assert!(
                    meta.iter().skip(1).any(|column| {
                        let kind = column["type"].as_str().expect("type");
                        kind.contains("Int") || kind.contains("Float")
                    }),
                    "{panel_title}: {meta:?}"
                );
            }
            panels.insert(panel_title, rows);
        }
        answers.insert(title, panels);
    }
    answers
}

fn row_where<'a>(rows: &'a [Value], key: &str, matches: impl Fn(&str) -> bool) -> &'a Value {
    rows.iter()
        .find(|row| row[key].as_str().is_some_and(&matches))
        .unwrap_or_else(|| panic!("no row with {key}: {rows:?}"))
}

async fn dashboards_answer_the_seed_story(engine: Engine) {
    let database = database_for("grafana_dashboards");
    let server = TestServer::start_on_engine(engine, &database, |_| {}).await;
    let scenario = Scenario::new();
    load(&server, &scenario).await;
    wait_until_stored(&server, &scenario).await;
    let window = Window {
        from_s: (scenario.base_ns - 60_000 * MS) / 1_000_000_000,
        to_s: (scenario.base_ns + 600_000 * MS) / 1_000_000_000,
    };
    let answers = answers_on(engine, &database, &window).await;

    let requests = &answers["tracehouse · Requests"]["Operations"];
    let chat = row_where(requests, "operation", |o| o == "POST /chat");
    assert_eq!(number(&chat["requests"]), CALLS as f64);
    // Calls 10, 20, 30 and 40 failed.
    assert_eq!(number(&chat["failed_pct"]), 8.0);
    assert!(number(&chat["max_ms"]) >= 7_700.0, "{chat}");
    let rate = &answers["tracehouse · Requests"]["Request rate by operation"];
    let per_s: f64 = rate
        .iter()
        .filter(|r| r["operation"] == "POST /chat")
        .map(|r| number(&r["requests_per_s"]))
        .sum();
    assert!(
        (per_s * INTERVAL_S as f64 - CALLS as f64).abs() < 1e-6,
        "{rate:?}"
    );

    let targets = &answers["tracehouse · Dependencies"]["Targets"];
    let aoai_throttled: f64 = targets
        .iter()
        .filter(|r| r["target"].as_str().is_some_and(|t| t.contains(AOAI)))
        .map(|r| number(&r["throttled"]))
        .sum();
    assert_eq!(aoai_throttled, 3.0, "{targets:?}");

    let genai = &answers["tracehouse · GenAI"];
    let model = row_where(&genai["Models"], "model", |m| m == "gpt-4o");
    assert_eq!(number(&model["calls"]), CALLS as f64);
    assert_eq!(number(&model["input_tokens"]), 100.0 * CALLS as f64);
    assert_eq!(number(&model["output_tokens"]), 50.0 * CALLS as f64);
    let throttling = row_where(&genai["Throttling by model and endpoint"], "model", |m| {
        m == "gpt-4o"
    });
    assert_eq!(number(&throttling["throttled_attempts"]), 3.0);
    assert_eq!(number(&throttling["throttled_calls"]), 1.0);
    assert!(
        throttling["target"]
            .as_str()
            .is_some_and(|t| t.contains(AOAI)),
        "{throttling}"
    );
    let over_time: f64 = genai["Throttled attempts (429) by model"]
        .iter()
        .map(|r| number(&r["throttled"]))
        .sum();
    assert_eq!(over_time, 3.0);
    server.stop().await;
}

on_both_engines!(dashboards_answer_the_seed_story);

#[test]
fn provisioning_names_the_dashboards_data_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/provisioning");
    let datasources =
        std::fs::read_to_string(root.join("datasources/tracehouse.yaml")).expect("datasources");
    assert!(datasources.contains(&format!("uid: {DATASOURCE_UID}")));
    assert!(datasources.contains("type: grafana-clickhouse-datasource"));
    let providers =
        std::fs::read_to_string(root.join("dashboards/tracehouse.yaml")).expect("providers");
    assert!(providers.contains("path: /var/lib/grafana/dashboards"));
    let compose =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml"))
            .expect("compose");
    assert!(compose.contains("./deploy/grafana/dashboards:/var/lib/grafana/dashboards"));
    assert!(compose.contains("grafana-clickhouse-datasource"));
}

//! `tracehouse query '<KQL>'`: one query against a running server's API, or directly against
//! the store (the data directory or ClickHouse), printed as an aligned table, JSON or CSV.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::StoreArgs;
use crate::kql::ResultTable;
use crate::kql::run::{QueryError, run_query};
use crate::reads::AppScope;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The KQL query, e.g. `AppRequests | summarize count() by bin(TimeGenerated, 5m)`.
    pub query: String,
    /// ISO 8601 duration or interval the query reads (`PT1H`, `<start>/<end>`); without it,
    /// the query's own time filter, else the last 24 hours.
    #[arg(long)]
    pub timespan: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Ask a running server's query API (e.g. `http://127.0.0.1:8080`) instead of reading
    /// the store directly.
    #[arg(long, env = "TRACEHOUSE_SERVER")]
    pub server: Option<String>,
    /// Query API token for `--server` (`tracehouse tokens create`).
    #[arg(long, env = "TRACEHOUSE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Runs the query and prints the answer; an error is the command's error.
pub async fn run(args: QueryArgs, store: Option<Arc<dyn Store>>) -> anyhow::Result<()> {
    let body = match (&args.server, store) {
        (Some(server), _) => ask_server(server, &args).await?,
        (None, Some(store)) => {
            let answer = run_query(
                store.as_ref(),
                &AppScope::All,
                &args.query,
                args.timespan.as_deref(),
                crate::clock::now_ns(),
            )
            .await;
            match answer {
                Ok(table) => return print(&table_body(&table, args.format)),
                Err(QueryError::Store(error)) => {
                    return Err(error).context("the store could not answer");
                }
                Err(error) => bail!("{error}"),
            }
        }
        (None, None) => bail!("give --server or a store (--data-dir, --clickhouse-url)"),
    };
    let table = parse_answer(&body)?;
    print(&table_body(&table, args.format))
}

fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn table_body(table: &ResultTable, format: Format) -> String {
    match format {
        Format::Table => table.to_text(),
        Format::Csv => table.to_csv(),
        Format::Json => serde_json::to_string_pretty(&table.to_json()).unwrap_or_default(),
    }
}

async fn ask_server(server: &str, args: &QueryArgs) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}/api/v1/query", server.trim_end_matches('/'));
    let body = serde_json::json!({ "query": args.query, "timespan": args.timespan });
    let mut request =
        http::Request::post(&url).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = &args.token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .with_context(|| format!("--server {server:?} is not a URL"))?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request)
        .await
        .with_context(|| format!("asking {url}"))?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        let message = answer["error"]["message"].as_str().unwrap_or("no message");
        bail!("{message} ({status})");
    }
    Ok(answer)
}

/// The API's answer back into a table, to print it the same way.
fn parse_answer(body: &serde_json::Value) -> anyhow::Result<ResultTable> {
    use crate::kql::types::KqlType;
    let table = &body["tables"][0];
    let columns = table["columns"]
        .as_array()
        .context("the answer has no columns")?
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_owned();
            let ty = match c["type"].as_str().unwrap_or_default() {
                "long" | "int" => KqlType::Long,
                "real" => KqlType::Real,
                "bool" => KqlType::Bool,
                _ => KqlType::String,
            };
            (name, ty)
        })
        .collect();
    let rows = table["rows"]
        .as_array()
        .context("the answer has no rows")?
        .iter()
        .map(|row| row.as_array().cloned().unwrap_or_default())
        .collect();
    Ok(ResultTable {
        columns,
        rows,
        truncated: body["truncated"].as_bool().unwrap_or(false),
        visualization: body["render"]["visualization"].as_str().map(str::to_owned),
    })
}

//! `tracehouse keys`: issue, list and revoke instrumentation keys, and check connection strings.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::ingest::connection_string::{self, for_tracehouse};
use crate::store::{KeyRecord, Store};

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Issue a key for an application and print its connection string.
    Create {
        /// The application the key names; recorded on every row sent with it.
        #[arg(long)]
        app: String,
        /// tracehouse's HTTP ingest address as apps reach it.
        #[arg(long, default_value = "http://localhost:4318/")]
        endpoint: String,
    },
    /// List issued keys.
    List,
    /// Revoke a key: requests with it get 401 when keys are required.
    Revoke { key: String },
    /// Parse a connection string as the SDKs do and show where it sends telemetry.
    Check { connection_string: String },
}

pub async fn run(command: KeysCommand, store: Option<Arc<dyn Store>>) -> anyhow::Result<()> {
    match command {
        KeysCommand::Check { connection_string } => {
            let parsed = connection_string::parse(&connection_string)?;
            println!("instrumentation key: {}", parsed.instrumentation_key);
            println!("ingestion endpoint:  {}", parsed.ingestion_endpoint);
            println!("live endpoint:       {}", parsed.live_endpoint);
            Ok(())
        }
        KeysCommand::Create { app, endpoint } => create(&app, &endpoint, &*opened(store)?).await,
        KeysCommand::List => list(&*opened(store)?).await,
        KeysCommand::Revoke { key } => revoke(&key, &*opened(store)?).await,
    }
}

fn opened(store: Option<Arc<dyn Store>>) -> anyhow::Result<Arc<dyn Store>> {
    store.context("keys are kept in the store: open one")
}

async fn create(app: &str, endpoint: &str, store: &dyn Store) -> anyhow::Result<()> {
    let app = app.trim();
    if app.is_empty() || app.len() > 256 {
        bail!("--app must be 1 to 256 characters");
    }
    let key = uuid::Uuid::new_v4().hyphenated().to_string();
    store
        .save_key(&KeyRecord {
            key: key.clone(),
            app: app.to_owned(),
            created_ns: crate::clock::now_ns(),
            revoked_ns: None,
        })
        .await?;
    println!("instrumentation key for {app}: {key}");
    println!();
    println!(
        "APPLICATIONINSIGHTS_CONNECTION_STRING=\"{}\"",
        for_tracehouse(&key, endpoint)
    );
    println!("OTEL_EXPORTER_OTLP_HEADERS=\"x-instrumentation-key={key}\"");
    Ok(())
}

async fn list(store: &dyn Store) -> anyhow::Result<()> {
    for key in store.keys().await? {
        let state = match key.revoked_ns {
            Some(at) => format!("revoked {}", crate::time::format_instant(at)),
            None => "active".to_owned(),
        };
        println!(
            "{}  {:<24}  created {}  {state}",
            key.key,
            key.app,
            crate::time::format_instant(key.created_ns)
        );
    }
    Ok(())
}

async fn revoke(key: &str, store: &dyn Store) -> anyhow::Result<()> {
    let key = key.trim().to_ascii_lowercase();
    let mut record = store
        .keys()
        .await?
        .into_iter()
        .find(|k| k.key == key)
        .with_context(|| format!("no key {key:?} was issued"))?;
    if record.revoked_ns.is_some() {
        bail!("key {key:?} is already revoked");
    }
    record.revoked_ns = Some(crate::clock::now_ns());
    store.save_key(&record).await?;
    println!("revoked {key} ({})", record.app);
    Ok(())
}

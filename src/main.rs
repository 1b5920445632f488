use clap::Parser;
use tracing_subscriber::EnvFilter;

use tracehouse::app::{self, Listeners};
use tracehouse::config::{Cli, Command, MigrateArgs};
use tracehouse::keys::KeysCommand;
use tracehouse::store::clickhouse::ClickHouseStore;
use tracehouse::store::clickhouse::schema::{self, Version};

/// Ingest allocates many small strings per item; mimalloc makes that markedly cheaper than
/// the system allocator (see benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // Colour codes only for a terminal: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.config().map_err(anyhow::Error::msg)?;
            let listeners =
                Listeners::bind(args.grpc_listen, args.http_listen, args.api_listen).await?;
            tracing::info!(
                grpc = %args.grpc_listen,
                http = %args.http_listen,
                api = %args.api_listen,
                data_dir = %config.data_dir.display(),
                "listening"
            );
            let reads_need_tokens = config.require_keys || config.require_tokens;
            if reads_need_tokens {
                tracing::info!("the query API answers only requests with a valid bearer token");
            } else if args.api_listen.ip().is_loopback() {
                tracing::info!(
                    api = %args.api_listen,
                    "the query API needs no token and listens on loopback only; give --require-tokens (and tokens from `tracehouse tokens create`) before exposing it"
                );
            } else {
                tracing::warn!(
                    api = %args.api_listen,
                    "the query API needs no token: anyone who reaches this address can read all telemetry; give --require-tokens or bind it to 127.0.0.1"
                );
            }
            let running = app::start(config, listeners).await?;
            shutdown_signal().await;
            tracing::info!("shutting down");
            running.stop().await
        }
        Command::Migrate(args) if args.print => {
            print!("{}", migration_script(&args).await?);
            Ok(())
        }
        Command::Migrate(args) => {
            let store = args.store;
            match store.clickhouse() {
                Some(clickhouse) => {
                    ClickHouseStore::open(&clickhouse).await?;
                }
                None => {
                    app::open_store(&store.data_dir, None, store.query_limits()).await?;
                }
            }
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Keys { store, command } => {
            let opened = match command {
                KeysCommand::Check { .. } => None,
                _ => Some(
                    app::open_store(
                        &store.data_dir,
                        store.clickhouse().as_ref(),
                        store.query_limits(),
                    )
                    .await?,
                ),
            };
            tracehouse::keys::run(command, opened).await
        }
        Command::Query(args) => {
            let store = match &args.server {
                Some(_) => None,
                None => Some(
                    app::open_store(
                        &args.store.data_dir,
                        args.store.clickhouse().as_ref(),
                        args.store.query_limits(),
                    )
                    .await?,
                ),
            };
            tracehouse::query_cli::run(*args, store).await
        }
        Command::Tokens { store, command } => {
            let opened = app::open_store(
                &store.data_dir,
                store.clickhouse().as_ref(),
                store.query_limits(),
            )
            .await?;
            tracehouse::tokens::cli::run(command, opened).await
        }
    }
}

/// The DDL `migrate` would apply: ClickHouse's for the version named or the server's, else
/// SQLite's.
async fn migration_script(args: &MigrateArgs) -> anyhow::Result<String> {
    let store = &args.store;
    let version = match (&args.clickhouse_version, store.clickhouse()) {
        (Some(text), _) => Some(Version::parse(text)?),
        (None, Some(clickhouse)) => ClickHouseStore::server_version(&clickhouse).await?.into(),
        (None, None) => None,
    };
    Ok(match version {
        Some(version) => schema::script(version, &store.clickhouse_database, store.retention_days),
        None => tracehouse::store::sqlite::schema_script(),
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

//! Wiring: the store, the pipeline, the ingest service and the three servers, started on
//! listeners the caller bound (so tests use `127.0.0.1:0`), stopped with a bounded drain.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::api::access::AccessControl;
use crate::config::ServeConfig;
use crate::credential_cache::REFRESH_INTERVAL;
use crate::http_server;
use crate::ingest::auth::Authenticator;
use crate::ingest::quickpulse::{self, LiveMetrics};
use crate::ingest::{CpuPool, IngestService, grpc, http, track};
use crate::pipeline::Pipeline;
use crate::reads::alert_records::LeaseClaim;
use crate::self_metrics::SelfMetrics;
use crate::store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use crate::store::sqlite::SqliteStore;
use crate::store::{QueryLimits, Store};
use crate::tls::Tls;

/// How often retention runs.
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);
/// The lease instances sharing a store compete for to run retention.
const RETENTION_LEASE: &str = "retention";

/// The listeners of one server, bound by the caller.
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
    pub api: TcpListener,
}

impl Listeners {
    pub async fn bind(
        grpc: std::net::SocketAddr,
        http: std::net::SocketAddr,
        api: std::net::SocketAddr,
    ) -> anyhow::Result<Self> {
        Ok(Listeners {
            grpc: TcpListener::bind(grpc)
                .await
                .with_context(|| format!("binding gRPC to {grpc}"))?,
            http: TcpListener::bind(http)
                .await
                .with_context(|| format!("binding HTTP to {http}"))?,
            api: TcpListener::bind(api)
                .await
                .with_context(|| format!("binding API to {api}"))?,
        })
    }
}

/// A started server.
pub struct Running {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<SelfMetrics>,
    shutdown: CancellationToken,
    servers: Vec<JoinHandle<anyhow::Result<()>>>,
    pipeline: Pipeline,
    config: ServeConfig,
}

/// Opens the configured store: ClickHouse when a URL is given (connected and migrated on first
/// use, so a server that is down does not stop tracehouse from spooling), else the embedded
/// SQLite (migrated now).
pub async fn open_store(
    data_dir: &std::path::Path,
    clickhouse: Option<&ClickHouseConfig>,
    query_limits: QueryLimits,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match clickhouse {
        Some(clickhouse) => {
            Arc::new(ClickHouseStore::new(clickhouse).context("configuring the ClickHouse store")?)
        }
        None => Arc::new(
            SqliteStore::open_with_limits(data_dir, query_limits)
                .await
                .context("opening the embedded SQLite store")?,
        ),
    })
}

/// Opens the store configured and starts serving.
pub async fn start(config: ServeConfig, listeners: Listeners) -> anyhow::Result<Running> {
    let store = open_store(
        &config.data_dir,
        config.clickhouse.as_ref(),
        config.query_limits,
    )
    .await?;
    start_with_store(config, listeners, store).await
}

/// Starts serving on an already opened store.
pub async fn start_with_store(
    config: ServeConfig,
    listeners: Listeners,
    store: Arc<dyn Store>,
) -> anyhow::Result<Running> {
    let metrics = Arc::new(SelfMetrics::default());
    let pipeline = Pipeline::start(
        Arc::clone(&store),
        config.pipeline.clone(),
        Arc::clone(&metrics),
    )
    .context("opening the spool")?;
    let authenticator = Authenticator::with_store(Arc::clone(&store), config.require_keys);
    authenticator.reload().await;
    let access = AccessControl::with_store(
        Arc::clone(&store),
        config.require_keys || config.require_tokens,
    );
    access.reload().await;
    let ingest = Arc::new(IngestService::new(
        config.ingest.clone(),
        pipeline.handle(),
        authenticator.clone(),
        Arc::clone(&metrics),
        CpuPool::per_core().context("starting normalization threads")?,
    ));
    let shutdown = CancellationToken::new();
    let mut servers = Vec::new();
    servers.push(tokio::spawn(refresh_credentials(
        authenticator.clone(),
        access.clone(),
        shutdown.clone(),
    )));
    let tls = match &config.tls {
        Some(files) => {
            let tls = Tls::load(files.clone()).context("loading the TLS certificate")?;
            servers.push(tls.watch(shutdown.clone()));
            Some(tls)
        }
        None => None,
    };

    let grpc_routes = grpc::routes(Arc::clone(&ingest));
    let grpc_shutdown = shutdown.clone();
    let grpc_tls = tls.as_ref().map(|tls| tls.grpc.clone());
    let idle_timeout = config.idle_timeout;
    servers.push(tokio::spawn(async move {
        // HTTP/2 pings find peers that went away without closing; bodies are paced by the
        // ingest admission like on every transport.
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(idle_timeout))
            .http2_keepalive_timeout(Some(idle_timeout))
            .add_routes(grpc_routes);
        let stopped = grpc_shutdown.clone().cancelled_owned();
        match grpc_tls {
            None => {
                server
                    .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.grpc), stopped)
                    .await
            }
            Some(acceptor) => {
                let incoming = http_server::tls_incoming(
                    listeners.grpc,
                    acceptor,
                    idle_timeout,
                    grpc_shutdown,
                );
                server.serve_with_incoming_shutdown(incoming, stopped).await
            }
        }
        .context("gRPC server")
    }));

    let live = Arc::new(LiveMetrics::new(config.live_metrics));
    let http_ingest = http::HttpIngest::new(Arc::clone(&ingest));
    let http_router = http::router(http_ingest.clone())
        .merge(track::router(http_ingest.clone()))
        .merge(quickpulse::router(http_ingest, Arc::clone(&live)));
    servers.push(http_server::spawn(
        listeners.http,
        http_router,
        shutdown.clone(),
        "ingest HTTP",
        config.idle_timeout,
        tls.as_ref().map(|tls| tls.http.clone()),
    ));

    let alerts = match &config.alerts {
        Some(alerts) => {
            let (view, tasks) = crate::alerts::start(
                alerts,
                Arc::clone(&store),
                Arc::new(crate::clock::now_ns),
                shutdown.clone(),
            )?;
            servers.extend(tasks);
            Some(view)
        }
        None => None,
    };
    let api_state = api::ApiState {
        alerts,
        store: Arc::clone(&store),
        access,
        metrics: Arc::clone(&metrics),
        live,
        genai: Arc::new(config.genai.clone()),
        secure_cookies: config.tls.is_some(),
        ingest_keys: authenticator.clone(),
    };
    let api_router = crate::ui::router(api_state.clone())
        .merge(api::router(api_state, &config.cors_origins).map_err(anyhow::Error::msg)?);
    servers.push(http_server::spawn(
        listeners.api,
        api_router,
        shutdown.clone(),
        "query API",
        config.idle_timeout,
        tls.as_ref().map(|tls| tls.http.clone()),
    ));

    if config.retention_days > 0 {
        servers.push(tokio::spawn(run_retention(
            Arc::clone(&store),
            config.retention_days,
            shutdown.clone(),
        )));
    }

    tracing::info!(store = store.name(), "tracehouse started");
    Ok(Running {
        store,
        metrics,
        shutdown,
        servers,
        pipeline,
        config,
    })
}

/// Removes telemetry past the retention period, at start and then hourly.
/// Re-reads instrumentation keys and API tokens so revocations and new ones take effect.
async fn refresh_credentials(
    authenticator: Authenticator,
    access: AccessControl,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFRESH_INTERVAL) => {
                authenticator.reload().await;
                access.reload().await;
            }
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Drops telemetry past retention every hour on the instance holding the retention lease:
/// of several instances sharing a store, one does it.
async fn run_retention(
    store: Arc<dyn Store>,
    days: u32,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    const DAY_NS: i64 = 86_400_000_000_000;
    let holder = crate::alerts::instance_name();
    loop {
        let now_ns = crate::clock::now_ns();
        // Held for two rounds: a holder that stopped is replaced within two hours.
        let claim = LeaseClaim {
            name: RETENTION_LEASE.into(),
            holder: holder.clone(),
            now_ns,
            ttl_ns: i64::try_from(2 * RETENTION_INTERVAL.as_nanos()).unwrap_or(i64::MAX),
        };
        match store.take_lease(&claim).await {
            Ok(true) => {
                let cutoff = now_ns.saturating_sub(i64::from(days) * DAY_NS);
                match store.enforce_retention(cutoff).await {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::info!(removed, days, "removed telemetry past retention")
                    }
                    Err(error) => tracing::warn!(%error, "retention failed; will retry"),
                }
            }
            Ok(false) => tracing::debug!("another instance holds the retention lease"),
            Err(error) => tracing::warn!(%error, "cannot take the retention lease; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(RETENTION_INTERVAL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish and flushes queued rows,
    /// all within the configured shutdown timeout.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let timeout = self.config.shutdown_timeout;
        let servers = async {
            for server in self.servers {
                match server.await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "server stopped with an error"),
                    Err(error) => tracing::warn!(%error, "server task failed"),
                }
            }
        };
        if tokio::time::timeout(timeout, servers).await.is_err() {
            tracing::warn!(?timeout, "in-flight requests did not finish in time");
        }
        if !self.pipeline.shutdown(timeout).await {
            anyhow::bail!("queued rows were not flushed within {timeout:?}");
        }
        tracing::info!("tracehouse stopped");
        Ok(())
    }
}

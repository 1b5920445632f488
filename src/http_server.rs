//! Serving a router on an HTTP listener with the timeouts `axum::serve` does not set: request
//! headers must arrive within the idle timeout, and a keep-alive connection that sends nothing
//! for that long is closed, so half-open and idle connections cannot pile up. (Bodies are
//! paced by the ingest admission.) Shutdown stops accepting and lets connections finish.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub fn spawn(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
    name: &'static str,
    idle_timeout: Duration,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(idle_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(idle_timeout)
            .keep_alive_timeout(idle_timeout);
        let graceful = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown.cancelled() => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, server = name, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let service = TowerToHyperService::new(router.clone());
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, server = name, "connection ended with an error");
                }
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    })
}

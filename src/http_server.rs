//! Serving a router on an HTTP listener with the timeouts `axum::serve` does not set: request
//! headers (and a TLS handshake) must arrive within the idle timeout, and a keep-alive
//! connection that sends nothing for that long is closed, so half-open and idle connections
//! cannot pile up. (Bodies are paced by the ingest admission.) With TLS, each connection is
//! a TLS stream first (for gRPC too, whose server takes the TLS streams from [`tls_incoming`]).
//! Shutdown stops accepting and lets connections finish.

use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::FromRequestParts;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The address a request came from: the accept loop puts it in every request's extensions,
/// so limits can be shared out per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The [`ClientAddr`] of a request, when it came through [`spawn`]'s accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts.extensions.get::<ClientAddr>().map(|client| client.0),
        ))
    }
}

/// The router, with each request tagged with the connection's client address.
#[derive(Clone)]
struct WithClient {
    router: axum::Router,
    client: ClientAddr,
}

impl<B> tower::Service<http::Request<B>> for WithClient
where
    axum::Router: tower::Service<http::Request<B>>,
{
    type Response = <axum::Router as tower::Service<http::Request<B>>>::Response;
    type Error = <axum::Router as tower::Service<http::Request<B>>>::Error;
    type Future = <axum::Router as tower::Service<http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<http::Request<B>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.client);
        self.router.call(request)
    }
}

/// The next connection and its peer, riding out failed accepts; `None` once shutdown begins.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    name: &'static str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return None,
        };
        match accepted {
            Ok(connection) => return Some(connection),
            Err(error) => {
                tracing::warn!(%error, server = name, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// TLS connections for the gRPC server (which takes a stream of them): each handshake on a
/// task of its own so a slow client holds up no other, handed over as they complete.
pub fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
) -> impl futures_util::Stream<Item = Result<tokio_rustls::server::TlsStream<TcpStream>, std::io::Error>>
{
    let (ready, streams) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some((stream, _)) = accept(&listener, &shutdown, "gRPC").await {
            let (acceptor, ready) = (acceptor.clone(), ready.clone());
            tokio::spawn(async move {
                if let Some(stream) = handshake(&acceptor, stream, handshake_timeout, "gRPC").await
                {
                    let _ = ready.send(Ok(stream)).await;
                }
            });
        }
    });
    futures_util::stream::unfold(streams, |mut streams| async move {
        streams.recv().await.map(|stream| (stream, streams))
    })
}

pub fn spawn(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
    name: &'static str,
    idle_timeout: Duration,
    tls: Option<TlsAcceptor>,
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
        while let Some((stream, peer)) = accept(&listener, &shutdown, name).await {
            let connection = Connection {
                builder: builder.clone(),
                watcher: graceful.watcher(),
                service: TowerToHyperService::new(WithClient {
                    router: router.clone(),
                    client: ClientAddr(peer.ip()),
                }),
                name,
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => connection.serve(stream).await,
                    Some(acceptor) => {
                        if let Some(stream) = handshake(&acceptor, stream, idle_timeout, name).await
                        {
                            connection.serve(stream).await;
                        }
                    }
                }
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    })
}

/// The TLS handshake of one connection, within `timeout`; `None` (logged) when it fails.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
    name: &'static str,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, server = name, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(server = name, "TLS handshake timed out");
            None
        }
    }
}

/// What serving one accepted connection needs.
struct Connection {
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    service: TowerToHyperService<WithClient>,
    name: &'static str,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = self
            .builder
            .serve_connection(TokioIo::new(io), self.service);
        if let Err(error) = self.watcher.watch(connection).await {
            tracing::debug!(%error, server = self.name, "connection ended with an error");
        }
    }
}

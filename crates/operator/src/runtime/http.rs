//! The HTTP endpoints: metrics (`--metrics-bind-address`, `--metrics-endpoint`) and the health
//! probes `/healthz` and `/readyz` (`--health-probe-bind-address`), served with axum. When both
//! addresses are the same, one server answers both. The admission webhooks are served over TLS
//! by the same axum server, through [`TlsListener`].

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use super::readiness::Readiness;
use crate::error::{Error, Result};
use crate::metrics::{self, Metrics};

/// Reads a bind address as Kubeflow's flags take it: `host:port`, `:port` (every interface), or
/// `0` (disabled, `None`).
pub fn parse_bind_address(flag: &str, value: &str) -> Result<Option<SocketAddr>, String> {
    let value = value.trim();
    if value == "0" || value.is_empty() {
        return Ok(None);
    }
    let full = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_string(),
    };
    if let Ok(address) = full.parse::<SocketAddr>() {
        return Ok(Some(address));
    }
    if let Some((host, port)) = full.rsplit_once(':')
        && host == "localhost"
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)));
    }
    Err(format!(
        "{flag} {value:?} is not an address: use host:port, :port, or 0 to turn it off"
    ))
}

/// Checks `--metrics-endpoint`.
pub fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    if !endpoint.starts_with('/') || endpoint.contains(char::is_whitespace) {
        return Err(format!(
            "--metrics-endpoint {endpoint:?} must be a path starting with '/'"
        ));
    }
    if matches!(endpoint, "/healthz" | "/readyz") {
        return Err(format!(
            "--metrics-endpoint {endpoint:?} is taken by the health probes"
        ));
    }
    Ok(())
}

pub fn metrics_router(metrics: Metrics, endpoint: &str) -> Router {
    Router::new().route(
        endpoint,
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
                    metrics.encode(),
                )
            }
        }),
    )
}

pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    let (ready, why) = readiness.status();
                    let code = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (code, why).into_response()
                }
            }),
        )
}

/// A process's metrics and health listeners, bound (so that their ports are known before they
/// serve): one listener for both when their addresses are the same.
pub struct Endpoints {
    listeners: Vec<(TcpListener, Router)>,
    metrics_address: Option<SocketAddr>,
    health_address: Option<SocketAddr>,
}

async fn bind(address: SocketAddr, what: &'static str) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Bind {
            address,
            what,
            source,
        })
}

impl Endpoints {
    /// Binds `metrics` (served at `endpoint`) and the health probes of `readiness`, each where
    /// its address says (`None`: not served).
    pub async fn bind(
        metrics: Option<(SocketAddr, Metrics)>,
        endpoint: &str,
        health: Option<(SocketAddr, Readiness)>,
    ) -> Result<Endpoints> {
        let metrics = metrics.map(|(address, m)| (address, metrics_router(m, endpoint)));
        let health = health.map(|(address, r)| (address, health_router(r)));
        let mut endpoints = Endpoints {
            listeners: Vec::new(),
            metrics_address: None,
            health_address: None,
        };
        match (metrics, health) {
            (Some((m, metrics)), Some((h, health))) if m == h => {
                let listener = bind(m, "metrics and health probes").await?;
                endpoints.metrics_address = listener.local_addr().ok();
                endpoints.health_address = endpoints.metrics_address;
                endpoints.listeners.push((listener, metrics.merge(health)));
            }
            (metrics, health) => {
                if let Some((address, router)) = metrics {
                    let listener = bind(address, "metrics").await?;
                    endpoints.metrics_address = listener.local_addr().ok();
                    endpoints.listeners.push((listener, router));
                }
                if let Some((address, router)) = health {
                    let listener = bind(address, "health probes").await?;
                    endpoints.health_address = listener.local_addr().ok();
                    endpoints.listeners.push((listener, router));
                }
            }
        }
        Ok(endpoints)
    }

    /// Where metrics are served, once bound.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    pub fn health_address(&self) -> Option<SocketAddr> {
        self.health_address
    }

    /// Serves them while `work` runs, then stops them (requests under way are answered) and
    /// returns what `work` returned.
    pub async fn serve_during<T>(self, work: impl Future<Output = T>) -> T {
        let (stop, stopped) = watch::channel(false);
        let servers: Vec<JoinHandle<std::io::Result<()>>> = self
            .listeners
            .into_iter()
            .map(|(listener, router)| {
                info!(address = ?listener.local_addr().ok(), "serving metrics/health");
                let mut stopped = stopped.clone();
                tokio::spawn(serve(listener, router, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }))
            })
            .collect();
        let result = work.await;
        let _ = stop.send(true);
        for server in servers {
            match server.await {
                Ok(Err(error)) => warn!(%error, "metrics/health server failed"),
                Err(error) => warn!(%error, "metrics/health server panicked"),
                Ok(Ok(())) => {}
            }
        }
        result
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A listener whose connections are TLS sessions, for `axum::serve`: each handshake runs in a
/// task of its own, so a slow or broken client does not hold up the others, and a failed one is
/// only logged. Dropping the listener (as a stopped server does) stops accepting.
pub struct TlsListener {
    sessions: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    _accepting: AbortOnDrop,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (ready, sessions) = tokio::sync::mpsc::channel(64);
        let acceptor = TlsAcceptor::from(tls);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(connection) => connection,
                    Err(error) => {
                        debug!(%error, "accept failed");
                        // Out of file descriptors, say: give the process a moment.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let ready = ready.clone();
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(session) => {
                            let _ = ready.send((session, peer)).await;
                        }
                        Err(error) => debug!(%error, %peer, "TLS handshake failed"),
                    }
                });
            }
        });
        Ok(TlsListener {
            sessions,
            local_addr,
            _accepting: AbortOnDrop(accepting),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.sessions.recv().await {
            Some(session) => session,
            // The accepting task ended, which only a panic does: serve nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves; requests under way are
/// answered.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(TlsListener::new(listener, tls)?, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_are_read_as_kubeflow_writes_them() {
        let f = "--metrics-bind-address";
        assert_eq!(parse_bind_address(f, "0"), Ok(None));
        assert_eq!(
            parse_bind_address(f, ":8080"),
            Ok(Some("0.0.0.0:8080".parse().unwrap()))
        );
        assert_eq!(
            parse_bind_address(f, "127.0.0.1:0"),
            Ok(Some("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            parse_bind_address(f, "localhost:9"),
            Ok(Some("127.0.0.1:9".parse().unwrap()))
        );
        let error = parse_bind_address(f, "eighty").unwrap_err();
        assert!(error.contains("--metrics-bind-address") && error.contains("host:port"));
        assert!(parse_bind_address(f, ":99999").is_err());
    }

    #[test]
    fn the_metrics_endpoint_is_a_free_path() {
        assert!(validate_endpoint("/metrics").is_ok());
        assert!(validate_endpoint("metrics").is_err());
        assert!(validate_endpoint("/readyz").is_err());
    }
}

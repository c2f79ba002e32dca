//! The HTTP(S) API server: axum routes for discovery, health and OpenAPI (v3, and v2 as kubectl
//! reads it to validate `List` files), every resource path handled by [`handlers`] (the
//! `proxy` subresources by `proxy`, `portforward` by `portforward`, `exec` and `attach` by
//! `remotecommand`, the last two sharing the WebSocket framing of `channel`), served over plain
//! TCP or rustls by hyper.

mod channel;
pub mod discovery;
mod encode;
mod handlers;
mod jsonpath;
mod metadata;
mod openapi;
mod openapi_v2;
pub(crate) mod path;
mod pod_log;
mod portforward;
pub(crate) mod protobuf;
mod proxy;
mod remotecommand;
pub mod table;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::registry::Cluster;
pub use handlers::{error_response, json_response};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub cluster: Cluster,
    /// `host:port` clients are told to use, in `/api`.
    pub server_address: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/version",
            get(|| async { json_response(StatusCode::OK, &discovery::version()) }),
        )
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/api", get(core_versions))
        .route("/apis", get(groups))
        .route("/openapi/v2", get(openapi_v2::serve))
        .route("/openapi/v3", get(openapi::v3_root))
        .route("/openapi/v3/{*path}", get(openapi::v3_group_version))
        .fallback(handlers::handle)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// The meta.k8s.io forms of what is read (`Table`, `PartialObjectMetadata`, ...) that the
/// media types of `accept` ask for, in the client's order.
fn meta_forms(accept: &str) -> impl Iterator<Item = &str> {
    accept.split(',').flat_map(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let of_meta = if params.contains(&"g=meta.k8s.io") {
            params
        } else {
            Vec::new()
        };
        of_meta
            .into_iter()
            .filter_map(|param| param.strip_prefix("as="))
    })
}

async fn ok() -> &'static str {
    "ok"
}

async fn core_versions(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &discovery::core_versions(&state.server_address),
    )
}

async fn groups(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &discovery::groups(state.cluster.kinds()))
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    tracing::debug!(%method, %uri, status = response.status().as_u16(), "request");
    response.into_response()
}

/// Serves `router` on `listener` (with TLS when `tls` is given) until `shutdown` turns true; open
/// connections, watches included, are dropped then.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, _) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                tracing::debug!(%error, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let acceptor = acceptor.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let served = async {
                match acceptor {
                    Some(acceptor) => {
                        let stream = match acceptor.accept(stream).await {
                            Ok(stream) => stream,
                            Err(error) => {
                                tracing::debug!(%error, "TLS handshake failed");
                                return;
                            }
                        };
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await;
                    }
                    None => {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await;
                    }
                }
            };
            tokio::select! {
                _ = served => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        });
    }
}

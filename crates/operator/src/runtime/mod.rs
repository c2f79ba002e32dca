//! One operator process in production: the controllers, behind leader election when it is on,
//! the metrics and health endpoints, and a graceful shutdown (reconciles in flight finish, the
//! lease is released, then the endpoints stop).

pub mod http;
pub mod namespace_selection;
pub mod readiness;
pub mod throttle;
pub mod wakeups;

use std::future::Future;
use std::net::SocketAddr;

use futures::FutureExt;
use kube::Client;

use crate::config::ControllerConfig;
use crate::error::Result;
use crate::leader::{self, LeaderElectionConfig, LeadershipEnd};
use crate::metrics::Metrics;
use readiness::Role;

/// Makes ring rustls's process-wide provider. kube-rs takes whichever provider is installed, and
/// a build that links a second one (another crate of the workspace asking for aws-lc-rs, say)
/// leaves rustls unable to choose: every binary that makes a client calls this first.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// The client of the API server that `config` names, each request of which `metrics` counts
/// (`rest_client_requests_total`), at most `limit` a second when there is one
/// (`--kube-api-qps`, `--kube-api-burst`).
pub fn client(
    config: kube::Config,
    metrics: &Metrics,
    limit: Option<throttle::ApiRateLimit>,
) -> Result<Client> {
    let counting = metrics.count_requests(&config.cluster_url);
    Ok(kube::client::ClientBuilder::try_from(identified(config))?
        .with_layer(&counting)
        .with_layer(&throttle::Throttle::new(limit))
        .build())
}

/// `config` with the operator's user agent, `spark-operator/<version> (<os>/<arch>)`: the name
/// under which the API server records the operator's writes in `managedFields` (kube-rs sends no
/// user agent of its own, which leaves them unnamed) and its requests in audit logs, as it does
/// Kubeflow's operator's.
pub fn identified(mut config: kube::Config) -> kube::Config {
    let agent = format!(
        "spark-operator/{} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    if let Ok(agent) = ::http::HeaderValue::from_str(&agent) {
        config.headers.push((::http::header::USER_AGENT, agent));
    }
    config
}

/// Everything `controller start` runs.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The controllers' settings; its `metrics` and `readiness` are the ones served.
    pub controller: ControllerConfig,
    /// `None` runs the controllers at once (`--leader-election=false`).
    pub leader_election: Option<LeaderElectionConfig>,
    /// `None` serves no metrics.
    pub metrics_address: Option<SocketAddr>,
    pub metrics_endpoint: String,
    /// `None` serves no health probes.
    pub health_address: Option<SocketAddr>,
}

/// The process with its listeners bound (so that their ports are known before it runs).
pub struct Operator {
    config: RuntimeConfig,
    endpoints: http::Endpoints,
}

impl Operator {
    /// Binds the metrics and health listeners.
    pub async fn bind(config: RuntimeConfig) -> Result<Operator> {
        let endpoints = http::Endpoints::bind(
            config
                .metrics_address
                .map(|a| (a, config.controller.metrics.clone())),
            &config.metrics_endpoint,
            config
                .health_address
                .map(|a| (a, config.controller.readiness.clone())),
        )
        .await?;
        Ok(Operator { config, endpoints })
    }

    /// Where metrics are served, once bound.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.endpoints.metrics_address()
    }

    pub fn health_address(&self) -> Option<SocketAddr> {
        self.endpoints.health_address()
    }

    /// Runs until `shutdown` resolves or the leader lease is lost.
    pub async fn run(
        self,
        client: Client,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<LeadershipEnd> {
        let Operator { config, endpoints } = self;
        endpoints
            .serve_during(Self::run_controllers(config, client, shutdown))
            .await
    }

    /// The controllers, behind leader election when it is on; readiness follows their role.
    async fn run_controllers(
        config: RuntimeConfig,
        client: Client,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<LeadershipEnd> {
        let readiness = config.controller.readiness.clone();
        let metrics = config.controller.metrics.clone();
        let controller = config.controller.clone();
        let end = match config.leader_election.clone() {
            None => {
                readiness.set_role(Role::Active);
                crate::controller::run_all(client, controller, shutdown)
                    .await
                    .map(|_| LeadershipEnd::Shutdown)
            }
            Some(election) => {
                readiness.set_role(Role::Standby);
                let lock = election.lock_name.clone();
                let on_leading = {
                    let readiness = readiness.clone();
                    move |leading: bool| {
                        metrics.set_leading(&lock, leading);
                        readiness.set_role(if leading {
                            Role::Active
                        } else {
                            Role::Stopping
                        });
                    }
                };
                let work_client = client.clone();
                leader::run_as_leader(
                    client,
                    election,
                    shutdown.boxed(),
                    on_leading,
                    move |stop| crate::controller::run_all(work_client, controller, stop),
                )
                .await
            }
        };
        readiness.set_role(Role::Stopping);
        end
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

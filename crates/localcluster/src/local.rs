//! [`LocalCluster`]: storage, the registry, the controllers and the HTTP(S) listeners (with
//! `auth` in front), started together in-process; and [`Runtime`]s run beside them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{self, ADMIN_TOKEN, Auth, Authorization};
use crate::controllers;
use crate::faults::{self, Faults};
use crate::registry::Cluster;
use crate::server::{self, AppState, tls};
use crate::simulation::process::{ApiAccess, ImageProgram, Installation, ProcessRuntime};
use crate::storage::{Store, StoreOptions};

/// Something that runs beside the API server for its whole life with direct access to it, such as
/// a simulated kubelet. Started by [`LocalCluster::add_runtime`]; `shutdown` resolves when it
/// stops.
pub trait Runtime: Send + Sync {
    fn run(&self, cluster: Cluster, shutdown: BoxFuture<'static, ()>) -> BoxFuture<'static, ()>;
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Must be a loopback address: unless `authorization` is RBAC, anyone who reaches it is
    /// the cluster's admin.
    pub address: IpAddr,
    /// Port of the main listener; 0 picks a free one.
    pub port: u16,
    /// Whether the main listener speaks HTTPS (with a CA written into the kubeconfig).
    pub tls: bool,
    /// A second, plain-HTTP listener beside an HTTPS main one (0 picks a free port).
    pub http_port: Option<u16>,
    /// Keep objects (and the CA) here across restarts; memory only when `None`.
    pub data_dir: Option<PathBuf>,
    /// How many recent events watches can resume from.
    pub watch_history: usize,
    /// Whether requests are checked against RBAC (see [`crate::auth`]).
    pub authorization: Authorization,
    /// Failures injected into the answers (see [`crate::faults`]); none by default.
    pub faults: Faults,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tls: true,
            http_port: Some(0),
            data_dir: None,
            watch_history: StoreOptions::default().history,
            authorization: Authorization::default(),
            faults: Faults::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("refusing to listen on {0}: only loopback addresses are allowed")]
    NotLoopback(IpAddr),
    #[error("opening the store: {0}")]
    Store(#[from] crate::storage::StoreError),
    #[error("starting the API: {0}")]
    Api(#[from] crate::error::ApiError),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("listening: {0}")]
    Listen(#[from] std::io::Error),
}

/// A running cluster. Dropping it (or [`LocalCluster::shutdown`]) stops everything.
pub struct LocalCluster {
    cluster: Cluster,
    url: String,
    http_url: Option<String>,
    https_url: Option<String>,
    ca_pem: Option<String>,
    ca_der: Option<Vec<u8>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl LocalCluster {
    pub async fn start(options: Options) -> Result<LocalCluster, StartError> {
        install_crypto_provider();
        if !options.address.is_loopback() {
            return Err(StartError::NotLoopback(options.address));
        }
        let store = Store::open(StoreOptions {
            data_dir: options.data_dir.clone(),
            history: options.watch_history,
        })?;
        let cluster = Cluster::new(store).await?;
        controllers::bootstrap(&cluster).await?;
        let (shutdown, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut controller_stop = stopped.clone();
        tasks.push(tokio::spawn(controllers::run(
            cluster.clone(),
            async move {
                let _ = controller_stop.wait_for(|s| *s).await;
            },
        )));

        let main = TcpListener::bind(SocketAddr::new(options.address, options.port)).await?;
        let main_address = main.local_addr()?;
        let extra = match (options.tls, options.http_port) {
            (true, Some(port)) => {
                Some(TcpListener::bind(SocketAddr::new(options.address, port)).await?)
            }
            _ => None,
        };
        let state = AppState {
            cluster: cluster.clone(),
            server_address: main_address.to_string(),
        };
        let auth = Auth::new(options.authorization, cluster.clone());
        let mut router = server::router(state)
            .layer(axum::middleware::from_fn_with_state(auth, auth::middleware));
        if !options.faults.is_empty() {
            // Outermost: a fault stands for the network or a server failing before any check.
            let faults = Arc::new(options.faults.clone());
            router = router.layer(axum::middleware::from_fn_with_state(
                faults,
                faults::middleware,
            ));
        }
        let (mut http_url, mut https_url, mut ca_pem, mut ca_der) = (None, None, None, None);
        if options.tls {
            let certificates = tls::generate(options.data_dir.as_deref(), &[options.address])?;
            https_url = Some(format!("https://{main_address}"));
            ca_pem = Some(certificates.ca_pem.clone());
            ca_der = Some(certificates.ca_der.clone());
            tasks.push(tokio::spawn(server::serve(
                main,
                Some(certificates.server_config),
                router.clone(),
                stopped.clone(),
            )));
        } else {
            http_url = Some(format!("http://{main_address}"));
            tasks.push(tokio::spawn(server::serve(
                main,
                None,
                router.clone(),
                stopped.clone(),
            )));
        }
        if let Some(listener) = extra {
            http_url = Some(format!("http://{}", listener.local_addr()?));
            tasks.push(tokio::spawn(server::serve(
                listener,
                None,
                router,
                stopped.clone(),
            )));
        }
        let url = https_url
            .clone()
            .or_else(|| http_url.clone())
            .unwrap_or_default();
        tracing::info!(%url, "local cluster serving");
        Ok(LocalCluster {
            cluster,
            url,
            http_url,
            https_url,
            ca_pem,
            ca_der,
            shutdown,
            tasks,
        })
    }

    /// The main listener's URL (HTTPS unless TLS is off).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The plain-HTTP URL, if one is served.
    pub fn http_url(&self) -> Option<String> {
        self.http_url.clone()
    }

    pub fn https_url(&self) -> Option<String> {
        self.https_url.clone()
    }

    /// The CA certificate (PEM) that signed the serving certificate, when TLS is on.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Direct, in-process access to the API (see [`Cluster`]).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A kubeconfig (YAML) for the main URL, with the CA and `default` namespace.
    pub fn kubeconfig(&self) -> String {
        let mut cluster = serde_json::json!({"server": self.url});
        if let Some(pem) = &self.ca_pem {
            cluster["certificate-authority-data"] =
                base64::engine::general_purpose::STANDARD.encode(pem).into();
        }
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "localcluster", "cluster": cluster}],
            "users": [{"name": "localcluster", "user": {"token": ADMIN_TOKEN}}],
            "contexts": [{"name": "localcluster", "context": {"cluster": "localcluster", "user": "localcluster", "namespace": "default"}}],
            "current-context": "localcluster",
            "preferences": {},
        });
        serde_yaml::to_string(&config).unwrap_or_default()
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, self.kubeconfig())
    }

    /// A kube-rs client for the main URL (call inside a tokio runtime).
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        kube::Client::try_from(self.client_config()?)
    }

    /// The kube-rs configuration of [`Self::client`], for a client of one's own making.
    pub fn client_config(&self) -> Result<kube::Config, kube::Error> {
        let url = self
            .url
            .parse()
            .map_err(|e| kube::Error::Service(Box::new(e)))?;
        let mut config = kube::Config::new(url);
        config.default_namespace = "default".into();
        if let Some(der) = &self.ca_der {
            config.root_cert = Some(vec![der.clone()]);
        }
        // The admin token of the kubeconfig, which matters when RBAC is on.
        if let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {ADMIN_TOKEN}")) {
            config.headers.push((http::header::AUTHORIZATION, value));
        }
        Ok(config)
    }

    /// A runtime running Spark containers as processes of `spark_home` (a Spark installation,
    /// such as the `pyspark` package's directory), with pods' files under `work_dir`. Executors
    /// are created by their drivers through the plain-HTTP listener, which must be served.
    pub fn process_runtime(
        &self,
        spark_home: PathBuf,
        work_dir: PathBuf,
    ) -> Result<ProcessRuntime, String> {
        let api_url = self.http_url.clone().ok_or(
            "Spark containers need the cluster's plain-HTTP listener (Options::http_port)",
        )?;
        let java_home = std::env::var_os("JAVA_HOME")
            .filter(|home| !home.is_empty())
            .map(PathBuf::from);
        let installation = Installation {
            spark_home,
            java_home,
            api_url,
        };
        Ok(ProcessRuntime::new(
            self.cluster.clone(),
            installation,
            work_dir,
        ))
    }

    /// A runtime running the containers of the images `programs` maps as those programs, with
    /// pods' files under `work_dir` (add Spark with [`ProcessRuntime::with_image_programs`] on a
    /// [`Self::process_runtime`]).
    pub fn image_program_runtime(
        &self,
        programs: Vec<ImageProgram>,
        work_dir: PathBuf,
    ) -> ProcessRuntime {
        ProcessRuntime::for_images(self.cluster.clone(), programs, self.api_access(), work_dir)
    }

    /// How a pod's process reaches the API server: the main URL and its CA.
    pub fn api_access(&self) -> ApiAccess {
        ApiAccess {
            url: self.url.clone(),
            ca_pem: self.ca_pem.clone(),
        }
    }

    /// Runs `runtime` (a simulated kubelet, say) with the cluster until it stops.
    pub fn add_runtime(&mut self, runtime: Arc<dyn Runtime>) {
        let mut stopped = self.shutdown.subscribe();
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
        .boxed();
        self.tasks
            .push(tokio::spawn(runtime.run(self.cluster.clone(), shutdown)));
    }

    /// Stops the listeners, watches and controllers, and waits for them.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    /// An outage of the API server: stops serving as [`shutdown`](Self::shutdown) does (every
    /// connection dropped), waits `down`, and starts again with `options` on the same ports.
    /// With a `data_dir` (the one it started with), the objects and the CA come back from it,
    /// as a restarted API server's come back from etcd; runtimes added with `add_runtime` do not.
    pub async fn restart(
        &mut self,
        mut options: Options,
        down: std::time::Duration,
    ) -> Result<(), StartError> {
        self.stop().await;
        tokio::time::sleep(down).await;
        let port_of = |url: &str| {
            url.rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
        };
        options.port = port_of(&self.url).unwrap_or(options.port);
        if let Some(http) = &self.http_url {
            options.http_port = port_of(http).or(options.http_port);
        }
        *self = LocalCluster::start(options).await?;
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Makes ring the process's TLS provider for clients that ask rustls for the default (kube-rs
/// does). Needed once another crate in the build enables rustls's second provider, after which
/// rustls no longer picks one by itself; harmless when a provider is already installed.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

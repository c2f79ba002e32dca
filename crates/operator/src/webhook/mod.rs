//! The admission webhooks (`spark-operator webhook start`, or inside `controller start` with
//! `--enable-webhook`):
//!
//! - validating: SparkApplications, ScheduledSparkApplications and SparkConnects on create and
//!   update, with the api crate's rules; denied with every problem, each naming its field and the
//!   fix (`review`);
//! - mutating: driver and executor pods of applications this operator manages get what their
//!   application asks and they lack (`mutate`, on the submission module's pod templates);
//! - TLS the operator manages itself: a CA and a serving certificate in a Secret shared by the
//!   replicas (`certs`, `secret`), the caBundle written into the webhook configurations it applies
//!   (`configurations`), renewed before expiry and swapped into the running server (`server`).

pub mod certs;
pub mod configurations;
pub mod mutate;
pub mod review;
pub mod secret;
pub mod server;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use configurations::{ClientTarget, Registration};

use crate::metrics::Metrics;
use crate::runtime::readiness::{Readiness, Role};

/// Where the API server is told to reach the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertise {
    /// Through this target.
    Target(ClientTarget),
    /// `https://127.0.0.1:<bound port>`: for a webhook beside a local cluster.
    Loopback,
}

/// Everything the webhook needs.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub bind_address: SocketAddr,
    pub advertise: Advertise,
    pub secret_name: String,
    pub secret_namespace: String,
    /// Also write the certificate, key (named by `cert_file_names`) and `ca.crt` here whenever
    /// they change.
    pub cert_dir: Option<PathBuf>,
    /// The file names of the serving certificate and key in `cert_dir` (Kubeflow's
    /// `--webhook-cert-name`, `--webhook-key-name`).
    pub cert_file_names: (String, String),
    /// Serve the certificate cert-manager keeps in the Secret instead of making one.
    pub cert_manager: bool,
    /// Refuse applications that would not fit their namespace's ResourceQuotas.
    pub quota_enforcement: bool,
    /// Namespaces whose objects are reviewed (empty: all); others are admitted unchanged.
    pub namespaces: Vec<String>,
    pub mutating_name: String,
    pub validating_name: String,
    pub failure_policy: String,
    pub namespace_selector: serde_json::Value,
    pub object_selector: serde_json::Value,
    pub timeout_seconds: u16,
    /// Lifetime of a serving certificate; it is renewed with a third of it left.
    pub cert_validity: Duration,
    /// How often the Secret is checked for renewal or for another replica's certificate.
    pub check_interval: Duration,
}

impl WebhookConfig {
    /// Kubeflow's defaults, reaching the webhook at `advertise`.
    pub fn new(secret_namespace: &str, advertise: Advertise) -> Self {
        Self {
            bind_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9443),
            advertise,
            secret_name: "spark-operator-webhook-certs".into(),
            secret_namespace: secret_namespace.into(),
            cert_dir: None,
            cert_file_names: ("tls.crt".into(), "tls.key".into()),
            cert_manager: false,
            quota_enforcement: false,
            namespaces: Vec::new(),
            mutating_name: "spark-operator-webhook".into(),
            validating_name: "spark-operator-webhook".into(),
            failure_policy: "Fail".into(),
            namespace_selector: serde_json::json!({}),
            object_selector: serde_json::json!({}),
            timeout_seconds: 10,
            cert_validity: Duration::from_secs(365 * 24 * 3600),
            check_interval: Duration::from_secs(60),
        }
    }
}

/// A bound, not yet serving, webhook server.
pub struct WebhookServer {
    listener: TcpListener,
    config: WebhookConfig,
    resolver: Arc<server::Resolver>,
    metrics: Metrics,
    readiness: Option<Readiness>,
}

impl WebhookServer {
    pub async fn bind(config: WebhookConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.bind_address).await?;
        Ok(Self {
            listener,
            config,
            resolver: Arc::new(server::Resolver::default()),
            metrics: Metrics::default(),
            readiness: None,
        })
    }

    /// Counts its admission reviews in `metrics` (by default in metrics of its own, served
    /// nowhere).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reports to `readiness`: not ready until it serves with a certificate.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    fn registration(&self) -> std::io::Result<Registration> {
        let target = match &self.config.advertise {
            Advertise::Target(target) => target.clone(),
            Advertise::Loopback => {
                ClientTarget::Url(format!("https://127.0.0.1:{}", self.local_addr()?.port()))
            }
        };
        let c = &self.config;
        Ok(Registration {
            mutating_name: c.mutating_name.clone(),
            validating_name: c.validating_name.clone(),
            target,
            failure_policy: c.failure_policy.clone(),
            namespace_selector: c.namespace_selector.clone(),
            object_selector: c.object_selector.clone(),
            timeout_seconds: c.timeout_seconds,
        })
    }

    /// Gets (or makes) the certificates, serves, registers the webhooks, and keeps the
    /// certificates renewed, until `shutdown` resolves.
    pub async fn run(
        self,
        client: Client,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let registration = self.registration()?;
        let c = &self.config;
        let spec = cert_spec(&registration.target, c.cert_validity);
        let mut current = certificates(c, &client, &spec).await?;
        self.resolver.install(&current.bundle)?;
        write_cert_dir(c.cert_dir.as_ref(), &c.cert_file_names, &current);
        let (stop, mut stopped) = watch::channel(false);
        let tls = server::tls_config(self.resolver.clone())?;
        let serving = tokio::spawn(crate::runtime::http::serve_tls(
            self.listener,
            tls,
            server::router(
                client.clone(),
                self.metrics.clone(),
                server::Scope {
                    namespaces: c.namespaces.clone(),
                    quota_enforcement: c.quota_enforcement,
                },
            ),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ));
        if let Some(readiness) = &self.readiness {
            // Ready from now on: until the role is active, `/readyz` answers "starting".
            readiness.set_role(Role::Active);
            readiness.track(std::future::ready(()));
        }
        tracing::info!(target = ?registration.target, "admission webhook serving");
        let mut registered = configurations::apply(&client, &registration, &current.ca_bundle)
            .await
            .inspect_err(|error| tracing::warn!(%error, "webhook configurations not applied"))
            .is_ok();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(c.check_interval) => {}
            }
            match certificates(c, &client, &spec).await {
                Ok(next) if next != current => {
                    if let Err(error) = self.resolver.install(&next.bundle) {
                        tracing::warn!(%error, "renewed certificate not usable");
                        continue;
                    }
                    write_cert_dir(c.cert_dir.as_ref(), &c.cert_file_names, &next);
                    registered &= next.ca_bundle == current.ca_bundle;
                    current = next;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "webhook certificate not checked"),
            }
            if !registered {
                registered = configurations::apply(&client, &registration, &current.ca_bundle)
                    .await
                    .inspect_err(
                        |error| tracing::warn!(%error, "webhook configurations not applied"),
                    )
                    .is_ok();
            }
        }
        if let Some(readiness) = &self.readiness {
            readiness.set_role(Role::Stopping);
        }
        let _ = stop.send(true);
        let _ = serving.await;
        Ok(())
    }
}

/// The certificates to serve: cert-manager's, as its Secret holds them (waiting for it to be
/// issued), or the ones this webhook makes and renews in its Secret.
async fn certificates(
    c: &WebhookConfig,
    client: &Client,
    spec: &certs::CertSpec,
) -> anyhow::Result<secret::Current> {
    {
        if !c.cert_manager {
            return secret::sync(client, &c.secret_namespace, &c.secret_name, spec).await;
        }
        loop {
            match secret::issued(client, &c.secret_namespace, &c.secret_name).await? {
                Some(current) => return Ok(current),
                None => {
                    tracing::info!(secret = %c.secret_name, "waiting for cert-manager to issue the webhook's certificate");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }
}

/// The names the serving certificate is for: the Service's DNS names or the URL's host, and
/// loopback.
pub fn cert_spec_names(target: &ClientTarget) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = vec!["localhost".to_string()];
    let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    match target {
        ClientTarget::Service {
            namespace, name, ..
        } => {
            for suffix in ["", ".svc", ".svc.cluster.local"] {
                dns.push(format!("{name}.{namespace}{suffix}"));
            }
            dns.push(name.clone());
        }
        ClientTarget::Url(url) => {
            let host = url
                .parse::<axum::http::Uri>()
                .ok()
                .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_string()));
            match host.as_deref().map(|h| (h, h.parse::<IpAddr>())) {
                Some((_, Ok(ip))) if !ips.contains(&ip) => ips.push(ip),
                Some((host, Err(_))) if host != "localhost" => dns.push(host.to_string()),
                _ => {}
            }
        }
    }
    (dns, ips)
}

fn cert_spec(target: &ClientTarget, validity: Duration) -> certs::CertSpec {
    let (dns_names, ip_addresses) = cert_spec_names(target);
    certs::CertSpec {
        dns_names,
        ip_addresses,
        validity,
    }
}

fn write_cert_dir(dir: Option<&PathBuf>, names: &(String, String), current: &secret::Current) {
    let Some(dir) = dir else { return };
    let files = [
        (names.0.as_str(), &current.bundle.server_cert),
        (names.1.as_str(), &current.bundle.server_key),
        ("ca.crt", &current.ca_bundle),
    ];
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        files
            .iter()
            .try_for_each(|(f, t)| std::fs::write(dir.join(f), t))
    });
    if let Err(error) = written {
        tracing::warn!(%error, dir = %dir.display(), "certificates not written");
    }
}

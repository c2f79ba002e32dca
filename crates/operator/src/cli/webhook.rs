//! `spark-operator webhook start` and the webhook flags `controller start --enable-webhook`
//! shares, named as in Kubeflow's operator where it has them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::go_only_flags::{WebhookGoFlags, log_ignored};
use super::go_values::{go_bool, names_or_all};
use super::logging::LoggingFlags;
use super::rate_limit_flags::KubeApiFlags;
use super::runtime_flags::{EndpointFlags, LeaderElectionFlags, MetricsFlags, parse_duration};
use crate::metrics::Metrics;
use crate::runtime::http::Endpoints;
use crate::runtime::readiness::Readiness;
use crate::telemetry;
use crate::webhook::{Advertise, ClientTarget, WebhookConfig, WebhookServer};

#[derive(Debug, Clone, Args)]
pub struct WebhookFlags {
    /// Port the admission webhook serves HTTPS on.
    #[arg(long, default_value_t = 9443)]
    pub webhook_port: u16,
    /// Also write the serving certificate (tls.crt, tls.key, ca.crt) here.
    #[arg(long)]
    pub webhook_cert_dir: Option<PathBuf>,
    /// Secret holding the CA and serving certificate, shared by every replica.
    #[arg(long, default_value = "spark-operator-webhook-certs")]
    pub webhook_secret_name: String,
    /// Its namespace; default: the namespace of the operator's kubeconfig or pod.
    #[arg(long)]
    pub webhook_secret_namespace: Option<String>,
    /// Service the API server reaches the webhook through.
    #[arg(
        long,
        visible_alias = "webhook-svc-name",
        default_value = "spark-operator-webhook-svc"
    )]
    pub webhook_service_name: String,
    /// Its namespace; default: as --webhook-secret-namespace.
    #[arg(long, visible_alias = "webhook-svc-namespace")]
    pub webhook_service_namespace: Option<String>,
    /// File name of the serving certificate in --webhook-cert-dir.
    #[arg(long, default_value = "tls.crt")]
    pub webhook_cert_name: String,
    /// File name of its key in --webhook-cert-dir.
    #[arg(long, default_value = "tls.key")]
    pub webhook_key_name: String,
    /// Serve the certificate cert-manager keeps in the Secret (its `tls.crt`, `tls.key`,
    /// `ca.crt`) instead of making and renewing one.
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub enable_cert_manager: bool,
    /// Refuse an application whose driver and executors would not fit the ResourceQuotas of its
    /// namespace, as Kubeflow's webhook does.
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub enable_resource_quota_enforcement: bool,
    /// Port of that Service; default: --webhook-port.
    #[arg(long)]
    pub webhook_service_port: Option<u16>,
    /// Register `clientConfig.url` with this base (e.g. https://127.0.0.1:9443) instead of the
    /// Service, for an operator outside the cluster.
    #[arg(long)]
    pub webhook_url: Option<String>,
    #[arg(long, default_value = "spark-operator-webhook")]
    pub mutating_webhook_name: String,
    #[arg(long, default_value = "spark-operator-webhook")]
    pub validating_webhook_name: String,
    /// What the API server does when the webhook cannot be called: Fail or Ignore.
    #[arg(long, default_value = "Fail")]
    pub webhook_failure_policy: String,
    /// Only objects in namespaces whose labels match (e.g. `spark=enabled`) go to the webhooks.
    #[arg(long, default_value = "")]
    pub webhook_namespace_selector: String,
    /// Only objects whose labels match go to the webhooks.
    #[arg(long, default_value = "")]
    pub webhook_object_selector: String,
    /// Seconds the API server waits for the webhook (1 to 30).
    #[arg(long, default_value_t = 10)]
    pub webhook_timeout: u16,
    /// Lifetime of the serving certificate; it is renewed with a third of it left.
    #[arg(long, default_value = "8760h")]
    pub webhook_cert_validity: String,
    /// How often the certificate Secret is checked.
    #[arg(long, default_value = "1m")]
    pub webhook_cert_check_interval: String,
}

impl WebhookFlags {
    /// The checked settings, or the flag that is wrong. `namespace` is the default namespace.
    pub fn config(&self, namespace: &str) -> Result<WebhookConfig, String> {
        let secret_namespace = self
            .webhook_secret_namespace
            .clone()
            .unwrap_or_else(|| namespace.to_string());
        let advertise = match &self.webhook_url {
            Some(url) if !url.starts_with("https://") => {
                return Err(format!("--webhook-url {url:?} must start with https://"));
            }
            Some(url) => ClientTarget::Url(url.clone()),
            None => ClientTarget::Service {
                namespace: self
                    .webhook_service_namespace
                    .clone()
                    .unwrap_or_else(|| secret_namespace.clone()),
                name: self.webhook_service_name.clone(),
                port: self.webhook_service_port.unwrap_or(self.webhook_port),
            },
        };
        if !matches!(self.webhook_failure_policy.as_str(), "Fail" | "Ignore") {
            return Err(format!(
                "--webhook-failure-policy {:?}: use Fail or Ignore",
                self.webhook_failure_policy
            ));
        }
        if !(1..=30).contains(&self.webhook_timeout) {
            return Err(format!(
                "--webhook-timeout {}: use 1 to 30 seconds",
                self.webhook_timeout
            ));
        }
        let mut config = WebhookConfig::new(&secret_namespace, Advertise::Target(advertise));
        config.bind_address = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.webhook_port);
        config.secret_name = self.webhook_secret_name.clone();
        config.cert_dir = self.webhook_cert_dir.clone();
        config.cert_file_names = (
            self.webhook_cert_name.clone(),
            self.webhook_key_name.clone(),
        );
        config.cert_manager = self.enable_cert_manager;
        config.quota_enforcement = self.enable_resource_quota_enforcement;
        config.mutating_name = self.mutating_webhook_name.clone();
        config.validating_name = self.validating_webhook_name.clone();
        config.failure_policy = self.webhook_failure_policy.clone();
        config.namespace_selector = selector_object(
            "--webhook-namespace-selector",
            &self.webhook_namespace_selector,
        )?;
        config.object_selector =
            selector_object("--webhook-object-selector", &self.webhook_object_selector)?;
        config.timeout_seconds = self.webhook_timeout;
        config.cert_validity =
            parse_duration("--webhook-cert-validity", &self.webhook_cert_validity)?;
        config.check_interval = parse_duration(
            "--webhook-cert-check-interval",
            &self.webhook_cert_check_interval,
        )?;
        if config.cert_validity.as_secs() < 3 {
            return Err("--webhook-cert-validity must be at least 3s".into());
        }
        Ok(config)
    }
}

/// Splits at commas outside parentheses.
fn requirements(selector: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A label selector string (`a=b,c!=d,e in (f,g),h notin (i),j,!k`) as a `metav1.LabelSelector`.
pub fn selector_object(flag: &str, selector: &str) -> Result<Value, String> {
    let mut labels = serde_json::Map::new();
    let mut expressions = Vec::new();
    let bad = |part: &str| format!("{flag}: cannot read {part:?}: write it like a=b,c in (d,e),!f");
    let valid_key = |key: &str| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    for part in requirements(selector) {
        let set = |op: &str| -> Option<(String, Vec<String>)> {
            let (key, rest) = part.split_once(&format!(" {op} "))?;
            let values = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            let values = values
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            Some((key.trim().to_string(), values))
        };
        if let Some((key, values)) = set("notin") {
            expressions.push(json!({"key": key, "operator": "NotIn", "values": values}));
        } else if let Some((key, values)) = set("in") {
            expressions.push(json!({"key": key, "operator": "In", "values": values}));
        } else if let Some((key, value)) = part.split_once("!=") {
            expressions
                .push(json!({"key": key.trim(), "operator": "NotIn", "values": [value.trim()]}));
        } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
            labels.insert(key.trim().to_string(), json!(value.trim()));
        } else if let Some(key) = part.strip_prefix('!') {
            expressions.push(json!({"key": key.trim(), "operator": "DoesNotExist"}));
        } else {
            expressions.push(json!({"key": part, "operator": "Exists"}));
        }
        let last_key = expressions
            .last()
            .and_then(|e| e["key"].as_str().map(str::to_string));
        let keys_ok =
            labels.keys().all(|k| valid_key(k)) && last_key.as_deref().is_none_or(valid_key);
        if !keys_ok {
            return Err(bad(&part));
        }
    }
    let mut object = serde_json::Map::new();
    if !labels.is_empty() {
        object.insert("matchLabels".into(), Value::Object(labels));
    }
    if !expressions.is_empty() {
        object.insert("matchExpressions".into(), Value::Array(expressions));
    }
    Ok(Value::Object(object))
}

/// Flags of `webhook start`, Kubeflow's among them.
#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub webhook: WebhookFlags,
    #[command(flatten)]
    pub endpoints: EndpointFlags,
    #[command(flatten)]
    pub logging: LoggingFlags,
    #[command(flatten)]
    pub metrics: MetricsFlags,
    /// Namespaces whose SparkApplications and pods are validated and mutated, comma-separated;
    /// all when empty (or when one of them is empty, as Kubeflow's chart writes `""`). Objects
    /// of other namespaces are admitted unchanged.
    #[arg(long, default_value = "")]
    pub namespaces: String,
    /// Accepted for Kubeflow's arguments, which its webhook does not use either.
    #[arg(long, default_value = "")]
    pub label_selector_filter: String,
    /// Accepted for Kubeflow's arguments: reviews are answered as they come.
    #[arg(long, default_value_t = 10)]
    pub controller_threads: u16,
    /// Accepted for Kubeflow's arguments: the webhook reads no cache.
    #[arg(long, default_value = "30s")]
    pub cache_sync_timeout: String,
    /// Accepted, with their values checked: the replicas coordinate through the certificate
    /// Secret (its resourceVersion), so every replica serves and none needs the lease.
    #[command(flatten)]
    pub leader: LeaderElectionFlags,
    #[command(flatten)]
    pub kube_api: KubeApiFlags,
    #[command(flatten)]
    pub go_only: WebhookGoFlags,
    /// The kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the pod's service account.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// Serves the webhooks until SIGTERM or Ctrl-C, with their metrics (the admission reviews and
/// the requests to the API server) and health probes (`/readyz`: once serving with a
/// certificate).
pub async fn start(args: StartArgs) -> anyhow::Result<()> {
    let checked = || -> Result<_, String> {
        let endpoints = args.endpoints.check()?;
        args.leader.timings()?;
        parse_duration("--cache-sync-timeout", &args.cache_sync_timeout)?;
        Ok((endpoints, args.metrics.config()?, args.kube_api.limit()?))
    };
    let ((metrics_address, health_address), metrics_config, api_limit) =
        checked().map_err(|message| anyhow::anyhow!("{message}"))?;
    telemetry::init_with(&args.logging.settings());
    let mut ignored = args.logging.ignored();
    ignored.extend(args.go_only.ignored());
    log_ignored(&ignored);
    let metrics = Metrics::new(metrics_config);
    let kube_config = super::controller::kube_config(args.kubeconfig.as_deref()).await?;
    let client = crate::runtime::client(kube_config, &metrics, api_limit)?;
    let mut config = args
        .webhook
        .config(client.default_namespace())
        .map_err(|message| anyhow::anyhow!("{message}"))?;
    config.namespaces = names_or_all(&args.namespaces);
    let readiness = Readiness::default();
    let endpoints = Endpoints::bind(
        metrics_address.map(|a| (a, metrics.clone())),
        &args.endpoints.metrics_endpoint,
        health_address.map(|a| (a, readiness.clone())),
    )
    .await?;
    let server = WebhookServer::bind(config)
        .await?
        .with_metrics(metrics)
        .with_readiness(readiness);
    endpoints
        .serve_during(server.run(client, crate::runtime::shutdown_signal()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_read_as_kubernetes_writes_them() {
        assert_eq!(selector_object("f", "").expect("empty"), json!({}));
        assert_eq!(
            selector_object("f", "a=b, c!=d,e in (f, g),h notin (i),j,!k").expect("reads"),
            json!({"matchLabels": {"a": "b"}, "matchExpressions": [
                {"key": "c", "operator": "NotIn", "values": ["d"]},
                {"key": "e", "operator": "In", "values": ["f", "g"]},
                {"key": "h", "operator": "NotIn", "values": ["i"]},
                {"key": "j", "operator": "Exists"},
                {"key": "k", "operator": "DoesNotExist"}]})
        );
        assert!(selector_object("--x", "a b c").is_err());
    }
}

//! `spark-operator controller start`: runs the controller against the cluster that the standard
//! kubeconfig resolution finds (`KUBECONFIG`, `~/.kube/config`, in-cluster).

use anyhow::bail;
use clap::Args;

use super::runtime_flags::RuntimeFlags;
use crate::config::{ControllerConfig, SubmitterKind};
use crate::leader::{LeaderElectionConfig, LeadershipEnd, default_identity};
use crate::lifecycle::Settings;
use crate::metrics::Metrics;
use crate::runtime::{Operator, RuntimeConfig};
use crate::submitter::spark_submit::SparkSubmitOptions;
use crate::telemetry::{self, LogFormat};

/// Flags of `controller start`, named as in Kubeflow's operator.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Namespaces whose SparkApplications to run, comma-separated; all when empty.
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// How many applications are reconciled at once.
    #[arg(long, default_value_t = 10)]
    pub controller_threads: u16,
    /// Only run applications whose labels match this selector (e.g. `team=data`).
    #[arg(long, alias = "label-selector")]
    pub label_selector_filter: Option<String>,
    /// The API server URL drivers use to create executors; default: the operator's own.
    #[arg(long)]
    pub master_url: Option<String>,
    /// Create the Spark UI Service of each application.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_ui_service: bool,
    /// Host of the Spark UI Ingress, e.g. `{{$appName}}.spark.example.com`.
    #[arg(long)]
    pub ingress_url_format: Option<String>,
    /// Ingress class of the Spark UI Ingress.
    #[arg(long)]
    pub ingress_class_name: Option<String>,
    /// How applications are submitted unless their `sparkoperator.k8s.io/submitter` annotation
    /// says otherwise: `native` (the operator builds the driver's objects) or `spark-submit`
    /// (Spark's own, from --spark-home, $SPARK_HOME or the installed pyspark).
    #[arg(long, value_enum, default_value_t = SubmitterKind::Native)]
    pub submitter: SubmitterKind,
    /// The Spark installation whose bin/spark-submit is run.
    #[arg(long)]
    pub spark_home: Option<std::path::PathBuf>,
    /// spark-submit runs at once; more wait their turn.
    #[arg(long, default_value_t = 4)]
    pub spark_submit_concurrency: usize,
    /// A spark-submit run taking longer fails the submission.
    #[arg(long, default_value_t = 120)]
    pub spark_submit_timeout_seconds: u64,
    /// A driver not running this long after its submission ends the attempt as a failure, which
    /// the restart policy follows; 0 (the default, as Kubeflow behaves) waits for ever. An
    /// application's `sparkoperator.k8s.io/driver-start-timeout` annotation overrides it.
    #[arg(long, default_value = "0s", value_parser = go_duration)]
    pub driver_start_timeout: std::time::Duration,
    /// No executor running this long after the driver started ends the attempt as a failure; 0
    /// (the default) waits for ever. The `sparkoperator.k8s.io/executor-start-timeout` annotation
    /// overrides it.
    #[arg(long, default_value = "0s", value_parser = go_duration)]
    pub executor_start_timeout: std::time::Duration,
    /// Apply the CRDs before starting.
    #[arg(long)]
    pub install_crds: bool,
    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub runtime: RuntimeFlags,
    /// Also serve the admission webhooks in this process (the `webhook start` flags apply).
    #[arg(long)]
    pub enable_webhook: bool,
    #[command(flatten)]
    pub webhook: super::webhook::WebhookFlags,
}

impl StartArgs {
    pub fn controller_config(&self, cluster_url: String) -> ControllerConfig {
        ControllerConfig {
            namespaces: self
                .namespaces
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect(),
            controller_threads: self.controller_threads.max(1),
            label_selector: self.label_selector_filter.clone(),
            master_url: Some(self.master_url.clone().unwrap_or(cluster_url)),
            ingress_url_format: self.ingress_url_format.clone(),
            ingress_class_name: self.ingress_class_name.clone(),
            enable_ui_service: self.enable_ui_service,
            submitter: self.submitter,
            spark_submit: SparkSubmitOptions {
                spark_home: self.spark_home.clone(),
                max_concurrent: self.spark_submit_concurrency.max(1),
                timeout: std::time::Duration::from_secs(self.spark_submit_timeout_seconds.max(1)),
                ..SparkSubmitOptions::default()
            },
            lifecycle: Settings {
                driver_start_timeout: Some(self.driver_start_timeout).filter(|t| !t.is_zero()),
                executor_start_timeout: Some(self.executor_start_timeout).filter(|t| !t.is_zero()),
                ..Settings::default()
            },
            ..ControllerConfig::default()
        }
    }
}

/// A Go duration flag (`30s`, `5m`, `1h30m`).
fn go_duration(value: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(value)
        .ok_or_else(|| format!("{value:?} is not a duration: write it like 90s, 5m or 1h30m"))
}

/// Runs until SIGTERM or Ctrl-C (reconciles in flight finish and the leader lease is released
/// first), or until the leader lease is lost, which is an error so that the pod restarts as a
/// standby.
pub async fn start(args: StartArgs) -> anyhow::Result<()> {
    let settings = args
        .runtime
        .check()
        .map_err(|message| anyhow::anyhow!("{message}"))?;
    telemetry::init(&args.log_level, args.log_format);
    let kube_config = kube::Config::infer().await?;
    let cluster_url = kube_config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let metrics = Metrics::new(settings.metrics);
    let client = crate::runtime::client(kube_config, &metrics)?;
    if args.install_crds {
        crate::install::install_crds(&client).await?;
    }
    if args.submitter == SubmitterKind::SparkSubmit {
        // Fail at start, not on the first application, when spark-submit cannot be found.
        crate::submitter::spark_submit::find_spark_home(args.spark_home.as_deref())?;
    }
    let mut config = args.controller_config(cluster_url);
    config.metrics = metrics.clone();
    let leader_election = settings
        .leader_election
        .map(|timings| LeaderElectionConfig {
            lock_name: args.runtime.leader_election_lock_name.clone(),
            lock_namespace: args
                .runtime
                .leader_election_lock_namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string()),
            identity: default_identity(),
            timings,
        });
    let webhook = if args.enable_webhook {
        let webhook_config = args
            .webhook
            .config(client.default_namespace())
            .map_err(|message| anyhow::anyhow!("{message}"))?;
        let server = crate::webhook::WebhookServer::bind(webhook_config)
            .await?
            .with_metrics(metrics.clone());
        let client = client.clone();
        Some(tokio::spawn(async move {
            if let Err(error) = server.run(client, crate::runtime::shutdown_signal()).await {
                tracing::error!(error = format!("{error:#}"), "admission webhook stopped");
            }
        }))
    } else {
        None
    };
    let operator = Operator::bind(RuntimeConfig {
        controller: config,
        leader_election,
        metrics_address: settings.metrics_address,
        metrics_endpoint: args.runtime.endpoints.metrics_endpoint.clone(),
        health_address: settings.health_address,
    })
    .await?;
    let ended = operator
        .run(client, crate::runtime::shutdown_signal())
        .await;
    if let Some(webhook) = webhook {
        webhook.abort();
    }
    match ended? {
        LeadershipEnd::Shutdown => Ok(()),
        LeadershipEnd::Lost(reason) => bail!(
            "lost the leader lease ({reason}); the controllers were stopped, and the process exits so that it starts again as a standby"
        ),
    }
}

//! `spark-operator controller start`: runs the controller against the cluster that the standard
//! kubeconfig resolution finds (`KUBECONFIG`, `~/.kube/config`, in-cluster).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::batch_scheduler_flags::BatchSchedulerFlags;
use super::feature_gates::FeatureGates;
use super::go_only_flags::{ControllerGoFlags, log_ignored};
use super::go_values::{duration, go_bool, json, names_or_all};
use super::logging::LoggingFlags;
use super::rate_limit_flags::{KubeApiFlags, WorkqueueFlags};
use super::runtime_flags::RuntimeFlags;
use crate::config::{ControllerConfig, SubmitterKind};
use crate::leader::{LeaderElectionConfig, LeadershipEnd, default_identity};
use crate::lifecycle::Settings;
use crate::metrics::Metrics;
use crate::runtime::namespace_selection::NamespaceSelection;
use crate::runtime::readiness::Readiness;
use crate::runtime::{Operator, RuntimeConfig};
use crate::scheduling::RunNamePrecision;
use crate::submitter::spark_submit::SparkSubmitOptions;
use crate::telemetry;

/// Flags of `controller start`, named as in Kubeflow's operator.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Namespaces whose SparkApplications to run, comma-separated; all when empty (or when one
    /// of them is empty, as Kubeflow's chart writes `--namespaces=""`).
    #[arg(long, default_value = "")]
    pub namespaces: String,
    /// A label selector of namespaces (`spark=on,env in (prod,staging)`) whose applications are
    /// run besides those of --namespaces; a namespace that stops matching is left alone.
    #[arg(long, default_value = "")]
    pub namespace_selector: String,
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
    #[arg(long, default_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub enable_ui_service: bool,
    /// Host of the Spark UI Ingress, e.g. `{{$appName}}.spark.example.com`.
    #[arg(long)]
    pub ingress_url_format: Option<String>,
    /// Ingress class of the Spark UI Ingress.
    #[arg(long)]
    pub ingress_class_name: Option<String>,
    /// TLS of Spark UI Ingresses whose application sets none, as JSON, e.g.
    /// `[{"hosts":["*.example.com"],"secretName":"example-secret"}]`.
    #[arg(long, default_value = "")]
    pub ingress_tls: String,
    /// Annotations of Spark UI Ingresses whose application sets none, as JSON, e.g.
    /// `{"cert-manager.io/cluster-issuer":"letsencrypt"}`.
    #[arg(long, default_value = "")]
    pub ingress_annotations: String,
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
    /// How long after a submission a driver pod not found is still waited for.
    #[arg(long, default_value = "10s")]
    pub driver_pod_creation_grace_period: String,
    /// A driver not running this long after its submission ends the attempt as a failure, which
    /// the restart policy follows; 0 (the default, as Kubeflow behaves) waits for ever. An
    /// application's `sparkoperator.k8s.io/driver-start-timeout` annotation overrides it.
    #[arg(long, default_value = "0s")]
    pub driver_start_timeout: String,
    /// No executor running this long after the driver started ends the attempt as a failure; 0
    /// (the default) waits for ever. The `sparkoperator.k8s.io/executor-start-timeout` annotation
    /// overrides it.
    #[arg(long, default_value = "0s")]
    pub executor_start_timeout: String,
    /// Executors with a higher Spark executor id are left out of the status.
    #[arg(long, default_value_t = 1000)]
    pub max_tracked_executor_per_app: u32,
    /// Time to live (seconds) of finished applications that set no `timeToLiveSeconds`, with
    /// the DefaultTimeToLive feature gate; 0 keeps them.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub default_time_to_live_seconds: i64,
    /// How a ScheduledSparkApplication's runs write their time: nanos, micros, millis, seconds
    /// (this operator's default) or minutes.
    #[arg(long, value_enum, default_value_t = RunNamePrecision::Seconds)]
    pub scheduled_spark_application_timestamp_precision: RunNamePrecision,
    /// The controller exits if its caches are not filled within this time.
    #[arg(long, default_value = "30s")]
    pub cache_sync_timeout: String,
    /// Kubeflow's feature gates: PartialRestart, LoadSparkDefaults, DefaultTimeToLive,
    /// RestSubmitter (refused), e.g. `PartialRestart=true,DefaultTimeToLive=true`.
    #[arg(long, default_value = "")]
    pub feature_gates: String,
    #[command(flatten)]
    pub workqueue: WorkqueueFlags,
    #[command(flatten)]
    pub kube_api: KubeApiFlags,
    #[command(flatten)]
    pub batch_scheduler: BatchSchedulerFlags,
    #[command(flatten)]
    pub go_only: ControllerGoFlags,
    /// The kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the pod's service account.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Apply the CRDs before starting.
    #[arg(long)]
    pub install_crds: bool,
    #[command(flatten)]
    pub logging: LoggingFlags,
    #[command(flatten)]
    pub runtime: RuntimeFlags,
    /// Also serve the admission webhooks in this process (the `webhook start` flags apply).
    #[arg(long)]
    pub enable_webhook: bool,
    #[command(flatten)]
    pub webhook: super::webhook::WebhookFlags,
}

impl StartArgs {
    /// The controllers' settings, or the flag that is wrong. `cluster_url` is the API server's
    /// address the operator uses (the drivers' unless --master-url says otherwise).
    pub fn controller_config(&self, cluster_url: String) -> Result<ControllerConfig, String> {
        let gates = FeatureGates::parse(&self.feature_gates)?;
        gates.check()?;
        let namespaces = names_or_all(&self.namespaces);
        let namespace_selection =
            NamespaceSelection::new(namespaces.clone(), &self.namespace_selector)?;
        if self.default_time_to_live_seconds < 0 {
            return Err(format!(
                "--default-time-to-live-seconds {} must not be negative: 0 turns it off",
                self.default_time_to_live_seconds
            ));
        }
        let ingress_tls = if self.ingress_tls.trim().is_empty() {
            Vec::new()
        } else {
            json(
                "--ingress-tls",
                &self.ingress_tls,
                r#"[{"hosts":["*.example.com"],"secretName":"example-secret"}]"#,
            )?
        };
        let ingress_annotations = if self.ingress_annotations.trim().is_empty() {
            BTreeMap::new()
        } else {
            json(
                "--ingress-annotations",
                &self.ingress_annotations,
                r#"{"cert-manager.io/cluster-issuer":"letsencrypt"}"#,
            )?
        };
        let nonzero = |flag: &str, value: &str| {
            duration(flag, value).map(|d| Some(d).filter(|d| !d.is_zero()))
        };
        Ok(ControllerConfig {
            namespaces,
            namespace_selection,
            controller_threads: self.controller_threads.max(1),
            label_selector: self.label_selector_filter.clone(),
            master_url: Some(self.master_url.clone().unwrap_or(cluster_url)),
            ingress_url_format: self.ingress_url_format.clone(),
            ingress_class_name: self.ingress_class_name.clone(),
            ingress_annotations,
            ingress_tls,
            enable_ui_service: self.enable_ui_service,
            submitter: self.submitter,
            spark_submit: SparkSubmitOptions {
                spark_home: self.spark_home.clone(),
                max_concurrent: self.spark_submit_concurrency.max(1),
                timeout: std::time::Duration::from_secs(self.spark_submit_timeout_seconds.max(1)),
                ..SparkSubmitOptions::default()
            },
            lifecycle: Settings {
                driver_pod_creation_grace_period: duration(
                    "--driver-pod-creation-grace-period",
                    &self.driver_pod_creation_grace_period,
                )?,
                default_time_to_live_seconds: (gates.default_time_to_live
                    && self.default_time_to_live_seconds > 0)
                    .then_some(self.default_time_to_live_seconds),
                max_tracked_executors: self.max_tracked_executor_per_app,
                driver_start_timeout: nonzero(
                    "--driver-start-timeout",
                    &self.driver_start_timeout,
                )?,
                executor_start_timeout: nonzero(
                    "--executor-start-timeout",
                    &self.executor_start_timeout,
                )?,
                partial_restart: gates.partial_restart,
            },
            run_name_precision: self.scheduled_spark_application_timestamp_precision,
            requeue_limits: self.workqueue.limits()?,
            spark_defaults: if gates.load_spark_defaults {
                crate::submitter::operator_defaults::spark_defaults_of_environment()
                    .map_err(|e| format!("LoadSparkDefaults: {e}"))?
            } else {
                BTreeMap::new()
            },
            batch_scheduling: self.batch_scheduler.scheduling()?,
            enable_driver_pdb: self.batch_scheduler.driver_pdb(),
            ..ControllerConfig::default()
        })
    }

    /// What was given that changes nothing here.
    fn ignored(&self) -> Vec<String> {
        let mut ignored = self.logging.ignored();
        ignored.extend(self.go_only.ignored());
        let gates = FeatureGates::parse(&self.feature_gates).unwrap_or_default();
        if self.default_time_to_live_seconds > 0 && !gates.default_time_to_live {
            ignored.push(
                "--default-time-to-live-seconds (it needs the DefaultTimeToLive feature gate, as in Kubeflow)"
                    .into(),
            );
        }
        ignored
    }
}

/// The kubeconfig of `--kubeconfig`, or the standard resolution's.
pub async fn kube_config(path: Option<&std::path::Path>) -> anyhow::Result<kube::Config> {
    match path {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
            Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?)
        }
        None => Ok(kube::Config::infer().await?),
    }
}

/// Runs until SIGTERM or Ctrl-C (reconciles in flight finish and the leader lease is released
/// first), or until the leader lease is lost, which is an error so that the pod restarts as a
/// standby.
pub async fn start(args: StartArgs) -> anyhow::Result<()> {
    let settings = args
        .runtime
        .check()
        .map_err(|message| anyhow::anyhow!("{message}"))?;
    let api_limit = args
        .kube_api
        .limit()
        .map_err(|message| anyhow::anyhow!("{message}"))?;
    let cache_sync_timeout = duration("--cache-sync-timeout", &args.cache_sync_timeout)
        .map_err(|message| anyhow::anyhow!("{message}"))?;
    telemetry::init_with(&args.logging.settings());
    let kube_config = kube_config(args.kubeconfig.as_deref()).await?;
    let cluster_url = kube_config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let mut config = args
        .controller_config(cluster_url)
        .map_err(|message| anyhow::anyhow!("{message}"))?;
    log_ignored(&args.ignored());
    let metrics = Metrics::new(settings.metrics);
    let client = crate::runtime::client(kube_config, &metrics, api_limit)?;
    if args.install_crds {
        crate::install::install_crds(&client).await?;
    }
    if args.submitter == SubmitterKind::SparkSubmit {
        // Fail at start, not on the first application, when spark-submit cannot be found.
        crate::submitter::spark_submit::find_spark_home(args.spark_home.as_deref())?;
    }
    config.metrics = metrics.clone();
    let readiness = config.readiness.clone();
    let leader_election = settings
        .leader_election
        .map(|timings| LeaderElectionConfig {
            lock_name: args.runtime.leader.leader_election_lock_name.clone(),
            lock_namespace: args
                .runtime
                .leader
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
    let ended = tokio::select! {
        ended = operator.run(client, crate::runtime::shutdown_signal()) => ended,
        () = caches_not_filled(readiness, cache_sync_timeout) => {
            anyhow::bail!(
                "the controllers' caches were not filled within --cache-sync-timeout ({}): is the API server reachable, and may the operator list what it watches?",
                crate::duration::show(cache_sync_timeout)
            )
        }
    };
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

/// Resolves if the caches the controllers read are not filled within `timeout` of the
/// controllers starting (a standby waiting for the lease is not held to it), as Kubeflow's
/// `--cache-sync-timeout` stops its manager; never otherwise.
async fn caches_not_filled(readiness: Readiness, timeout: Duration) {
    if timeout.is_zero() {
        return std::future::pending().await;
    }
    loop {
        readiness.wait_until_active().await;
        let filled = tokio::time::timeout(timeout, readiness.wait_until_filled()).await;
        if filled.is_err() && readiness.is_active() {
            return;
        }
        if filled.is_ok() {
            return std::future::pending().await;
        }
    }
}

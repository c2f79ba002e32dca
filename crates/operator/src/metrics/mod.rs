//! Prometheus metrics with Kubeflow's names (`spark_application_*`, `spark_executor_*`, served
//! with `--enable-metrics`), those of SparkConnects in the same style (`spark_connect_*`, see
//! [`connect`]), and controller-runtime's reconcile metrics (`controller_runtime_reconcile_*`),
//! work queue metrics (`workqueue`), `rest_client_requests_total`,
//! `leader_election_master_status` and the process metrics (`process`), which Kubeflow's operator
//! exposes through controller-runtime and the Prometheus client.
//!
//! Counters move on state transitions only (see [`transitions`]); the gauges of running
//! applications and executors are recomputed from every application a reconcile looks at, so they
//! are right again one resync after a restart or a change of leader. Kubeflow's counters carry no
//! `_total` suffix and its execution-time and latency summaries have no quantiles; here they are
//! exposed under the same names (the summaries as histograms with only the `+Inf` bucket, which
//! give the same `_sum` and `_count` series).

pub mod connect;
mod labels;
mod process;
pub mod requests;
mod tracked;
pub mod transitions;
mod webhook;
pub mod workqueue;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use spark_operator_api::{
    SparkApplication, SparkApplicationStatus, SparkConnect, SparkConnectStatus,
};

use crate::error::Error;
use connect::ConnectMetrics;
pub use labels::{
    DEFAULT_START_LATENCY_BUCKETS, DEFAULT_SUBMIT_LATENCY_BUCKETS, MetricsConfig, label_name,
    metric_name,
};
pub use requests::CountRequests;
use tracked::Tracked;
pub use webhook::Review;
use webhook::WebhookMetrics;
pub use workqueue::{WorkQueue, WorkQueues};

/// Label pairs: `namespace` first, then the `--metrics-labels`.
pub type Labels = Vec<(String, String)>;

/// The `Content-Type` of what [`Metrics::encode`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Builds histograms with fixed buckets (none: only `+Inf`, a summary without quantiles).
#[derive(Clone)]
struct Buckets(Vec<f64>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type Histograms = Family<Labels, Histogram, Buckets>;

struct Applications {
    count: Counters,
    submit: Counters,
    failed_submission: Counters,
    success: Counters,
    failure: Counters,
    running: Gauges,
    success_time: Histograms,
    failure_time: Histograms,
    submit_latency: Histograms,
    submit_latency_histogram: Histograms,
    start_latency: Histograms,
    start_latency_histogram: Histograms,
    executor_running: Gauges,
    executor_success: Counters,
    executor_failure: Counters,
}

struct Inner {
    registry: Registry,
    config: MetricsConfig,
    /// Full names of the counters exposed without `_total`, as Kubeflow names them.
    plain_counters: Vec<String>,
    apps: Applications,
    connects: ConnectMetrics,
    reconciles: Counters,
    reconcile_errors: Counters,
    reconcile_time: Histograms,
    leader: Gauges,
    rest_client_requests: Counters,
    webhook: WebhookMetrics,
    workqueues: WorkQueues,
    tracked: Mutex<Tracked>,
}

/// The operator's metrics; cheap to clone, shared by every controller.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(MetricsConfig::default())
    }
}

const RECONCILE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl Metrics {
    /// Registers every metric; `config` is assumed valid ([`MetricsConfig::validate`]).
    pub fn new(config: MetricsConfig) -> Self {
        let mut registry = Registry::default();
        let mut plain_counters = Vec::new();
        let full = |name: &str| metric_name(&config.prefix, name);
        let summary = || Histograms::new_with_constructor(Buckets(Vec::new()));
        let latency = |buckets: &[f64]| Histograms::new_with_constructor(Buckets(buckets.to_vec()));
        let apps = Applications {
            count: Counters::default(),
            submit: Counters::default(),
            failed_submission: Counters::default(),
            success: Counters::default(),
            failure: Counters::default(),
            running: Gauges::default(),
            success_time: summary(),
            failure_time: summary(),
            submit_latency: summary(),
            submit_latency_histogram: latency(&config.job_submit_latency_buckets),
            start_latency: summary(),
            start_latency_histogram: latency(&config.job_start_latency_buckets),
            executor_running: Gauges::default(),
            executor_success: Counters::default(),
            executor_failure: Counters::default(),
        };
        if config.spark_metrics {
            let kubeflow = &mut registry;
            let counters = [
                (
                    "spark_application_count",
                    "SparkApplications the operator has taken up",
                    &apps.count,
                ),
                (
                    "spark_application_submit_count",
                    "Submissions of SparkApplications",
                    &apps.submit,
                ),
                (
                    "spark_application_failed_submission_count",
                    "Submissions that failed",
                    &apps.failed_submission,
                ),
                (
                    "spark_application_success_count",
                    "SparkApplications that COMPLETED",
                    &apps.success,
                ),
                (
                    "spark_application_failure_count",
                    "SparkApplications that FAILED",
                    &apps.failure,
                ),
                (
                    "spark_executor_success_count",
                    "Executors that completed",
                    &apps.executor_success,
                ),
                (
                    "spark_executor_failure_count",
                    "Executors that failed",
                    &apps.executor_failure,
                ),
            ];
            for (name, help, family) in counters {
                kubeflow.register(full(name), help, family.clone());
                plain_counters.push(full(name));
            }
            kubeflow.register(
                full("spark_application_running_count"),
                "SparkApplications RUNNING now",
                apps.running.clone(),
            );
            kubeflow.register(
                full("spark_executor_running_count"),
                "Executors running now",
                apps.executor_running.clone(),
            );
            let histograms = [
                (
                    "spark_application_success_execution_time_seconds",
                    "From submission to termination of COMPLETED applications",
                    &apps.success_time,
                ),
                (
                    "spark_application_failure_execution_time_seconds",
                    "From submission to termination of FAILED applications",
                    &apps.failure_time,
                ),
                (
                    "spark_application_submit_latency_seconds",
                    "From creation to first submission",
                    &apps.submit_latency,
                ),
                (
                    "spark_application_submit_latency_seconds_histogram",
                    "From creation to first submission",
                    &apps.submit_latency_histogram,
                ),
                (
                    "spark_application_start_latency_seconds",
                    "From creation to first RUNNING",
                    &apps.start_latency,
                ),
                (
                    "spark_application_start_latency_seconds_histogram",
                    "From creation to first RUNNING",
                    &apps.start_latency_histogram,
                ),
            ];
            for (name, help, family) in histograms {
                kubeflow.register(full(name), help, family.clone());
            }
        }
        let connects =
            ConnectMetrics::registered(&mut registry, &config, &mut plain_counters, full);
        let reconciles = Counters::default();
        let reconcile_errors = Counters::default();
        let reconcile_time = Histograms::new_with_constructor(Buckets(RECONCILE_BUCKETS.to_vec()));
        let leader = Gauges::default();
        let rest_client_requests = Counters::default();
        registry.register(
            "controller_runtime_reconcile",
            "Reconciles, by controller and result",
            reconciles.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Reconcile errors, by controller and category",
            reconcile_errors.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "How long reconciles took",
            reconcile_time.clone(),
        );
        registry.register(
            "leader_election_master_status",
            "1 while this process holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "rest_client_requests",
            "Requests to the API server, by answer code, host and method",
            rest_client_requests.clone(),
        );
        let webhook = WebhookMetrics::registered(&mut registry);
        let workqueues = WorkQueues::registered(&mut registry);
        registry.register_collector(Box::new(process::ProcessCollector));
        Self {
            inner: Arc::new(Inner {
                registry,
                config,
                plain_counters,
                apps,
                connects,
                reconciles,
                reconcile_errors,
                reconcile_time,
                leader,
                rest_client_requests,
                webhook,
                workqueues,
                tracked: Mutex::new(Tracked::default()),
            }),
        }
    }

    fn labels(&self, app: &SparkApplication) -> Labels {
        labels::of(&self.inner.config, app.namespace().as_deref(), app.labels())
    }

    /// Updates the gauges from an application a reconcile is looking at.
    pub fn observe_application(&self, app: &SparkApplication) {
        let status = app
            .status
            .as_ref()
            .filter(|_| app.metadata.deletion_timestamp.is_none());
        self.track(app, status);
    }

    fn track(&self, app: &SparkApplication, status: Option<&SparkApplicationStatus>) {
        let key = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
        let (running, executors) = transitions::running(status);
        let labels = self.labels(app);
        let expiry = self.inner.config.gauge_expiry;
        let Ok(mut tracked) = self.inner.tracked.lock() else {
            return;
        };
        let now = tokio::time::Instant::now();
        let apps = &self.inner.apps;
        tracked.set(
            key,
            labels,
            running,
            executors,
            now,
            &apps.running,
            &apps.executor_running,
        );
        tracked.expire(now, expiry, &apps.running, &apps.executor_running);
    }

    /// Counts the transition from `old` to `new`, just written to the application's status.
    pub fn status_written(
        &self,
        app: &SparkApplication,
        old: &SparkApplicationStatus,
        new: &SparkApplicationStatus,
    ) {
        let labels = self.labels(app);
        let changes = transitions::changes(app, old, new, jiff::Timestamp::now());
        let apps = &self.inner.apps;
        let inc = |family: &Counters, yes: bool| {
            if yes {
                family.get_or_create(&labels).inc();
            }
        };
        let observe = |family: &Histograms, value: Option<f64>| {
            if let Some(value) = value {
                family.get_or_create(&labels).observe(value);
            }
        };
        inc(&apps.count, changes.app_started);
        inc(&apps.submit, changes.submitted);
        inc(&apps.failed_submission, changes.submission_failed);
        inc(&apps.success, changes.succeeded.is_some());
        inc(&apps.failure, changes.failed.is_some());
        observe(&apps.success_time, changes.succeeded.flatten());
        observe(&apps.failure_time, changes.failed.flatten());
        observe(&apps.submit_latency, changes.submit_latency);
        observe(&apps.submit_latency_histogram, changes.submit_latency);
        observe(&apps.start_latency, changes.start_latency);
        observe(&apps.start_latency_histogram, changes.start_latency);
        if changes.executors_succeeded > 0 {
            apps.executor_success
                .get_or_create(&labels)
                .inc_by(changes.executors_succeeded);
        }
        if changes.executors_failed > 0 {
            apps.executor_failure
                .get_or_create(&labels)
                .inc_by(changes.executors_failed);
        }
        self.track(app, Some(new));
    }

    /// Runs one reconcile of `app` and records its result, duration and error category.
    pub async fn reconciled(
        &self,
        app: &SparkApplication,
        reconcile: impl Future<Output = Result<Action, Error>>,
    ) -> Result<Action, Error> {
        self.observe_application(app);
        self.reconciled_by("sparkapplication", reconcile).await
    }

    /// Updates the gauges from a SparkConnect a reconcile is looking at.
    pub fn observe_connect(&self, connect: &SparkConnect) {
        self.inner
            .connects
            .track(&self.inner.config, connect, connect.status.as_ref());
    }

    /// Counts the change from `old` to `new`, just written to the SparkConnect's status.
    pub fn connect_status_written(
        &self,
        connect: &SparkConnect,
        old: &SparkConnectStatus,
        new: &SparkConnectStatus,
    ) {
        self.inner
            .connects
            .status_written(&self.inner.config, connect, old, new);
    }

    /// Runs one reconcile of the controller `controller` and records its result, duration and
    /// error category under that name.
    pub async fn reconciled_by(
        &self,
        controller: &str,
        reconcile: impl Future<Output = Result<Action, Error>>,
    ) -> Result<Action, Error> {
        let started = tokio::time::Instant::now();
        let result = reconcile.await;
        let controller = ("controller".to_string(), controller.to_string());
        self.inner
            .reconcile_time
            .get_or_create(&vec![controller.clone()])
            .observe(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "success" } else { "error" };
        self.inner
            .reconciles
            .get_or_create(&vec![controller.clone(), ("result".into(), outcome.into())])
            .inc();
        if let Err(error) = &result {
            let category = ("category".to_string(), error.metric_label().to_string());
            self.inner
                .reconcile_errors
                .get_or_create(&vec![controller, category])
                .inc();
        }
        result
    }

    /// Sets `leader_election_master_status` for the lock.
    pub fn set_leading(&self, lock_name: &str, leading: bool) {
        self.inner
            .leader
            .get_or_create(&vec![("name".into(), lock_name.into())])
            .set(i64::from(leading));
    }

    /// A layer for the client of the API server at `url` that counts its requests in
    /// `rest_client_requests_total`.
    pub fn count_requests(&self, url: &http::Uri) -> CountRequests {
        CountRequests {
            requests: self.inner.rest_client_requests.clone(),
            host: requests::host_of(url),
        }
    }

    /// The work queue metrics of `controller` (`sparkapplication`, `scheduledsparkapplication`).
    pub fn workqueue(&self, controller: &str) -> WorkQueue {
        self.inner.workqueues.queue(controller)
    }

    /// An admission review to `path` begins; count it with [`Review::answered`].
    pub fn admission_review(&self, path: &str) -> Review {
        self.inner.webhook.start(path)
    }

    /// Every family a registry with `config` serves, each with one sample of no labels, in the
    /// text [`Metrics::encode`] writes (which leaves out families without samples yet): what
    /// the metrics reference lists.
    pub fn describe(config: MetricsConfig) -> String {
        let metrics = Metrics::new(config);
        let inner = &metrics.inner;
        let apps = &inner.apps;
        let none = Labels::new();
        for counters in [
            &apps.count,
            &apps.submit,
            &apps.failed_submission,
            &apps.success,
            &apps.failure,
            &apps.executor_success,
            &apps.executor_failure,
            &inner.reconciles,
            &inner.reconcile_errors,
            &inner.rest_client_requests,
        ] {
            drop(counters.get_or_create(&none));
        }
        for gauges in [&apps.running, &apps.executor_running, &inner.leader] {
            drop(gauges.get_or_create(&none));
        }
        for histograms in [
            &apps.success_time,
            &apps.failure_time,
            &apps.submit_latency,
            &apps.submit_latency_histogram,
            &apps.start_latency,
            &apps.start_latency_histogram,
            &inner.reconcile_time,
        ] {
            drop(histograms.get_or_create(&none));
        }
        inner.connects.describe(&none);
        metrics.admission_review("/").answered(200);
        let queue = metrics.workqueue("sparkapplication");
        queue.added("");
        queue.requeued("", Duration::ZERO, true);
        drop(queue.started(""));
        metrics.encode()
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        if let Ok(mut tracked) = self.inner.tracked.lock() {
            let apps = &self.inner.apps;
            let expiry = self.inner.config.gauge_expiry;
            tracked.expire(
                tokio::time::Instant::now(),
                expiry,
                &apps.running,
                &apps.executor_running,
            );
        }
        self.inner.connects.expire(&self.inner.config);
        let mut text = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry)
            .is_err()
        {
            return String::new();
        }
        without_total(&text, &self.inner.plain_counters)
    }
}

/// Drops the `_total` suffix that the encoder gives every counter from the counters named in
/// `plain`, so that they carry Kubeflow's names.
pub fn without_total(text: &str, plain: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (head, name_start) = if let Some(rest) = line.strip_prefix("# HELP ") {
            ("# HELP ", rest)
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            ("# TYPE ", rest)
        } else {
            ("", line)
        };
        let end = name_start
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(name_start.len());
        let name = &name_start[..end];
        match name.strip_suffix("_total") {
            Some(base) if plain.iter().any(|p| p == base) => {
                out.push_str(head);
                out.push_str(base);
                out.push_str(&name_start[end..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// How long a running application's gauges stay without a reconcile looking at it (it was
/// deleted, or another operator runs it now).
pub const DEFAULT_GAUGE_EXPIRY: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeflow_counters_lose_the_total_suffix_others_keep_it() {
        let text = "# HELP spark_application_count_total Apps.\n# TYPE spark_application_count_total counter\nspark_application_count_total{namespace=\"a\"} 1\ncontroller_runtime_reconcile_total 2\n";
        let plain = vec!["spark_application_count".to_string()];
        assert_eq!(
            without_total(text, &plain),
            "# HELP spark_application_count Apps.\n# TYPE spark_application_count counter\nspark_application_count{namespace=\"a\"} 1\ncontroller_runtime_reconcile_total 2\n"
        );
    }

    #[test]
    fn the_prefix_applies_to_the_spark_metrics_only() {
        let metrics = Metrics::new(MetricsConfig {
            prefix: "acme_".into(),
            labels: vec!["namespace".into()],
            ..MetricsConfig::default()
        });
        metrics.set_leading("lock", true);
        let app: SparkApplication = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0"}
        }))
        .unwrap();
        let mut running = SparkApplicationStatus::default();
        running.application_state.state = spark_operator_api::ApplicationStateType::Running;
        metrics.status_written(&app, &SparkApplicationStatus::default(), &running);
        let text = metrics.encode();
        assert!(
            text.contains("acme_spark_application_count{namespace=\"default\"} 1"),
            "{text}"
        );
        assert!(text.contains("acme_spark_application_running_count{namespace=\"default\"} 1"));
        assert!(
            text.contains("# TYPE acme_spark_application_count counter"),
            "{text}"
        );
        assert!(
            text.contains("leader_election_master_status{name=\"lock\"} 1"),
            "{text}"
        );
        assert!(!text.contains("acme_controller_runtime"));
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
    }

    #[test]
    fn the_spark_metrics_are_served_only_when_enabled_and_carry_the_prefix_as_written() {
        let app: SparkApplication = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "default",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0"}
        }))
        .unwrap();
        let mut submitted = SparkApplicationStatus::default();
        submitted.application_state.state = spark_operator_api::ApplicationStateType::Submitted;
        let off = Metrics::new(MetricsConfig {
            spark_metrics: false,
            ..MetricsConfig::default()
        });
        off.status_written(&app, &SparkApplicationStatus::default(), &submitted);
        assert!(!off.encode().contains("spark_application"));
        // Kubeflow writes the prefix and the name together, as they are.
        let glued = Metrics::new(MetricsConfig {
            prefix: "team-".into(),
            ..MetricsConfig::default()
        });
        glued.status_written(&app, &SparkApplicationStatus::default(), &submitted);
        let text = glued.encode();
        assert!(
            text.contains("team_spark_application_submit_count 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "team_spark_application_submit_latency_seconds_histogram_bucket{le=\"0.5\"}"
            ),
            "the submit latency has its own buckets:\n{text}"
        );
    }
}

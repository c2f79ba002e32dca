//! How one operator process is configured; flags are named as in Kubeflow's operator.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use spark_operator_api::IngressTls;

use crate::controller::backoff::RequeueLimits;
use crate::runtime::namespace_selection::NamespaceSelection;
use crate::scheduling::RunNamePrecision;
use crate::submission::SubmissionOptions;
use crate::submission::gang::BatchScheduling;

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Namespaces whose applications this operator runs; empty means all.
    pub namespaces: Vec<String>,
    /// `--namespaces` with `--namespace-selector`: which namespaces' applications are acted on.
    pub namespace_selection: NamespaceSelection,
    /// Reconciles that may run at once.
    pub controller_threads: u16,
    /// Only applications whose labels match this selector are handled.
    pub label_selector: Option<String>,
    /// The API server URL that drivers use to create executors (`spark.kubernetes.driver.master`);
    /// the binary sets it to the URL of the cluster the operator talks to unless told otherwise.
    pub master_url: Option<String>,
    /// Host (and path) of the Spark UI Ingress, with `{{$appName}}` and `{{$appNamespace}}`.
    pub ingress_url_format: Option<String>,
    /// Ingress class of the UI Ingress.
    pub ingress_class_name: Option<String>,
    /// Annotations and TLS of Ingresses whose application sets none (`--ingress-annotations`,
    /// `--ingress-tls`).
    pub ingress_annotations: BTreeMap<String, String>,
    pub ingress_tls: Vec<IngressTls>,
    /// Whether to create the Spark UI Service.
    pub enable_ui_service: bool,
    /// How often a running application is looked at even when nothing changes.
    pub resync_period: Duration,
    /// The name events are reported under.
    pub reporter: String,
    /// How applications are submitted unless their `sparkoperator.k8s.io/submitter` annotation
    /// says otherwise.
    pub submitter: SubmitterKind,
    /// How `spark-submit` is run for applications submitted that way.
    pub spark_submit: SparkSubmitOptions,
    /// Grace periods, default time to live and executor tracking limit.
    pub lifecycle: crate::lifecycle::Settings,
    /// How SparkConnect servers that failed are replaced.
    pub connect: crate::connect::Settings,
    /// Where reconciles and status changes are counted (served by `controller start`).
    pub metrics: crate::metrics::Metrics,
    /// Where the controllers report their caches filled, for `/readyz`.
    pub readiness: crate::runtime::readiness::Readiness,
    /// How a schedule's runs are named (`--scheduled-spark-application-timestamp-precision`).
    pub run_name_precision: RunNamePrecision,
    /// The rate limit of requeues after failures (`--workqueue-ratelimiter-*`).
    pub requeue_limits: RequeueLimits,
    /// Spark properties applied under every application's `sparkConf` (LoadSparkDefaults: the
    /// operator's `spark-defaults.conf`).
    pub spark_defaults: BTreeMap<String, String>,
    /// Which batch schedulers gang-schedule applications, and the one of applications that name
    /// none (`--enable-batch-scheduler`, `--default-batch-scheduler`, `--kube-scheduler-names`).
    pub batch_scheduling: BatchScheduling,
    /// A PodDisruptionBudget for the drivers of applications that ask for one
    /// (`--enable-driver-pdb`).
    pub enable_driver_pdb: bool,
}

impl ControllerConfig {
    /// What submissions take from the operator's settings.
    pub fn submission_options(&self) -> SubmissionOptions {
        SubmissionOptions {
            enable_ui_service: self.enable_ui_service,
            ingress_url_format: self.ingress_url_format.clone(),
            ingress_class_name: self.ingress_class_name.clone(),
            ingress_annotations: self.ingress_annotations.clone(),
            ingress_tls: self.ingress_tls.clone(),
            batch_scheduling: self.batch_scheduling.clone(),
            driver_pod_disruption_budget: self.enable_driver_pdb,
            ..SubmissionOptions::default()
        }
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            namespace_selection: NamespaceSelection::default(),
            controller_threads: 10,
            label_selector: None,
            master_url: None,
            ingress_url_format: None,
            ingress_class_name: None,
            ingress_annotations: BTreeMap::new(),
            ingress_tls: Vec::new(),
            enable_ui_service: true,
            resync_period: Duration::from_secs(30),
            reporter: "spark-operator".into(),
            submitter: SubmitterKind::Native,
            spark_submit: Default::default(),
            lifecycle: crate::lifecycle::Settings::default(),
            connect: crate::connect::Settings::default(),
            metrics: crate::metrics::Metrics::default(),
            readiness: crate::runtime::readiness::Readiness::default(),
            run_name_precision: RunNamePrecision::default(),
            requeue_limits: RequeueLimits::default(),
            spark_defaults: BTreeMap::new(),
            batch_scheduling: BatchScheduling::default(),
            enable_driver_pdb: false,
        }
    }
}

/// The two ways of submitting an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SubmitterKind {
    /// The operator creates the driver Pod, its ConfigMaps and Service itself.
    #[default]
    Native,
    /// The operator runs Spark's own `spark-submit`, as Kubeflow's operator does.
    SparkSubmit,
}

/// The annotation that chooses the submitter of one application: `native` or `spark-submit`.
pub const SUBMITTER_ANNOTATION: &str = "sparkoperator.k8s.io/submitter";

impl SubmitterKind {
    /// The submitter of `app`: its annotation when it names one, else `default`.
    pub fn of(
        app: &spark_operator_api::SparkApplication,
        default: SubmitterKind,
    ) -> Result<SubmitterKind, crate::error::UnknownSubmitter> {
        use kube::ResourceExt;
        match app
            .annotations()
            .get(SUBMITTER_ANNOTATION)
            .map(|v| v.trim())
        {
            None | Some("") => Ok(default),
            Some("native") => Ok(SubmitterKind::Native),
            Some("spark-submit") => Ok(SubmitterKind::SparkSubmit),
            Some(other) => Err(crate::error::UnknownSubmitter {
                annotation: SUBMITTER_ANNOTATION,
                value: other.to_string(),
            }),
        }
    }
}

/// JVM options for short runs: the client compiler only, and the serial collector.
pub const DEFAULT_JAVA_OPTIONS: &str = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC";

/// How the submitter runs spark-submit.
#[derive(Debug, Clone)]
pub struct SparkSubmitOptions {
    /// A Spark installation (with `bin/spark-submit`); found by `find_spark_home` when `None`.
    pub spark_home: Option<PathBuf>,
    /// Runs at once; more wait their turn.
    pub max_concurrent: usize,
    pub timeout: Duration,
    /// Passed to the child as `KUBECONFIG`; otherwise it inherits the operator's environment
    /// (in a pod, fabric8 uses the service account).
    pub kubeconfig: Option<PathBuf>,
    /// `JAVA_TOOL_OPTIONS` of spark-submit's JVMs. The default trades peak speed, which a run of
    /// a few seconds never reaches, for start-up CPU (about 40% less).
    pub java_options: Option<String>,
}

impl Default for SparkSubmitOptions {
    fn default() -> Self {
        Self {
            spark_home: None,
            max_concurrent: 4,
            timeout: Duration::from_secs(120),
            kubeconfig: None,
            java_options: Some(DEFAULT_JAVA_OPTIONS.into()),
        }
    }
}

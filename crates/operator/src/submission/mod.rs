//! Native submission: the objects `spark-submit --deploy-mode cluster` (Spark 4.0) creates on
//! Kubernetes for a SparkApplication, as Kubeflow's operator would have it run, built as a pure
//! function so that the operator can create them itself and the stock `apache/spark` image runs
//! the driver unchanged. This module does not touch the Kubernetes API or run processes: the
//! `submitter` creates what it plans, or runs the real spark-submit with the arguments it builds.
//!
//! Kubeflow's translation of the spec into spark-submit arguments is in `conf`, what
//! spark-submit makes of them in `spark_conf`, Spark's driver pod in `driver_pod` (its basic
//! step in `driver_basic_step`, on the shared `spark_pod`), and what Kubeflow's pod webhook adds
//! in `customize` (applied to the driver pod and to the executor pod template, so that no webhook
//! is needed).
//!
//! `tests/equivalence.rs` submits a corpus of applications both ways against the local cluster
//! and compares the objects; `tests/equivalence/allow-list.yaml` lists the differences below as
//! they show there.
//!
//! # Intentional differences from spark-submit
//!
//! Each entry says what differs from the objects spark-submit (run by Kubeflow's operator, with
//! its webhook) creates, and why.
//!
//! 1. **Owner references.** Every object (driver pod, driver Service, ConfigMaps, UI Service,
//!    Ingresses) has one ownerReference to the SparkApplication (`controller: true`,
//!    `blockOwnerDeletion: true`). spark-submit makes the driver pod the owner of its Service and
//!    ConfigMaps; here they are created before the pod (so that it starts with its volumes) and
//!    deleting the application deletes everything. The driver pod's reference is the one
//!    Kubeflow's webhook adds. Executor pods are unchanged: owned by the driver pod (Spark) and,
//!    without being its controller, by the application (from the template, as in Kubeflow).
//! 2. **Derived instead of random identifiers.** The unique id (16 hex digits; Spark: 6 random hex
//!    digits and the time), the application id (`spark-` + 32 hex digits; Spark: a random UUID)
//!    and the local directory (`/var/data/spark-<uuid>`) are derived from the submission id, so a
//!    restarted operator rebuilds the same names and never creates a second driver. One unique id
//!    serves the resource prefix, the driver ConfigMap and the Service fallback name (Spark draws
//!    one for each).
//! 3. **`spark.kubernetes.executor.podNamePrefix`** is set to the resource prefix; spark-submit
//!    leaves it unset and the driver picks a random one. Executor pod names are deterministic.
//! 4. **`spark.kubernetes.driver.master`** defaults to the API server URL the operator uses
//!    (`spec.driver.kubernetesMaster` and `sparkConf` still override it); Kubeflow leaves Spark's
//!    default `https://kubernetes.default.svc`, which clusters without that name cannot serve.
//! 5. **`spark.kubernetes.namespace`** is always the application's namespace; the same key in
//!    `sparkConf` is ignored (Kubeflow passes it and spark-submit would create the driver in
//!    another namespace, where the application's owner reference cannot reach).
//! 6. **Labels on ConfigMaps and Services.** `sparkoperator.k8s.io/app-name` and
//!    `sparkoperator.k8s.io/submission-id` are added to the driver Service and every ConfigMap
//!    (spark-submit labels only the Service, with `spark-app-selector`), so that a submission
//!    resumed after a crash recognises its objects and cleanup finds them. Kubeflow's UI Service
//!    keeps these labels when `sparkUIOptions.serviceLabels` is set (Kubeflow replaces them).
//! 7. **`spark-version` label** is `spec.sparkVersion` (the context's `spark_version`), not the
//!    version of a spark-submit installation.
//! 8. **`SPARK_USER`** is the proxy user if any, else `SubmissionOptions::spark_user` (`spark`,
//!    the user Kubeflow's image runs spark-submit as).
//! 9. **Order within maps.** Entries Spark or Kubeflow take from hash maps (driver environment,
//!    secrets, volumes from configuration, `spark.properties` lines, `--conf` pairs within one
//!    group) are in key order.
//! 10. **No submitter configuration files.** The driver ConfigMap holds only `spark.properties`
//!     and the `spark.kubernetes.namespace` entry; spark-submit also copies the files of its own
//!     `SPARK_CONF_DIR` (none in Kubeflow's image). The date comment of `spark.properties` is the
//!     submit time.
//! 11. **Local dependencies are rejected** (`SubmissionError::LocalDependency`): files without a
//!     scheme or with `file:` would be uploaded by spark-submit to
//!     `spark.kubernetes.file.upload.path`. Maven packages are resolved by the driver only.
//! 12. **Pod templates.** The executor template is a `Pod` document (Kubeflow writes a
//!     `PodTemplateSpec`). `spark.kubernetes.driver.podTemplateFile` names Kubeflow's file path
//!     although the native submission writes no file (the driver never reads it).
//! 13. **What a template cannot override.** Executor settings Spark sets on top of the template
//!     are Spark's: `executor.memoryLimit` is ignored (the limit is memory + overhead) and with
//!     `sparkConfigMap` the executors' effective `SPARK_CONF_DIR` is Spark's. Kubeflow's webhook
//!     applied these after Spark. The native driver pod gets them as with the webhook; the driver
//!     template of `pod_template_files` (for the real spark-submit) has the executor's limits.
//! 14. **`{{$appId}}`** in Ingress URL formats is this attempt's application id (Kubeflow's
//!     `spark.ui.proxyBase` uses the previous attempt's, read from the status).
//! 15. **Not supported** (`SubmissionError::ClientMode`, `SubmissionError::Unsupported`): client
//!     mode, and claims created on demand (`OnDemand` with storage class and size). Driver
//!     credentials from `spark.kubernetes.authenticate.driver.*` files are not mounted.
//! 16. **Batch schedulers** are prepared as Kubeflow prepares them (`gang`), with two
//!     differences listed there.
//! 17. **Driver pod name** is `naming::driver_pod_name` (`spec.driver.podName`, else
//!     `<app>-driver`); Kubeflow also honours `sparkConf["spark.kubernetes.driver.pod.name"]`.

mod conf;
mod config_map;
mod customize;
mod disruption_budget;
mod driver_basic_step;
mod driver_pod;
mod executor_template;
pub mod gang;
mod ingress;
mod ingress_url;
mod monitoring;
mod names;
pub mod properties;
mod service;
mod settings;
mod spark_conf;
mod spark_pod;
mod spec;
mod units;
mod volumes;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use spark_operator_api::{IngressTls, SparkApplication};

pub use conf::{DRIVER_TEMPLATE_FILE, EXECUTOR_TEMPLATE_FILE};
pub use disruption_budget::collection_path as disruption_budgets_path;
pub use names::{
    DRIVER_CONTAINER, EXECUTOR_CONTAINER, LABEL_APP_NAME, LABEL_CREATED_BY, LABEL_LAUNCHED_BY,
    LABEL_SPARK_APP_SELECTOR, LABEL_SPARK_ROLE, LABEL_SPARK_VERSION, LABEL_SUBMISSION_ID,
    ROLE_DRIVER, ROLE_EXECUTOR,
};
pub use spec::PlannedPodGroup;
pub use units::{memory_overhead_mib, size_in_mib};

/// Why an application cannot be submitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmissionError {
    #[error(
        "the application has no uid: objects are owned by it, so it must come from the API server"
    )]
    MissingUid,
    #[error("the application has no namespace")]
    MissingNamespace,
    #[error("client mode is not supported: the driver runs in the cluster")]
    ClientMode,
    #[error("no mainApplicationFile: spark-submit needs a primary resource")]
    MissingMainApplicationFile,
    #[error("no mainClass: a JVM application needs one")]
    MissingMainClass,
    #[error("no image: set spec.image or spec.driver.image")]
    MissingImage,
    #[error(
        "{key} has {uri}, a file on the submitter's disk; use local:// for files in the image or a remote URL"
    )]
    LocalDependency { key: String, uri: String },
    #[error("volume {0} is mounted but not among spec.volumes")]
    VolumeNotFound(String),
    #[error(
        "volume {0}: Spark can only mount emptyDir, hostPath, nfs and persistentVolumeClaim volumes from configuration"
    )]
    UnsupportedVolumeType(String),
    #[error("{key}={value:?}: {reason}")]
    InvalidConf {
        key: String,
        value: String,
        reason: String,
    },
    #[error("label {0} is reserved for Spark")]
    ReservedLabel(String),
    #[error("master URL {0:?}: expected http(s)://host[:port] (k8s:// may precede it)")]
    InvalidMasterUrl(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("serializing the pod template: {0}")]
    Serialization(String),
}

/// Operator-wide settings of submissions.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionOptions {
    /// Service account of drivers whose spec names none.
    pub default_service_account: Option<String>,
    /// Whether to build Kubeflow's Spark UI Service (and Ingress).
    pub enable_ui_service: bool,
    /// Host and path of the UI Ingress, with `{{$appName}}`, `{{$appNamespace}}`, `{{$appId}}`.
    pub ingress_url_format: Option<String>,
    pub ingress_class_name: Option<String>,
    /// Annotations and TLS of Ingresses whose application sets none.
    pub ingress_annotations: BTreeMap<String, String>,
    pub ingress_tls: Vec<IngressTls>,
    /// `SPARK_USER` of drivers without a proxy user: the user spark-submit would run as.
    pub spark_user: String,
    /// Where spark-submit's pod template files go (`<dir>/<submission id>/...`), as in Kubeflow.
    pub pod_template_dir: String,
    /// Which batch schedulers gang-schedule applications (`--enable-batch-scheduler`, ...).
    pub batch_scheduling: gang::BatchScheduling,
    /// Whether applications with `driverPodDisruptionBudget: true` get a PodDisruptionBudget
    /// for their driver (`--enable-driver-pdb`).
    pub driver_pod_disruption_budget: bool,
}

impl Default for SubmissionOptions {
    fn default() -> Self {
        Self {
            default_service_account: None,
            enable_ui_service: true,
            ingress_url_format: None,
            ingress_class_name: None,
            ingress_annotations: BTreeMap::new(),
            ingress_tls: Vec::new(),
            spark_user: "spark".into(),
            pod_template_dir: "/tmp/spark".into(),
            batch_scheduling: gang::BatchScheduling::default(),
            driver_pod_disruption_budget: false,
        }
    }
}

/// What a submission needs besides the spec. Everything in it is a function of its arguments, so
/// planning the same attempt twice gives the same objects.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionContext {
    /// Chosen by the caller, one per attempt; every other identifier derives from it.
    pub submission_id: String,
    /// 16 hex digits in the names of the attempt's objects.
    pub unique_id: String,
    /// Spark's application id, `spark-` + 32 hex digits (`spark-app-selector`, `spark.app.id`).
    pub app_id: String,
    /// `spark.app.submitTime`, in milliseconds since the epoch.
    pub submit_time_ms: i64,
    /// The API server URL (`https://host:port`, `k8s://` optional) for `spark.master` and the
    /// drivers' `spark.kubernetes.driver.master`.
    pub master_url: String,
    /// The `spark-version` label of the driver.
    pub spark_version: String,
    pub options: SubmissionOptions,
}

impl SubmissionContext {
    /// The context of attempt `submission_id` of `app`.
    pub fn with_options(
        app: &SparkApplication,
        submission_id: &str,
        submit_time_ms: i64,
        master_url: &str,
        options: SubmissionOptions,
    ) -> Self {
        Self {
            submission_id: submission_id.to_string(),
            unique_id: names::derived_hex(submission_id, "unique-id", 16),
            app_id: format!(
                "spark-{}",
                names::derived_hex(submission_id, "application-id", 32)
            ),
            submit_time_ms,
            master_url: master_url.to_string(),
            spark_version: app.spec.spark_version.clone(),
            options,
        }
    }

    /// The API server URL as spark-submit normalises `--master` ([`api_server_url`]).
    pub fn api_server_url(&self) -> Result<String, SubmissionError> {
        api_server_url(&self.master_url)
    }
}

/// An API server URL as spark-submit normalises `--master`: without `k8s://`, `https://` assumed
/// when there is no scheme, only http and https accepted.
pub fn api_server_url(master_url: &str) -> Result<String, SubmissionError> {
    let raw = master_url.trim();
    let url = raw.strip_prefix("k8s://").unwrap_or(raw);
    let invalid = || SubmissionError::InvalidMasterUrl(master_url.to_string());
    match url.split_once("://") {
        None if !url.is_empty() => Ok(format!("https://{url}")),
        Some((scheme, rest))
            if !rest.is_empty()
                && (scheme.eq_ignore_ascii_case("https")
                    || scheme.eq_ignore_ascii_case("http")) =>
        {
            Ok(url.to_string())
        }
        _ => Err(invalid()),
    }
}

/// The names of one attempt's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionNames {
    /// Spark's `<app>-<uniqueId>`, sanitised.
    pub resource_prefix: String,
    pub driver_pod: String,
    pub driver_service: String,
    pub driver_config_map: String,
    pub pod_template_config_map: String,
}

impl SubmissionNames {
    pub fn new(app: &SparkApplication, ctx: &SubmissionContext) -> Self {
        let resource_prefix = names::resource_name_prefix(&app.name_any(), &ctx.unique_id);
        Self {
            driver_pod: spark_operator_api::naming::driver_pod_name(app),
            driver_service: names::driver_service_name(&resource_prefix, &ctx.unique_id),
            driver_config_map: names::driver_config_map_name(&ctx.unique_id),
            pod_template_config_map: names::pod_template_config_map_name(&resource_prefix),
            resource_prefix,
        }
    }
}

/// Everything one attempt creates, in creation order within each kind.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionPlan {
    pub names: SubmissionNames,
    pub driver_pod: Pod,
    /// The headless Service executors reach the driver through.
    pub driver_service: Service,
    /// Holds `spark.properties`, mounted at `/opt/spark/conf`.
    pub driver_config_map: ConfigMap,
    /// Holds the executor pod template, mounted at `/opt/spark/pod-template`.
    pub executor_template_config_map: ConfigMap,
    pub prometheus_config_map: Option<ConfigMap>,
    pub ui_service: Option<Service>,
    pub ui_ingress: Option<Ingress>,
    pub driver_ingress_services: Vec<Service>,
    pub driver_ingresses: Vec<Ingress>,
    /// The contents of `spark.properties`.
    pub spark_properties: BTreeMap<String, String>,
    /// The batch scheduler's PodGroup, created before the driver so that it waits on it.
    pub pod_group: Option<PlannedPodGroup>,
    /// Keeps the driver from voluntary eviction while the application runs.
    pub driver_disruption_budget: Option<PodDisruptionBudget>,
}

impl SubmissionPlan {
    pub fn driver_pod(&self) -> &Pod {
        &self.driver_pod
    }

    /// The ConfigMaps, to create before the driver pod that mounts them.
    pub fn config_maps(&self) -> impl Iterator<Item = &ConfigMap> {
        [
            Some(&self.executor_template_config_map),
            self.prometheus_config_map.as_ref(),
            Some(&self.driver_config_map),
        ]
        .into_iter()
        .flatten()
    }

    /// The Services: the driver's, the UI's, then those of `driverIngressOptions`.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        std::iter::once(&self.driver_service)
            .chain(self.ui_service.as_ref())
            .chain(&self.driver_ingress_services)
    }

    /// The Spark UI Ingress.
    pub fn ingress(&self) -> Option<&Ingress> {
        self.ui_ingress.as_ref()
    }

    /// Every Ingress: the UI's, then those of `driverIngressOptions`.
    pub fn ingresses(&self) -> impl Iterator<Item = &Ingress> {
        self.ui_ingress.iter().chain(&self.driver_ingresses)
    }
}

/// The SparkConf spark-submit hands to its Kubernetes client for `app`: Kubeflow's translation of
/// the spec (see `spark_submit_args`) folded as spark-submit folds it, with spark-submit's own
/// keys (`spark.master`, `spark.app.name`, `spark.jars`, `spark.submit.pyFiles`, ...).
pub fn spark_conf(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<BTreeMap<String, String>, SubmissionError> {
    let prepared = spec::Prepared::new(app, ctx)?;
    let command = conf::submit_command(&prepared, ctx)?;
    spark_conf::effective_conf(&command, &prepared.main_resource(), ctx)
}

/// The arguments of the `spark-submit` command for `app`, as Kubeflow's operator passes them:
/// `--master k8s://URL --deploy-mode cluster [--class C] --name N [--jars ...] --conf k=v ...
/// [--proxy-user U] <main file> <arguments>`. The pod template files it names are
/// `pod_template_files`.
pub fn spark_submit_args(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<Vec<String>, SubmissionError> {
    let prepared = spec::Prepared::new(app, ctx)?;
    Ok(conf::submit_command(&prepared, ctx)?.args())
}

/// The spec as it is submitted: Kubeflow's defaults, the pre-submission rewrites and the batch
/// scheduler's annotations and labels applied.
pub fn submitted_spec(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<spark_operator_api::SparkApplicationSpec, SubmissionError> {
    Ok(spec::Prepared::new(app, ctx)?.spec)
}

/// A file spark-submit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplateFile {
    pub path: String,
    pub contents: String,
}

/// The driver and executor pod templates the `spark_submit_args` name, to be written before
/// running spark-submit.
pub fn pod_template_files(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<Vec<PodTemplateFile>, SubmissionError> {
    let prepared = spec::Prepared::new(app, ctx)?;
    let file = |name: &str, pod: &Pod| -> Result<PodTemplateFile, SubmissionError> {
        Ok(PodTemplateFile {
            path: conf::pod_template_path(ctx, name),
            contents: executor_template::to_document(pod)?,
        })
    };
    Ok(vec![
        file(
            DRIVER_TEMPLATE_FILE,
            &executor_template::driver_template(&prepared),
        )?,
        file(
            EXECUTOR_TEMPLATE_FILE,
            &executor_template::executor_template(&prepared),
        )?,
    ])
}

/// Kubeflow's Spark UI Service of `app` (`<app>-ui-svc`), also part of `plan` when enabled.
pub fn ui_service(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<Service, SubmissionError> {
    let prepared = spec::Prepared::new(app, ctx)?;
    Ok(service::ui_service(&prepared, ctx))
}

/// Kubeflow's Spark UI Ingress of `app`, when the UI Service is enabled and the options have an
/// Ingress URL format; also part of `plan`.
pub fn ui_ingress(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<Option<Ingress>, SubmissionError> {
    let prepared = spec::Prepared::new(app, ctx)?;
    let service = service::ui_service(&prepared, ctx);
    let port = service_port(&service);
    Ok(port.and_then(|port| ingress::ui_ingress(&prepared, ctx, port)))
}

fn service_port(service: &Service) -> Option<i32> {
    service
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .first()
        .map(|p| p.port)
}

/// Every object of attempt `ctx` of `app`.
pub fn plan(
    app: &SparkApplication,
    ctx: &SubmissionContext,
) -> Result<SubmissionPlan, SubmissionError> {
    let prepared = spec::Prepared::new(app, ctx)?;
    let command = conf::submit_command(&prepared, ctx)?;
    let conf = spark_conf::effective_conf(&command, &prepared.main_resource(), ctx)?;
    let settings = settings::Settings(&conf);
    let names = SubmissionNames::new(app, ctx);

    let driver = driver_pod::build(&prepared, settings, ctx, &names)?;
    let mut spark_properties = conf.clone();
    spark_properties.extend(driver.system_properties);
    let driver_service = service::driver_service(&prepared, settings, ctx, &names, &driver.labels)?;
    let driver_config_map =
        config_map::driver_config_map(&prepared, ctx, &names, &spark_properties);
    let template =
        executor_template::to_document(&executor_template::executor_template(&prepared))?;
    let executor_template_config_map =
        executor_template::config_map(&prepared, ctx, &names, template);

    let ui_service = ctx
        .options
        .enable_ui_service
        .then(|| service::ui_service(&prepared, ctx));
    let ui_port = ui_service.as_ref().and_then(service_port);
    let ui_ingress = ui_port.and_then(|port| ingress::ui_ingress(&prepared, ctx, port));
    let ingress_options = &prepared.spec.driver_ingress_options;
    Ok(SubmissionPlan {
        driver_pod: driver.pod,
        driver_service,
        driver_config_map,
        executor_template_config_map,
        prometheus_config_map: config_map::prometheus_config_map(&prepared, ctx),
        ui_service,
        ui_ingress,
        driver_ingress_services: ingress_options
            .iter()
            .map(|o| service::driver_ingress_service(&prepared, ctx, o))
            .collect(),
        driver_ingresses: ingress_options
            .iter()
            .filter_map(|o| ingress::driver_ingress(&prepared, ctx, o))
            .collect(),
        spark_properties,
        driver_disruption_budget: ctx
            .options
            .driver_pod_disruption_budget
            .then(|| disruption_budget::driver(&prepared, &names))
            .flatten(),
        pod_group: prepared.pod_group,
        names,
    })
}

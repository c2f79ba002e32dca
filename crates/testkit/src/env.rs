//! The operator's end-to-end environment: a local cluster over HTTPS with simulated nodes, the
//! CRDs, and the operator's controllers running in this process as they would in their own, in
//! either submission mode. The operator's, sparkctl's and spark-local's tests run on it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use localcluster::simulation::NodesConfig;
use localcluster::{LocalCluster, Options};
use spark_operator::config::{ControllerConfig, SubmitterKind};
use spark_operator::install::{CHART_SPARK_SERVICE_ACCOUNT, install_spark_service_account};
use spark_operator::submitter::spark_submit::find_spark_home;
use spark_operator_api::{ApplicationStateType, SparkApplication, SparkConnect};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::kubectl::Kubectl;
use crate::wait::within;

/// How the operator under test submits applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Native,
    /// Through Spark's own spark-submit, found as the operator finds it (`SPARK_HOME`, or the
    /// installed pyspark, which `.ci/run` installs).
    SparkSubmit,
}

impl Mode {
    /// `native` seconds, stretched in spark-submit mode: every submission there starts a JVM that
    /// needs seconds of CPU, and tests of both modes share two cores.
    pub fn patience(self, native: u64) -> u64 {
        match self {
            Mode::Native => native,
            Mode::SparkSubmit => native * 3 + 60,
        }
    }
}

/// Generates, for each named scenario `async fn name(mode: Mode)`, the test `native::name` and
/// the test `spark_submit::name`, so that both submission modes run one definition.
///
/// ```no_run
/// testkit::in_both_modes!(runs_to_completion);
///
/// async fn runs_to_completion(mode: testkit::Mode) {
///     let Some(env) = testkit::Env::start_in(mode).await else {
///         return; // spark-submit mode without Spark
///     };
///     // ...
/// #   drop(env);
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! in_both_modes {
    ($($scenario:ident),* $(,)?) => {
        mod native {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::env::Mode::Native).await;
                }
            )*
        }
        mod spark_submit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::env::Mode::SparkSubmit).await;
                }
            )*
        }
    };
}

/// The service account the fixtures' drivers run as ([`crate::fixtures::spark_pi`]).
pub const SPARK_SERVICE_ACCOUNT: &str = "spark";

/// How long the tests' operators let one spark-submit run take: far longer than it does (3 to 10 s),
/// for a machine running other JVMs beside it.
pub const SPARK_SUBMIT_TIMEOUT: Duration = Duration::from_secs(300);

/// One test's local cluster, with the operator under test once started.
pub struct Env {
    pub cluster: LocalCluster,
    pub client: Client,
    pub mode: Mode,
    operator: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    /// The test's files (kubeconfigs, YAML), removed with the environment.
    scratch: tempfile::TempDir,
}

impl Env {
    /// A cluster with nodes and CRDs, and the operator running.
    pub async fn start() -> Env {
        let mut env = Self::without_operator().await;
        env.start_operator();
        env
    }

    /// A cluster with the operator running in `mode`, or `None` (with a notice) in spark-submit
    /// mode when there is no Spark installation, unless `REQUIRE_SPARK` is set (CI sets it).
    pub async fn start_in(mode: Mode) -> Option<Env> {
        let mut env = Self::without_operator_in(mode).await?;
        env.start_operator();
        Some(env)
    }

    /// Like `without_operator`, for an operator that will submit in `mode`.
    pub async fn without_operator_in(mode: Mode) -> Option<Env> {
        Self::without_operator_in_with_nodes(mode, NodesConfig::default()).await
    }

    /// Like `without_operator_in`, on the nodes (and batch schedulers) of `nodes`.
    pub async fn without_operator_in_with_nodes(mode: Mode, nodes: NodesConfig) -> Option<Env> {
        if mode == Mode::SparkSubmit
            && let Err(error) = find_spark_home(None)
        {
            assert!(
                std::env::var_os("REQUIRE_SPARK").is_none(),
                "REQUIRE_SPARK is set but Spark is missing: {error}"
            );
            eprintln!("skipping: {error}");
            return None;
        }
        let mut env = Self::without_operator_with_nodes(nodes).await;
        env.mode = mode;
        Some(env)
    }

    /// A cluster with nodes and CRDs, and no operator yet.
    pub async fn without_operator() -> Env {
        Self::without_operator_on(Options::default()).await
    }

    /// A cluster started with `options` (faults, a data directory, ...), with nodes and CRDs,
    /// and no operator yet.
    pub async fn without_operator_on(options: Options) -> Env {
        Self::without_operator_on_nodes(options, NodesConfig::default()).await
    }

    /// A cluster with the nodes (and batch schedulers) of `nodes`, and no operator yet.
    pub async fn without_operator_with_nodes(nodes: NodesConfig) -> Env {
        Self::without_operator_on_nodes(Options::default(), nodes).await
    }

    async fn without_operator_on_nodes(options: Options, nodes: NodesConfig) -> Env {
        let cluster = LocalCluster::start(options).await.expect("cluster starts");
        let client = cluster.client().expect("client");
        let with_pod_groups = nodes
            .batch_schedulers
            .iter()
            .any(|s| !matches!(s, localcluster::simulation::gang::BatchScheduler::YuniKorn));
        tokio::spawn(localcluster::simulation::run(client.clone(), nodes));
        if with_pod_groups {
            // The simulated control plane installs the schedulers' CRDs as it starts.
            crate::eventually(20, || async {
                let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
                let names = crds.list_metadata(&ListParams::default()).await.ok()?;
                let installed = names.items.iter().any(|crd| {
                    crd.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("podgroups."))
                });
                installed.then_some(())
            })
            .await;
        }
        spark_operator::install::install_crds(&client)
            .await
            .expect("CRDs installed");
        // What an installation makes in its job namespace: the API server refuses a driver whose
        // service account is missing. The fixtures' drivers run as `spark`, the examples' as the
        // chart's own.
        for account in [SPARK_SERVICE_ACCOUNT, CHART_SPARK_SERVICE_ACCOUNT] {
            install_spark_service_account(&client, "default", account)
                .await
                .expect("Spark service account installed");
        }
        Env {
            cluster,
            client,
            mode: Mode::Native,
            operator: None,
            scratch: tempfile::Builder::new()
                .prefix("spark-operator-test-")
                .tempdir()
                .expect("scratch directory"),
        }
    }

    /// The operator's configuration for this cluster and mode.
    pub fn config(&self) -> ControllerConfig {
        let mut config = ControllerConfig {
            master_url: Some(self.cluster.url()),
            resync_period: Duration::from_secs(5),
            ..ControllerConfig::default()
        };
        if self.mode == Mode::SparkSubmit {
            // spark-submit's Kubernetes client reads the cluster's address and CA from a file.
            static KUBECONFIGS: AtomicUsize = AtomicUsize::new(0);
            let kubeconfig = self.scratch.path().join(format!(
                "spark-submit-{}.kubeconfig",
                KUBECONFIGS.fetch_add(1, Ordering::Relaxed)
            ));
            self.cluster
                .write_kubeconfig(&kubeconfig)
                .expect("kubeconfig written");
            config.submitter = SubmitterKind::SparkSubmit;
            config.spark_submit.kubeconfig = Some(kubeconfig);
            config.spark_submit.timeout = SPARK_SUBMIT_TIMEOUT;
        }
        config
    }

    /// A directory `name` for the test's files, removed with the environment.
    pub fn scratch_dir(&self, name: &str) -> std::path::PathBuf {
        let dir = self.scratch.path().join(name);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    /// A kubeconfig for the cluster in the scratch directory `name`; its path.
    pub fn kubeconfig_in(&self, name: &str) -> std::path::PathBuf {
        let kubeconfig = self.scratch_dir(name).join("kubeconfig");
        self.cluster
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        kubeconfig
    }

    /// kubectl for the cluster, its kubeconfig and files in the scratch directory `name`.
    pub fn kubectl(&self, name: &str) -> Kubectl {
        Kubectl::new(self.kubeconfig_in(name))
    }

    pub fn start_operator(&mut self) {
        let config = self.config();
        self.start_operator_with(config);
    }

    pub fn start_operator_with(&mut self, config: ControllerConfig) {
        // The operator's own client, which names it to the cluster as in production.
        let client =
            kube::Client::try_from(self.operator_client_config()).expect("operator's client");
        self.start_operator_on(client, config);
    }

    /// The configuration of the operator's client: the cluster's, under the operator's name.
    pub fn operator_client_config(&self) -> kube::Config {
        spark_operator::runtime::identified(
            self.cluster.client_config().expect("client configuration"),
        )
    }

    /// The operator with `config`, on `client`.
    pub fn start_operator_on(&mut self, client: Client, config: ControllerConfig) {
        assert!(self.operator.is_none(), "one operator at a time");
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let task = tokio::spawn(async move {
            spark_operator::controller::run_all(client, config, shutdown)
                .await
                .expect("operator runs");
        });
        self.operator = Some((stop, task));
    }

    /// Stops the operator as SIGTERM would: reconciles in flight finish first. In spark-submit
    /// mode those may be spark-submit runs under way, a JVM each, which the operator gives up to
    /// `SPARK_SUBMIT_TIMEOUT`; runs still waiting for their turn do not start.
    pub async fn stop_operator(&mut self) {
        let seconds = match self.mode {
            Mode::Native => 20,
            Mode::SparkSubmit => SPARK_SUBMIT_TIMEOUT.as_secs() + 60,
        };
        if let Some((stop, task)) = self.operator.take() {
            let _ = stop.send(true);
            tokio::time::timeout(Duration::from_secs(seconds), task)
                .await
                .unwrap_or_else(|_| panic!("operator stops within {seconds}s"))
                .expect("operator task ends cleanly");
        }
    }

    /// Stops the API server for `down` and starts it again with `options` on the same ports and
    /// data directory; the nodes and the operator keep running and find it again.
    pub async fn api_server_outage(&mut self, options: Options, down: Duration) {
        self.cluster
            .restart(options, down)
            .await
            .expect("the API server starts again");
    }

    pub fn apps(&self) -> Api<SparkApplication> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn create(&self, yaml: &str) -> SparkApplication {
        let app: SparkApplication = serde_yaml::from_str(yaml).expect("test YAML parses");
        self.apps()
            .create(&PostParams::default(), &app)
            .await
            .expect("application created")
    }

    pub async fn app(&self, name: &str) -> Option<SparkApplication> {
        self.apps().get_opt(name).await.expect("get application")
    }

    /// Waits until the application reaches `state`; fails early if it reaches another final state.
    /// `seconds` is the time allowed in native mode, stretched by `Mode::patience` in the other.
    pub async fn wait_for(
        &self,
        name: &str,
        state: ApplicationStateType,
        seconds: u64,
    ) -> SparkApplication {
        let seconds = self.mode.patience(seconds);
        let reached = within(seconds, || async {
            let app = self.app(name).await;
            let status = app.as_ref().and_then(|a| a.status.as_ref());
            let current = status.map(|s| s.application_state.state);
            let finished = matches!(
                current,
                Some(ApplicationStateType::Completed | ApplicationStateType::Failed)
            );
            assert!(
                current == Some(state) || !finished,
                "{name} ended {current:?} while waiting for {state:?}: {status:?}"
            );
            app.filter(|_| current == Some(state))
        })
        .await;
        if let Some(app) = reached {
            return app;
        }
        let status = self.app(name).await.and_then(|a| a.status);
        let driver = self
            .pods()
            .get_opt(&format!("{name}-driver"))
            .await
            .ok()
            .flatten();
        let phase = driver.and_then(|d| d.status).and_then(|s| s.phase);
        panic!("{name} not {state:?} within {seconds}s (driver pod phase {phase:?}): {status:?}");
    }

    pub fn connects(&self) -> Api<SparkConnect> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn create_connect(&self, yaml: &str) -> SparkConnect {
        let connect: SparkConnect = serde_yaml::from_str(yaml).expect("test YAML parses");
        self.connects()
            .create(&PostParams::default(), &connect)
            .await
            .expect("SparkConnect created")
    }

    /// Waits until the SparkConnect's `status.state` is `state`, for up to `seconds`.
    pub async fn wait_for_connect(&self, name: &str, state: &str, seconds: u64) -> SparkConnect {
        let reached = within(seconds, || async {
            let connect = self
                .connects()
                .get_opt(name)
                .await
                .expect("get SparkConnect");
            connect.filter(|c| c.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state))
        })
        .await;
        reached.unwrap_or_else(|| {
            panic!("SparkConnect {name} not {state} within {seconds}s");
        })
    }

    /// The reasons of the Events recorded about the application, oldest first.
    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        self.event_reasons_of("SparkApplication", name).await
    }

    /// The reasons of the Events recorded about the object `kind`/`name`, oldest first.
    pub async fn event_reasons_of(&self, kind: &str, name: &str) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let mut list: Vec<Event> = events
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .filter(|e| e.involved_object.kind.as_deref() == Some(kind))
            .collect();
        list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        list.into_iter().filter_map(|e| e.reason).collect()
    }

    /// The reasons of the application's Events once all of `expected` are among them (or after
    /// ten seconds, for the caller's assertion to name what is missing). Events are recorded
    /// apart from the status writes, as Kubeflow's recorder does, so the last of them may reach
    /// the cluster just after the state it reports.
    pub async fn event_reasons_including(&self, name: &str, expected: &[&str]) -> Vec<String> {
        let complete = within(10, || async {
            let reasons = self.event_reasons(name).await;
            let complete = expected.iter().all(|e| reasons.iter().any(|r| r == e));
            complete.then_some(reasons)
        })
        .await;
        match complete {
            Some(reasons) => reasons,
            None => self.event_reasons(name).await,
        }
    }

    /// How many of the application's Events have `reason`, once at least one has.
    pub async fn events_with_reason(&self, name: &str, reason: &str) -> usize {
        let reasons = self.event_reasons_including(name, &[reason]).await;
        reasons.iter().filter(|r| *r == reason).count()
    }

    /// `Kind/name` of the pods, Services and ConfigMaps that deleting the application removes:
    /// those it owns, and those owned by its pods (spark-submit makes the driver the owner of the
    /// ConfigMaps and Service it creates; drivers own their executors).
    pub async fn owned_by(&self, app: &str) -> BTreeSet<String> {
        let Some(uid) = self.app(app).await.and_then(|a| a.metadata.uid) else {
            return BTreeSet::new();
        };
        self.owned_by_uid(&uid).await
    }

    /// `Kind/name` of the pods, Services and ConfigMaps the object with `uid` owns, and those its
    /// pods own.
    pub async fn owned_by_uid(&self, uid: &str) -> BTreeSet<String> {
        let uid = uid.to_string();
        let objects = self.objects().await;
        let mut owners = BTreeSet::from([uid.clone()]);
        for (kind, _, refs, object_uid) in &objects {
            if *kind == "Pod" && refs.iter().any(|o| o.uid == uid) {
                owners.extend(object_uid.clone());
            }
        }
        objects
            .into_iter()
            .filter(|(_, _, refs, _)| refs.iter().any(|o| owners.contains(&o.uid)))
            .map(|(kind, name, _, _)| format!("{kind}/{name}"))
            .collect()
    }

    /// `Kind/name` of every pod, Service and ConfigMap of the namespace.
    pub async fn object_names(&self) -> BTreeSet<String> {
        self.objects()
            .await
            .into_iter()
            .map(|(kind, name, _, _)| format!("{kind}/{name}"))
            .collect()
    }

    /// Kind, name, owners and uid of every pod, Service and ConfigMap of the namespace.
    async fn objects(&self) -> Vec<(&'static str, String, Vec<OwnerReference>, Option<String>)> {
        fn described<K: ResourceExt>(
            kind: &'static str,
            items: Vec<K>,
        ) -> impl Iterator<Item = (&'static str, String, Vec<OwnerReference>, Option<String>)>
        {
            items.into_iter().map(move |o| {
                let refs = o.owner_references().to_vec();
                (kind, o.name_any(), refs, o.uid())
            })
        }
        let all = ListParams::default();
        let pods = self.pods().list(&all).await.expect("list pods").items;
        let services = Api::<Service>::namespaced(self.client.clone(), "default")
            .list(&all)
            .await
            .expect("list services")
            .items;
        let config_maps = Api::<ConfigMap>::namespaced(self.client.clone(), "default")
            .list(&all)
            .await
            .expect("list config maps")
            .items;
        described("Pod", pods)
            .chain(described("Service", services))
            .chain(described("ConfigMap", config_maps))
            .collect()
    }

    /// Names of the pods of the application with the given Spark role.
    pub async fn pod_names(&self, app: &str, role: &str) -> Vec<String> {
        let selector = format!("sparkoperator.k8s.io/app-name={app},spark-role={role}");
        self.pods()
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list pods")
            .items
            .iter()
            .map(|p| p.name_any())
            .collect()
    }
}

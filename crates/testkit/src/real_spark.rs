//! A local cluster whose Spark pods run as real Spark processes, with the operator: the fixture of
//! the real-Spark tests of the operator and of sparkctl.
//!
//! Needs Spark (`SPARK_HOME`, or `pip install pyspark==4.0.1`) and Java 17. Without them the
//! tests say so and pass, unless `REQUIRE_SPARK` is set (CI sets it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::{Api, Client};
use localcluster::{LocalCluster, Options};
use spark_operator::config::ControllerConfig;
use spark_operator::submitter::spark_submit::find_spark_home;
use spark_operator_api::{ApplicationStateType, SparkApplication, SparkConnect};

use crate::kubectl::{Kubectl, path_arg};
use crate::wait::await_condition;

/// A cold JVM for the driver and one per executor on 2 shared cores.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

pub struct RealSpark {
    cluster: LocalCluster,
    client: Client,
    work_dir: PathBuf,
}

impl RealSpark {
    /// A cluster whose Spark pods run as Spark processes, with the CRDs and the operator; `None`
    /// (with a notice) without Spark, unless `REQUIRE_SPARK` is set.
    pub async fn start() -> Option<RealSpark> {
        let spark_home = match find_spark_home(None) {
            Ok(home) => home,
            Err(error) if std::env::var_os("REQUIRE_SPARK").is_some() => {
                panic!("REQUIRE_SPARK is set but Spark is missing: {error}")
            }
            Err(error) => {
                eprintln!("skipping real Spark: {error}");
                return None;
            }
        };
        let cluster = LocalCluster::start(Options::default())
            .await
            .expect("cluster starts");
        let client = cluster.client().expect("client");
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let work_dir = std::env::temp_dir().join(format!(
            "real-spark-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let processes = cluster
            .process_runtime(spark_home, work_dir.clone())
            .expect("process runtime");
        let nodes = localcluster::simulation::NodesConfig {
            processes: Some(processes),
            ..Default::default()
        };
        tokio::spawn(localcluster::simulation::run(client.clone(), nodes));
        spark_operator::install::install_crds(&client)
            .await
            .expect("CRDs installed");
        // The examples' drivers run as the service account the chart makes in its job namespace.
        spark_operator::install::install_spark_service_account(
            &client,
            "default",
            spark_operator::install::CHART_SPARK_SERVICE_ACCOUNT,
        )
        .await
        .expect("Spark service account installed");
        let config = ControllerConfig {
            master_url: Some(cluster.url()),
            ..ControllerConfig::default()
        };
        let operator_client = client.clone();
        tokio::spawn(async move {
            let never = std::future::pending::<()>();
            spark_operator::controller::run_all(operator_client, config, never)
                .await
                .expect("operator runs");
        });
        Some(RealSpark {
            cluster,
            client,
            work_dir,
        })
    }

    /// Applies every document of an example file.
    pub async fn apply(&self, example: &str) -> String {
        let path = crate::repository().join("examples").join(example);
        let path = path_arg(&path);
        let applied = self
            .kubectl()
            .ok(&["apply", "--server-side", "-f", path, "-o", "name"])
            .await;
        applied
            .lines()
            .find_map(|line| line.strip_prefix("sparkapplication.sparkoperator.k8s.io/"))
            .unwrap_or_else(|| panic!("no SparkApplication in {path}: {applied}"))
            .to_string()
    }

    /// Applies an example holding a SparkConnect, waits until it is Ready (failing if it fails)
    /// and returns it.
    pub async fn connect_ready(&self, example: &str) -> SparkConnect {
        let path = crate::repository().join("examples").join(example);
        let applied = self
            .kubectl()
            .ok(&[
                "apply",
                "--server-side",
                "-f",
                path_arg(&path),
                "-o",
                "name",
            ])
            .await;
        let name = applied
            .lines()
            .find_map(|line| line.strip_prefix("sparkconnect.sparkoperator.k8s.io/"))
            .unwrap_or_else(|| panic!("no SparkConnect in {example}: {applied}"))
            .to_string();
        let connects: Api<SparkConnect> = Api::default_namespaced(self.client.clone());
        let state = |connect: Option<&SparkConnect>| {
            connect
                .and_then(|c| c.status.as_ref())
                .and_then(|s| s.state.clone())
        };
        let connect = await_condition(
            connects,
            &name,
            RUN_TIMEOUT,
            move |c: Option<&SparkConnect>| matches!(state(c).as_deref(), Some("Ready" | "Failed")),
        )
        .await
        .unwrap_or_else(|| panic!("{name} was deleted before it was ready"));
        let status = connect.status.clone().unwrap_or_default();
        if status.state.as_deref() != Some("Ready") {
            let pod = status.server.and_then(|s| s.pod_name).unwrap_or_default();
            let log = self.log(&pod).await;
            panic!("{name} failed: {:?}\nserver log:\n{log}", status.conditions);
        }
        connect
    }

    /// The client of the cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Applies an example, waits for its application to end COMPLETED (failing otherwise) and
    /// returns its name, the application and its driver's log.
    pub async fn run_completed(&self, example: &str) -> (String, SparkApplication, String) {
        let name = self.apply(example).await;
        let (app, log) = self.run_to_end(&name).await;
        assert_completed(&app, &log);
        (name, app, log)
    }

    /// Waits for the application to end and returns it with its driver's log.
    pub async fn run_to_end(&self, name: &str) -> (SparkApplication, String) {
        let apps: Api<SparkApplication> = Api::default_namespaced(self.client.clone());
        let ended = |app: Option<&SparkApplication>| {
            let state = app.and_then(|a| a.status.as_ref());
            matches!(
                state.map(|s| s.application_state.state),
                Some(ApplicationStateType::Completed | ApplicationStateType::Failed)
            )
        };
        let app = await_condition(apps, name, RUN_TIMEOUT, ended)
            .await
            .unwrap_or_else(|| panic!("{name} was deleted before it ended"));
        let driver = app
            .status
            .as_ref()
            .and_then(|s| s.driver_info.pod_name.clone())
            .expect("driver pod name in the status");
        let log = self.log(&driver).await;
        (app, log)
    }

    /// A kubeconfig for the cluster, for command-line clients.
    pub fn kubeconfig(&self) -> PathBuf {
        let kubeconfig = self.work_dir.join("kubeconfig");
        self.cluster
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        kubeconfig
    }

    /// The real kubectl, against the cluster.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(self.kubeconfig())
    }

    pub async fn log(&self, pod: &str) -> String {
        let pods: Api<Pod> = Api::default_namespaced(self.client.clone());
        pods.logs(pod, &LogParams::default())
            .await
            .expect("driver log")
    }
}

impl Drop for RealSpark {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

/// The executors Spark registered, from the driver's log.
pub fn registered_executors(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Registered executor NettyRpcEndpointRef"))
        .count()
}

/// The value the Spark Pi example printed.
pub fn pi_from(log: &str) -> f64 {
    log.lines()
        .find_map(|line| line.split("Pi is roughly ").nth(1))
        .unwrap_or_else(|| panic!("no 'Pi is roughly' in the driver's log:\n{log}"))
        .trim()
        .parse()
        .expect("a number after 'Pi is roughly'")
}

/// Fails with the error message and the driver's log unless the application COMPLETED.
pub fn assert_completed(app: &SparkApplication, log: &str) {
    let status = app.status.as_ref().expect("status");
    assert_eq!(
        status.application_state.state,
        ApplicationStateType::Completed,
        "{:?}\ndriver log:\n{log}",
        status.application_state.error_message
    );
}

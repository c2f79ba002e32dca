//! Real Spark on the local cluster: the operator submits natively, the local cluster runs the
//! driver as a Spark process (`spark-submit` in client mode, as the Spark image does), the driver
//! creates its executor pods through the API server and the runtime runs those as processes
//! too. The answers come from Spark's own output.
//!
//! Needs Spark (`SPARK_HOME`, or `pip install pyspark==4.0.1`) and Java 17. Without them the
//! tests say so and pass, unless `REQUIRE_SPARK` is set (CI sets it).

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::runtime::watcher;
use kube::{Api, Client};
use localcluster::{LocalCluster, Options};
use spark_operator::config::ControllerConfig;
use spark_operator::submission::spark_submit::find_spark_home;
use spark_operator_api::{ApplicationStateType, SparkApplication};

/// A cold JVM for the driver and one per executor on 2 shared cores.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

struct RealSpark {
    cluster: LocalCluster,
    client: Client,
    work_dir: tempfile::TempDir,
}

impl RealSpark {
    async fn start() -> Option<RealSpark> {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .try_init();
        }
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
        let work_dir = tempfile::tempdir().expect("work dir");
        let processes = cluster
            .process_runtime(spark_home, work_dir.path().to_path_buf())
            .expect("process runtime");
        let nodes = localcluster::nodes::NodesConfig {
            processes: Some(processes),
            ..Default::default()
        };
        tokio::spawn(localcluster::nodes::run(client.clone(), nodes));
        spark_operator::install::install_crds(&client)
            .await
            .expect("CRDs installed");
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
    async fn apply(&self, example: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(example);
        let apps = spark_operator::cli::local::apply_file(&self.client, &path)
            .await
            .expect("example applied");
        apps.into_iter().next().expect("a SparkApplication").1
    }

    /// Waits for the application to end and returns it with its driver's log.
    async fn run_to_end(&self, name: &str) -> (SparkApplication, String) {
        let apps: Api<SparkApplication> = Api::default_namespaced(self.client.clone());
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let ended = async {
            let mut events = watcher::watcher(apps.clone(), config).boxed();
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(app)) = event {
                    let state = app.status.as_ref().map(|s| s.application_state.state);
                    if matches!(
                        state,
                        Some(ApplicationStateType::Completed | ApplicationStateType::Failed)
                    ) {
                        return app;
                    }
                }
            }
            panic!("the watch ended");
        };
        let app = tokio::time::timeout(RUN_TIMEOUT, ended)
            .await
            .unwrap_or_else(|_| panic!("{name} did not end within {RUN_TIMEOUT:?}"));
        let driver = app
            .status
            .as_ref()
            .and_then(|s| s.driver_info.pod_name.clone())
            .expect("driver pod name in the status");
        let log = self.log(&driver).await;
        (app, log)
    }

    /// Runs the real kubectl against the cluster; its standard output.
    fn kubectl(&self, args: &[&str]) -> String {
        let kubeconfig = self.work_dir.path().join("kubeconfig");
        self.cluster
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let output = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    async fn log(&self, pod: &str) -> String {
        let pods: Api<Pod> = Api::default_namespaced(self.client.clone());
        pods.logs(pod, &LogParams::default())
            .await
            .expect("driver log")
    }
}

fn assert_completed(app: &SparkApplication, log: &str) {
    let status = app.status.as_ref().expect("status");
    assert_eq!(
        status.application_state.state,
        ApplicationStateType::Completed,
        "{:?}\ndriver log:\n{log}",
        status.application_state.error_message
    );
}

/// The executors Spark registered, from the driver's log.
fn registered_executors(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Registered executor NettyRpcEndpointRef"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_pi_computes_pi_with_an_executor_that_spark_created() {
    let Some(spark) = RealSpark::start().await else {
        return;
    };
    let name = spark.apply("spark-pi-python.yaml").await;
    let (app, log) = spark.run_to_end(&name).await;
    if std::env::var_os("SHOW_DRIVER_LOG").is_some() {
        eprintln!("{log}");
    }
    assert_completed(&app, &log);

    let pi: f64 = log
        .lines()
        .find_map(|line| line.split("Pi is roughly ").nth(1))
        .unwrap_or_else(|| panic!("no 'Pi is roughly' in the driver's log:\n{log}"))
        .trim()
        .parse()
        .expect("a number after 'Pi is roughly'");
    assert!(
        (pi - std::f64::consts::PI).abs() < 0.05,
        "Pi is roughly {pi}"
    );
    let driver = app
        .status
        .as_ref()
        .and_then(|s| s.driver_info.pod_name.clone())
        .unwrap_or_default();
    let kubectl_log = spark.kubectl(&["logs", &driver]);
    assert!(
        kubectl_log.contains(&format!("Pi is roughly {pi:.6}")),
        "kubectl logs {driver}:\n{kubectl_log}"
    );

    let status = app.status.as_ref().expect("status");
    let executors = &status.executor_state;
    assert_eq!(executors.len(), 1, "executor states: {executors:?}");
    assert_eq!(registered_executors(&log), 1, "driver log:\n{log}");
    assert!(
        executors
            .keys()
            .all(|pod| pod.starts_with(&format!("{name}-"))),
        "executor pods named by Spark after the application: {executors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_reads_a_mounted_file_and_counts_its_words() {
    let Some(spark) = RealSpark::start().await else {
        return;
    };
    let name = spark.apply("spark-wordcount-python.yaml").await;
    let (app, log) = spark.run_to_end(&name).await;
    assert_completed(&app, &log);
    let count = |word: &str| {
        log.lines()
            .find_map(|line| line.strip_prefix(&format!("{word}: ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert_eq!(count("spark"), Some(3), "driver log:\n{log}");
    assert_eq!(count("runs"), Some(2));
    assert_eq!(count("kubernetes"), Some(1));
    assert_eq!(count("words"), Some(1));
    assert!(registered_executors(&log) >= 1, "driver log:\n{log}");
}

//! `spark-local [FILE]`: the quick start. Starts the local cluster and the operator in this
//! process, applies the file, follows the application until it ends, and exits 0 when it
//! COMPLETED. With Spark installed (`SPARK_HOME`, or the `pyspark` package) and Java, Spark pods
//! run as real Spark processes; otherwise they are simulated. It says which.
//!
//! A binary of its own, apart from `spark-operator`, because it embeds the local cluster (an API
//! server that allows everything, and a runner of JVMs): the operator's image must not carry it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde::Deserialize;
use spark_operator_api::{ApplicationStateType, SparkApplication, SparkConnect};

use localcluster::simulation::process::paths::IMAGE_SPARK_HOME;
use spark_operator::config::ControllerConfig;
use spark_operator::install::{
    CHART_SPARK_SERVICE_ACCOUNT, FIELD_MANAGER, install_spark_service_account,
};
use spark_operator::submission::gang::BatchScheduling;

/// The batch schedulers the embedded cluster runs, so that Kubeflow's examples that name one
/// (`spark-pi-volcano.yaml`, `spark-pi-yunikorn.yaml`, `spark-pi-kube-scheduler.yaml`) run here
/// gang-scheduled as with the operator's `--enable-batch-scheduler`.
const KUBE_SCHEDULER: &str = "kube-scheduler";
const BATCH_SCHEDULERS: [&str; 3] = ["volcano", "yunikorn", "coscheduling=kube-scheduler"];

/// Runs one Spark application on a local cluster embedded in this process, with the operator
/// beside it, and exits 0 when the application COMPLETED (1 when it FAILED).

#[derive(Debug, Parser)]
#[command(name = "spark-local", version)]
pub struct RunLocalArgs {
    /// YAML file with the SparkApplication to run (other documents in it are applied too).
    #[arg(default_value = "examples/spark-pi-python.yaml")]
    pub file: PathBuf,
    /// Where to write the local cluster's kubeconfig, for kubectl.
    #[arg(long, default_value = "localcluster.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Keep the cluster and the operator running after the application ends (Ctrl-C stops them).
    #[arg(long)]
    pub keep_running: bool,
    /// Simulate Spark pods even when Spark is installed.
    #[arg(long)]
    pub simulated: bool,
    /// The Spark installation that runs Spark pods (default: `$SPARK_HOME`, else the installed
    /// `pyspark` package).
    #[arg(long)]
    pub spark_home: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_seconds: u64,
}

fn main() -> std::process::ExitCode {
    let args = RunLocalArgs::parse();
    spark_operator::runtime::install_crypto_provider();
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: RunLocalArgs) -> anyhow::Result<()> {
    spark_operator::telemetry::init("warn", spark_operator::telemetry::LogFormat::Text);
    let cluster = localcluster::LocalCluster::start(localcluster::Options::default())
        .await
        .context("starting the local cluster")?;
    cluster.write_kubeconfig(&args.kubeconfig)?;
    println!("local cluster listening on {}", cluster.url());
    println!(
        "kubectl:  export KUBECONFIG={}",
        absolute(&args.kubeconfig).display()
    );
    let client = cluster.client()?;
    let work_dir = tempfile::tempdir().context("creating the pods' directory")?;
    let processes = spark_processes(&cluster, &args, work_dir.path())?;
    tokio::spawn(localcluster::simulation::run(
        client.clone(),
        localcluster::simulation::NodesConfig {
            processes,
            batch_schedulers: BATCH_SCHEDULERS
                .iter()
                .map(|s| s.parse().expect("a known batch scheduler"))
                .collect(),
            ..Default::default()
        },
    ));
    // The operator's requests carry its user agent, as `controller start`'s do.
    let operator_client = kube::Client::try_from(spark_operator::runtime::identified(
        cluster.client_config()?,
    ))?;
    spark_operator::install::install_crds(&operator_client).await?;
    let config = ControllerConfig {
        master_url: Some(cluster.url()),
        batch_scheduling: BatchScheduling {
            enabled: true,
            default_scheduler: None,
            kube_scheduler_names: vec![KUBE_SCHEDULER.into()],
        },
        ..ControllerConfig::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    };
    let operator = tokio::spawn(spark_operator::controller::run_all(
        operator_client,
        config,
        shutdown,
    ));

    let applied = apply_file(&client, &args.file).await?;
    let Some((namespace, name)) = applied.applications.into_iter().next() else {
        let Some((namespace, name)) = applied.connects.into_iter().next() else {
            bail!(
                "{} has no SparkApplication or SparkConnect",
                args.file.display()
            );
        };
        let served = serve_connect(&client, &namespace, &name, args.timeout_seconds).await;
        let _ = stop.send(true);
        let _ = operator.await;
        return served;
    };
    println!("applied SparkApplication {namespace}/{name}; following its state:");
    let outcome = tokio::time::timeout(
        Duration::from_secs(args.timeout_seconds),
        follow(&client, &namespace, &name),
    )
    .await
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the application did not end within {}s",
            args.timeout_seconds
        ))
    });
    print_driver_output(&client, &namespace, &name).await;
    if args.keep_running {
        println!("still serving; press Ctrl-C to stop");
        spark_operator::runtime::shutdown_signal().await;
    }
    let _ = stop.send(true);
    let _ = operator.await;
    outcome
}

/// The process runtime for Spark pods when Spark and Java are found, saying which runtime runs
/// them and, when simulated, how to get real Spark.
fn spark_processes(
    cluster: &localcluster::LocalCluster,
    args: &RunLocalArgs,
    work_dir: &Path,
) -> anyhow::Result<Option<localcluster::simulation::process::ProcessRuntime>> {
    if args.simulated {
        println!("Spark pods: simulated (--simulated)");
        return Ok(None);
    }
    let spark_home = match spark_operator::submitter::spark_submit::find_spark_home(
        args.spark_home.as_deref(),
    ) {
        Ok(home) => home,
        Err(error) if args.spark_home.is_some() => return Err(error.into()),
        Err(error) => {
            println!(
                "Spark pods: simulated ({error}; `pip install pyspark==4.0.1` and Java 17 run real Spark)"
            );
            return Ok(None);
        }
    };
    let missing = missing_image_files(&args.file, &spark_home);
    if !missing.is_empty() {
        println!(
            "Spark pods: simulated ({} not in the Spark installation at {}; the pyspark package \
             has no example jars: try examples/spark-pi-python.yaml)",
            missing.join(", "),
            spark_home.display()
        );
        return Ok(None);
    }
    let runtime = cluster
        .process_runtime(spark_home.clone(), work_dir.to_path_buf())
        .map_err(anyhow::Error::msg)?;
    let Some(java) = runtime.installation().map(|spark| spark.java()) else {
        return Ok(None);
    };
    if let Err(error) = std::process::Command::new(&java).arg("-version").output() {
        println!(
            "Spark pods: simulated ({} cannot run: {error}; install Java 17 to run real Spark)",
            java.display()
        );
        return Ok(None);
    }
    println!(
        "Spark pods: real Spark processes from {}",
        spark_home.display()
    );
    Ok(Some(runtime))
}

/// The `local:///opt/spark/...` application files of the file's SparkApplications that the
/// Spark installation, standing for the image's `/opt/spark`, does not have.
fn missing_image_files(file: &Path, spark_home: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return vec![];
    };
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|document| serde_yaml::Value::deserialize(document).ok())
        .filter(|object| object["kind"].as_str() == Some("SparkApplication"))
        .filter_map(|app| {
            app["spec"]["mainApplicationFile"]
                .as_str()
                .map(str::to_string)
        })
        .filter(|main| {
            let image_home = format!("local://{IMAGE_SPARK_HOME}/");
            main.strip_prefix(&image_home)
                .is_some_and(|inside| !spark_home.join(inside).exists())
        })
        .collect()
}

/// Prints each state the application passes through; Ok when COMPLETED.
async fn follow(client: &Client, namespace: &str, name: &str) -> anyhow::Result<()> {
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(apps, config).applied_objects().boxed();
    let mut last = None;
    while let Some(app) = events.next().await {
        let Ok(app) = app else { continue };
        let status = app.status.clone().unwrap_or_default();
        let state = status.application_state.state;
        if last != Some(state) {
            last = Some(state);
            let shown = if state == ApplicationStateType::New {
                "NEW"
            } else {
                state.as_str()
            };
            println!(
                "  {:<18} attempts={}",
                shown,
                status.execution_attempts.unwrap_or(0)
            );
        }
        match state {
            ApplicationStateType::Completed => {
                println!("{name} COMPLETED");
                return Ok(());
            }
            ApplicationStateType::Failed => {
                bail!(
                    "{name} FAILED: {}",
                    status.application_state.error_message.unwrap_or_default()
                )
            }
            _ => {}
        }
    }
    bail!("lost the watch on {name}")
}

/// Prints what the application itself printed in its driver's log (Spark's own log lines and the
/// JVM's notices left out), and how to see the whole log.
async fn print_driver_output(client: &Client, namespace: &str, name: &str) {
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), namespace);
    let driver = apps
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|app| app.status?.driver_info.pod_name);
    let Some(driver) = driver else { return };
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(log) = pods.logs(&driver, &Default::default()).await else {
        return;
    };
    let output: Vec<&str> = log
        .lines()
        .filter(|line| is_application_output(line))
        .collect();
    println!(
        "driver output ({namespace}/{driver}; the whole log: kubectl logs -n {namespace} {driver}):"
    );
    for line in output.iter().rev().take(20).rev() {
        println!("  {line}");
    }
}

/// Whether a driver log line is the application's own, not a Spark log line
/// (`yy/MM/dd HH:mm:ss LEVEL ...`) or a JVM notice.
fn is_application_output(line: &str) -> bool {
    let bytes = line.as_bytes();
    let spark_log = bytes.len() > 17
        && bytes[2] == b'/'
        && bytes[5] == b'/'
        && bytes[8] == b' '
        && bytes[..2].iter().all(u8::is_ascii_digit);
    let notice = [
        "Picked up JAVA_TOOL_OPTIONS",
        "WARNING: Using incubator modules",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix));
    !(spark_log || notice || line.trim().is_empty())
}

/// Applies every document of the file by server-side apply; returns the SparkApplications.
/// Before the first SparkApplication of a namespace, makes there what the Helm chart makes in its
/// job namespaces (the `spark-operator-spark` service account, its Role and RoleBinding): the API
/// server refuses a driver whose service account does not exist.
/// The SparkApplications and SparkConnects a file made, as (namespace, name).
#[derive(Default)]
struct Applied {
    applications: Vec<(String, String)>,
    connects: Vec<(String, String)>,
}

/// A local Spark Connect endpoint: waits until the server is Ready, prints the `sc://` URL the
/// client connects to (the server pod's address: pods run as local processes on loopback
/// addresses), then serves until interrupted.
async fn serve_connect(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout_seconds: u64,
) -> anyhow::Result<()> {
    println!("applied SparkConnect {namespace}/{name}; waiting for its server to be Ready");
    let connects: Api<SparkConnect> = Api::namespaced(client.clone(), namespace);
    let ready = tokio::time::timeout(Duration::from_secs(timeout_seconds), async {
        let mut last = None;
        loop {
            let status = connects.get(name).await?.status.unwrap_or_default();
            if status.state != last {
                println!("  {}", status.state.as_deref().unwrap_or("(no state yet)"));
                last = status.state.clone();
            }
            match status.state.as_deref() {
                Some("Ready") => return anyhow::Ok(status),
                Some("Failed") => bail!(
                    "the Spark Connect server failed: {}",
                    status
                        .conditions
                        .iter()
                        .map(|c| c.message.as_str())
                        .filter(|m| !m.is_empty())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the server was not Ready within {timeout_seconds}s"))??;
    let address = ready
        .server
        .and_then(|server| server.pod_ip)
        .context("the Ready server has no pod IP")?;
    println!("Spark Connect is serving: sc://{address}:15002");
    println!("  from Python: SparkSession.builder.remote(\"sc://{address}:15002\").getOrCreate()");
    println!("still serving; press Ctrl-C to stop");
    spark_operator::runtime::shutdown_signal().await;
    Ok(())
}

async fn apply_file(client: &Client, file: &Path) -> anyhow::Result<Applied> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut applied = Applied::default();
    let mut job_namespaces = std::collections::BTreeSet::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let object = DynamicObject::deserialize(document)
            .with_context(|| format!("{} is not a Kubernetes object", file.display()))?;
        let Some(types) = &object.types else { continue };
        let gvk = kube::core::GroupVersionKind::try_from(types)?;
        let (resource, capabilities) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("the cluster does not serve {}", types.kind))?;
        let namespace = object.namespace().unwrap_or_else(|| "default".into());
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), &namespace, &resource),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let name = object.name_any();
        let runs_spark = matches!(types.kind.as_str(), "SparkApplication" | "SparkConnect");
        if runs_spark && job_namespaces.insert(namespace.clone()) {
            install_spark_service_account(client, &namespace, CHART_SPARK_SERVICE_ACCOUNT)
                .await
                .with_context(|| format!("making the Spark service account of {namespace}"))?;
            println!(
                "made ServiceAccount {namespace}/{CHART_SPARK_SERVICE_ACCOUNT} with its Role and \
                 RoleBinding, as the Helm chart does in its job namespaces"
            );
        }
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .with_context(|| format!("applying {} {name}", types.kind))?;
        match types.kind.as_str() {
            "SparkApplication" => applied.applications.push((namespace, name)),
            "SparkConnect" => applied.connects.push((namespace, name)),
            _ => {}
        }
    }
    Ok(applied)
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

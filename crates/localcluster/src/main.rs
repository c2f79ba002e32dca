//! `localcluster`: serves an in-memory Kubernetes API until stopped.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use localcluster::auth::Authorization;
use localcluster::{LocalCluster, Options, simulation};
use tracing_subscriber::EnvFilter;

/// The cluster keeps and copies objects as JSON trees on several threads, so allocation is most
/// of its CPU; mimalloc's per-thread heaps cost less than glibc's shared arenas (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "An in-memory Kubernetes API server with simulated nodes"
)]
struct Args {
    /// Write a kubeconfig for the cluster here once it is ready.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Address to listen on (loopback only: without RBAC, anyone who connects is admin).
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port of the main listener (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Serve HTTPS on the main port (the default).
    #[arg(long, overrides_with = "no_tls")]
    tls: bool,
    /// Serve plain HTTP on the main port.
    #[arg(long = "no-tls")]
    no_tls: bool,
    /// Also serve plain HTTP on this port when the main port speaks HTTPS.
    #[arg(long)]
    http_port: Option<u16>,
    /// Keep objects here across restarts (memory only otherwise).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of simulated nodes (0 for none).
    #[arg(long, default_value_t = simulation::NodesConfig::default().count)]
    nodes: usize,
    /// CPU cores of each simulated node.
    #[arg(long, default_value_t = simulation::NodesConfig::default().cpu)]
    node_cpu: u64,
    /// Memory of each simulated node, in GiB.
    #[arg(long, default_value_t = simulation::NodesConfig::default().memory_gib)]
    node_memory_gib: u64,
    /// Pods each simulated node can hold (its `pods` capacity, which the scheduler counts).
    #[arg(long, default_value_t = simulation::NodesConfig::default().pods)]
    node_pods: u64,
    /// `rbac`: service-account tokens and RBAC objects decide what requests may do (the
    /// kubeconfig's token stays admin); `always-allow`: every request is allowed.
    #[arg(long, value_enum, default_value = "always-allow")]
    authorization: Authorization,
    /// Run Spark containers (the Spark image's `driver` and `executor`) as real processes of this
    /// Spark installation, such as the `pyspark` package's directory. Needs Java.
    #[arg(long, env = "LOCALCLUSTER_SPARK_HOME")]
    spark_home: Option<PathBuf>,
    /// Run the containers of an image as a local program (repeatable): `REPO=PATH`, REPO being
    /// the image's repository without tag or digest (a glob, `*` and `?`; `busybox` is
    /// `docker.io/library/busybox`) and PATH the program standing for the image's entrypoint.
    /// The container's `command` replaces it and its `args` are the program's arguments; the
    /// process gets the pod's environment, volumes and service account token (through
    /// `KUBECONFIG`).
    #[arg(long = "image-program", value_name = "REPO=PATH")]
    image_programs: Vec<simulation::process::ImageProgram>,
    /// Where the directories of pods run as processes are made (default: a directory of this
    /// run under the system's temporary directory, removed on exit).
    #[arg(long)]
    pod_dir: Option<PathBuf>,
    /// Images the simulated nodes cannot pull, as globs (`*:does-not-exist`, `registry.example/*`);
    /// pods using them wait in ErrImagePull and ImagePullBackOff. Repeat it or separate patterns
    /// with commas.
    #[arg(long, value_delimiter = ',')]
    unpullable_images: Vec<String>,
    /// Install a batch scheduler beside the default one (repeatable): `volcano`, `yunikorn` or
    /// `coscheduling=SCHEDULER_NAME`. Volcano and coscheduling bring their PodGroup CRD and
    /// place a group's pods only when the whole group fits. Pods naming a scheduler that is not
    /// installed stay Pending, as in Kubernetes.
    #[arg(long = "batch-scheduler")]
    batch_schedulers: Vec<simulation::gang::BatchScheduler>,
    /// Inject a failure into a fraction of the answers, for testing clients (repeatable):
    /// `status=CODE`, `reset`, `lose-answer`, `latency=DURATION` or `cut-watch=DURATION`, then
    /// optionally `,fraction=F`, `,verbs=create|patch`, `,resources=pods|services`,
    /// `,agents=spark-operator` (User-Agent prefixes). For example
    /// `--fault status=500,fraction=0.05 --fault reset,fraction=0.02 --fault cut-watch=30s`.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<localcluster::faults::FaultRule>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Spark drivers reach the API over plain HTTP: they have no token or CA mounted.
    let http_port = match (&args.spark_home, args.http_port) {
        (Some(_), None) if !args.no_tls => Some(0),
        (_, port) => port,
    };
    let options = Options {
        address: args.address,
        port: args.port,
        tls: !args.no_tls,
        http_port,
        data_dir: args.data_dir,
        authorization: args.authorization,
        faults: localcluster::faults::Faults { rules: args.faults },
        ..Options::default()
    };
    let cluster = LocalCluster::start(options)
        .await
        .context("starting the local cluster")?;
    let runs_processes = args.spark_home.is_some() || !args.image_programs.is_empty();
    let temporary_pod_dir = (runs_processes && args.pod_dir.is_none())
        .then(|| std::env::temp_dir().join(format!("localcluster-pods-{}", std::process::id())));
    let pod_dir = args.pod_dir.clone().or(temporary_pod_dir.clone());
    let processes = match (&args.spark_home, pod_dir) {
        (Some(spark_home), Some(pod_dir)) => {
            if !spark_home.join("bin").join("spark-submit").is_file() {
                anyhow::bail!(
                    "--spark-home {}: no bin/spark-submit there; give a Spark installation \
                     (for pyspark: python3 -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')",
                    spark_home.display()
                );
            }
            let runtime = cluster
                .process_runtime(spark_home.clone(), pod_dir)
                .map_err(anyhow::Error::msg)?
                .with_image_programs(args.image_programs.clone(), cluster.api_access());
            println!(
                "Spark containers run as processes of {}",
                spark_home.display()
            );
            Some(runtime)
        }
        (None, Some(pod_dir)) if runs_processes => {
            Some(cluster.image_program_runtime(args.image_programs.clone(), pod_dir))
        }
        _ => None,
    };
    for mapped in &args.image_programs {
        println!(
            "images {} run as {}",
            mapped.repository,
            mapped.program.display()
        );
    }
    if args.nodes > 0 {
        let client = cluster.client()?;
        let config = simulation::NodesConfig {
            count: args.nodes,
            cpu: args.node_cpu,
            memory_gib: args.node_memory_gib,
            pods: args.node_pods,
            processes,
            unpullable_images: args.unpullable_images.clone(),
            batch_schedulers: args.batch_schedulers.clone(),
        };
        tokio::spawn(async move {
            if let Err(error) = simulation::run(client, config).await {
                tracing::error!(%error, "simulated nodes stopped");
            }
        });
    }
    if let Some(path) = &args.kubeconfig {
        cluster
            .write_kubeconfig(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("localcluster serving on {}", cluster.url());
    if let Some(http) = cluster.http_url().filter(|h| *h != cluster.url()) {
        println!("plain HTTP on {http}");
    }
    if let Some(path) = &args.kubeconfig {
        println!("export KUBECONFIG={}", path.display());
    }
    shutdown_signal().await;
    cluster.shutdown().await;
    if let Some(dir) = temporary_pod_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

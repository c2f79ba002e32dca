use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use spark_operator::cli;
use spark_operator::runtime::wakeups;

/// The Spark operator: runs SparkApplications on Kubernetes.
#[derive(Parser)]
#[command(name = "spark-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions, or write them to a directory.
    Crd {
        /// Write one file per CRD here (the repository keeps them in deploy/crds).
        #[arg(long, conflicts_with = "apply")]
        output_dir: Option<PathBuf>,
        /// Apply them to the cluster instead (server-side) and wait until they are established.
        #[arg(long)]
        apply: bool,
    },
    /// Run the controllers.
    Controller {
        #[command(subcommand)]
        command: ControllerCommand,
    },
    /// Run the admission webhooks.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Check SparkApplication, ScheduledSparkApplication and SparkConnect YAML files without a
    /// cluster.
    Validate {
        /// YAML files, each with one or more documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ControllerCommand {
    /// Run the SparkApplication, ScheduledSparkApplication and SparkConnect controllers against
    /// the cluster that the standard kubeconfig resolution finds (KUBECONFIG, ~/.kube/config,
    /// in-cluster).
    Start(Box<cli::controller::StartArgs>),
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Serve the validating and mutating admission webhooks over HTTPS, with a certificate kept in
    /// a Secret and the webhook configurations written and renewed by the operator.
    Start(Box<cli::webhook::StartArgs>),
}

fn main() -> std::process::ExitCode {
    spark_operator::runtime::install_crypto_provider();
    let result = match Cli::parse().command {
        Command::Crd { apply: true, .. } => serve(None, Duration::ZERO, cli::crd::apply()),
        Command::Crd { output_dir, .. } => cli::crd::run(output_dir.as_deref()),
        Command::Validate { files } => cli::validate::run(&files),
        Command::Controller {
            command: ControllerCommand::Start(args),
        } => args
            .runtime
            .min_wakeup_interval()
            .map_err(anyhow::Error::msg)
            .and_then(|interval| {
                let threads = args.runtime.worker_threads.into();
                serve(Some(threads), interval, cli::controller::start(*args))
            }),
        Command::Webhook {
            command: WebhookCommand::Start(args),
        } => serve(None, Duration::ZERO, cli::webhook::start(*args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a long-lived service. With one thread, the runtime is a current-thread one and the
/// service runs on the main thread itself: no worker to park, wake and hand tasks to, which
/// saves a few per cent of CPU per application against one worker, more when the operator waits
/// on a busy API server (bench/README.md). With more, the service is a task of the
/// workers rather than of the main thread, so that the requests it makes and the answers it
/// awaits wake tasks on the same workers instead of the main thread across threads. Busy
/// threads wake at most once per `min_wakeup_interval` (`runtime::wakeups`).
fn serve(
    worker_threads: Option<usize>,
    min_wakeup_interval: Duration,
    future: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) -> anyhow::Result<()> {
    if worker_threads == Some(1) {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        let runtime = wakeups::batched(&mut builder, min_wakeup_interval)
            .enable_all()
            .build()?;
        return runtime.block_on(future);
    }
    runtime(worker_threads, min_wakeup_interval)?.block_on(async { tokio::spawn(future).await? })
}

/// A runtime with `worker_threads` workers, or one per core.
fn runtime(
    worker_threads: Option<usize>,
    min_wakeup_interval: Duration,
) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    wakeups::batched(&mut builder, min_wakeup_interval)
        .enable_all()
        .build()
}

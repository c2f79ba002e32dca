//! The command line, with kubectl's conventions for choosing the cluster and namespace.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run and manage Spark applications on Kubernetes (SparkApplication, ScheduledSparkApplication,
/// and SparkConnect with `sparkctl connect`).
#[derive(Debug, Parser)]
#[command(name = "sparkctl", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

/// Which cluster and namespace, as kubectl chooses them.
#[derive(Debug, Args)]
pub struct Target {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

/// The arguments of `list`, for applications and SparkConnects alike.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// The arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    pub name: String,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// The arguments of `event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    pub name: String,
    /// Keep printing new events until interrupted.
    #[arg(short, long)]
    pub follow: bool,
}

/// The arguments of `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create SparkApplications from a YAML file, or a one-off run of a ScheduledSparkApplication.
    Create(CreateArgs),
    /// List SparkApplications: state, attempts, start, finish and age.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Show an application: state and error, attempts, driver pod and UI, every executor.
    Status(StatusArgs),
    /// Show the Kubernetes events of an application.
    Event(EventArgs),
    /// Print the logs of the driver, or of one executor.
    Log {
        name: String,
        /// The Spark executor id (`spark-exec-id`) whose logs to print, instead of the driver's.
        #[arg(short, long)]
        executor: Option<String>,
        /// Keep streaming until the container ends.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<i64>,
    },
    /// Delete applications (and, through their owner references, everything they made).
    Delete(DeleteArgs),
    /// Suspend an application: its pods are stopped until it is resumed.
    Suspend { name: String },
    /// Resume a suspended application: it is submitted again.
    Resume { name: String },
    /// Forward a local port to the driver's Spark UI through the API server, until interrupted.
    Forward {
        name: String,
        /// The local port (0 picks a free one).
        #[arg(short = 'p', long, default_value_t = 4040)]
        local_port: u16,
        /// The driver's port to reach (default: the UI port in the status, else 4040).
        #[arg(long)]
        remote_port: Option<u16>,
    },
    /// SparkConnects: Spark Connect servers and their executors.
    #[command(subcommand, alias = "sparkconnect")]
    Connect(ConnectCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// List SparkConnects: state, server pod, running/all executors and age.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Show a SparkConnect: state and why, server pod, address, every executor.
    Status(StatusArgs),
    /// Show the Kubernetes events of a SparkConnect.
    Event(EventArgs),
    /// Print the logs of the Spark Connect server, or of one executor.
    Log {
        name: String,
        /// The Spark executor id (`spark-exec-id`) whose logs to print, instead of the server's.
        #[arg(short, long)]
        executor: Option<String>,
        /// Keep streaming until the container ends.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<i64>,
    },
    /// Delete SparkConnects (and, through their owner references, their server and executors).
    Delete(DeleteArgs),
    /// Forward a local port to the server's Spark Connect port (15002) through the API server,
    /// until interrupted: clients then use sc://localhost:PORT.
    Forward {
        name: String,
        /// The local port (0 picks a free one).
        #[arg(short = 'p', long, default_value_t = 15002)]
        local_port: u16,
        /// The server's port to reach (default: 15002, Spark Connect's; 4040 is its UI).
        #[arg(long)]
        remote_port: Option<u16>,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// YAML file with one or more SparkApplication (or ScheduledSparkApplication) documents.
    #[arg(short, long, required_unless_present_any = ["from", "file"], conflicts_with_all = ["from", "file"])]
    pub filename: Option<PathBuf>,
    /// The same file, given as Kubeflow's sparkctl takes it (`sparkctl create app.yaml`).
    #[arg(value_name = "FILE", conflicts_with = "from")]
    pub file: Option<PathBuf>,
    /// Start a one-off run of this ScheduledSparkApplication now.
    #[arg(long, value_name = "SCHEDULED_NAME")]
    pub from: Option<String>,
    /// Upload local files (mainApplicationFile, jars, files, pyFiles given as `file://` URIs or
    /// bare paths) here, e.g. `s3://bucket/prefix`, and point the application at the copies.
    #[arg(long, value_name = "URI")]
    pub upload_to: Option<String>,
    /// Endpoint of an S3-compatible store (default: $AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL", requires = "upload_to")]
    pub upload_endpoint: Option<String>,
    /// Show the state until the applications end; exit non-zero if one FAILED.
    #[arg(short, long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600, requires = "wait")]
    pub timeout_seconds: u64,
}

impl CreateArgs {
    /// The YAML file, however it was given (`-f FILE` or `FILE`).
    pub fn yaml_file(&self) -> Option<&PathBuf> {
        self.filename.as_ref().or(self.file.as_ref())
    }
}

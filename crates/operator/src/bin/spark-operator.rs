use std::path::PathBuf;

use clap::{Parser, Subcommand};
use spark_operator::cli;

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
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// Check SparkApplication and ScheduledSparkApplication YAML files without a cluster.
    Validate {
        /// YAML files, each with one or more documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Crd { output_dir } => cli::crd::run(output_dir.as_deref()),
        Command::Validate { files } => cli::validate::run(&files),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

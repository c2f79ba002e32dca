//! `sparkctl`: create, follow and manage Spark applications without kubectl.

mod cli;
mod commands;
mod connect;
mod documents;
mod output;
mod upload;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // kube-rs takes rustls's process-wide provider, and the object stores bring a second one:
    // pick ring explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{} {error:#}", output::Paint::stderr().error("error:"));
            ExitCode::FAILURE
        }
    }
}

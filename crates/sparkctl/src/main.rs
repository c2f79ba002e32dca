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
            eprintln!(
                "{} {}",
                output::Paint::stderr().error("error:"),
                explain(&error)
            );
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each API error as the API server's message rather
/// than kube-rs's debug dump of it.
fn explain(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        if let Some(api) = cause.downcast_ref::<kube::Error>() {
            // Its own causes are what `describe` already said.
            parts.push(connect::describe(api));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

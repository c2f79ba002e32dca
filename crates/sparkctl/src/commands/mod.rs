//! One module per group of subcommands; each returns the process exit code.

mod create;
mod events;
mod forward;
mod logs;
mod manage;
mod show;
mod spark_connect;

use std::process::ExitCode;

use anyhow::anyhow;
use clap::CommandFactory;
use kube::Api;
use spark_operator_api::SparkApplication;

use crate::cli::{Cli, Command, DeleteArgs, EventArgs, ListArgs, StatusArgs};
use crate::connect::{Connection, connect};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Completion { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "sparkctl",
            &mut std::io::stdout(),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let connection = connect(&cli.target).await?;
    match cli.command {
        Command::Create(args) => create::run(&connection, args).await,
        Command::List(ListArgs {
            all_namespaces,
            output,
        }) => show::list(&connection, all_namespaces, output).await,
        Command::Status(StatusArgs { name, output }) => {
            show::status(&connection, &name, output).await
        }
        Command::Event(EventArgs { name, follow }) => events::run(&connection, &name, follow).await,
        Command::Log {
            name,
            executor,
            follow,
            tail,
        } => logs::run(&connection, &name, executor.as_deref(), follow, tail).await,
        Command::Delete(DeleteArgs { names }) => manage::delete(&connection, &names).await,
        Command::Suspend { name } => manage::set_suspend(&connection, &name, true).await,
        Command::Resume { name } => manage::set_suspend(&connection, &name, false).await,
        Command::Forward {
            name,
            local_port,
            remote_port,
        } => forward::run(&connection, &name, local_port, remote_port).await,
        Command::Connect(command) => spark_connect::run(&connection, command).await,
        Command::Completion { .. } => Ok(ExitCode::SUCCESS),
    }
}

fn applications(connection: &Connection) -> Api<SparkApplication> {
    Api::namespaced(connection.client.clone(), &connection.namespace)
}

/// The application, or an error that says where it was looked for.
async fn application(connection: &Connection, name: &str) -> anyhow::Result<SparkApplication> {
    applications(connection).get_opt(name).await?.ok_or_else(|| {
        anyhow!(
            "SparkApplication {name} not found in namespace {}; `sparkctl list` shows the applications there, -n chooses another namespace",
            connection.namespace
        )
    })
}

//! `delete`, `suspend` and `resume`.

use std::process::ExitCode;

use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::{application, applications};
use crate::connect::Connection;

pub async fn delete(connection: &Connection, names: &[String]) -> anyhow::Result<ExitCode> {
    let api = applications(connection);
    let mut code = ExitCode::SUCCESS;
    for name in names {
        match application(connection, name).await {
            Ok(_) => {
                api.delete(name, &DeleteParams::background()).await?;
                println!("sparkapplication {name} deleted");
            }
            Err(error) => {
                eprintln!("error: {error}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

pub async fn set_suspend(
    connection: &Connection,
    name: &str,
    suspend: bool,
) -> anyhow::Result<ExitCode> {
    let app = application(connection, name).await?;
    let verb = if suspend { "suspended" } else { "resumed" };
    if app.spec.suspend.unwrap_or(false) == suspend {
        println!("sparkapplication {name} is already {verb}");
        return Ok(ExitCode::SUCCESS);
    }
    let patch = json!({"spec": {"suspend": suspend}});
    applications(connection)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    println!("sparkapplication {name} {verb}");
    Ok(ExitCode::SUCCESS)
}

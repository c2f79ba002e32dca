//! `connect list|status|event|log|delete|forward`: SparkConnect resources, their Spark Connect
//! server and its executors, found by Kubeflow's `sparkoperator.k8s.io/connect-name` label.

use std::process::ExitCode;

use anyhow::anyhow;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};
use spark_operator_api::{SparkConnect, naming};

use super::events;
use super::forward::forward;
use super::logs::{DRIVER_CONTAINER, EXECUTOR_CONTAINER, print_log};
use super::show::{print_structured, time};
use crate::cli::{ConnectCommand, DeleteArgs, EventArgs, Format, ListArgs, StatusArgs};
use crate::connect::Connection;
use crate::output::{Paint, age, table};

/// The Spark Connect gRPC port.
const CONNECT_PORT: u16 = 15002;

pub async fn run(connection: &Connection, command: ConnectCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConnectCommand::List(ListArgs {
            all_namespaces,
            output,
        }) => list(connection, all_namespaces, output).await,
        ConnectCommand::Status(StatusArgs { name, output }) => {
            status(connection, &name, output).await
        }
        ConnectCommand::Event(EventArgs { name, follow }) => {
            let connect = spark_connect(connection, &name).await?;
            events::show(connection, "SparkConnect", &name, connect.uid(), follow).await
        }
        ConnectCommand::Log {
            name,
            executor,
            follow,
            tail,
        } => log(connection, &name, executor.as_deref(), follow, tail).await,
        ConnectCommand::Delete(DeleteArgs { names }) => delete(connection, &names).await,
        ConnectCommand::Forward {
            name,
            local_port,
            remote_port,
        } => {
            let connect = spark_connect(connection, &name).await?;
            let pod = server_pod(&connect)?;
            let remote = remote_port.unwrap_or(CONNECT_PORT);
            let scheme = (remote == CONNECT_PORT).then_some("sc");
            forward(
                connection,
                &pod,
                "Spark Connect server",
                local_port,
                remote,
                scheme,
            )
            .await
        }
    }
}

fn api(connection: &Connection) -> Api<SparkConnect> {
    Api::namespaced(connection.client.clone(), &connection.namespace)
}

/// The SparkConnect, or an error that says where it was looked for.
async fn spark_connect(connection: &Connection, name: &str) -> anyhow::Result<SparkConnect> {
    api(connection).get_opt(name).await?.ok_or_else(|| {
        anyhow!(
            "SparkConnect {name} not found in namespace {}; `sparkctl connect list` shows the SparkConnects there, -n chooses another namespace",
            connection.namespace
        )
    })
}

fn server_pod(connect: &SparkConnect) -> anyhow::Result<String> {
    let name = connect.name_any();
    connect
        .status
        .as_ref()
        .and_then(|s| s.server.as_ref())
        .and_then(|s| s.pod_name.clone())
        .ok_or_else(|| {
            anyhow!(
                "{name} has no server pod yet; `sparkctl connect status {name}` shows its state"
            )
        })
}

fn state(connect: &SparkConnect) -> String {
    connect
        .status
        .as_ref()
        .and_then(|s| s.state.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "New".into())
}

/// `running/total` executors, from the status.
fn executors(connect: &SparkConnect) -> String {
    let counts = connect
        .status
        .as_ref()
        .map(|s| s.executors.clone())
        .unwrap_or_default();
    let running = counts.get("running").copied().unwrap_or(0);
    format!("{running}/{}", counts.values().sum::<i32>())
}

fn paint_state(paint: &Paint, state: &str) -> String {
    match state {
        "Ready" => paint.good(state),
        "Failed" => paint.error(state),
        other => paint.pending(other),
    }
}

async fn list(
    connection: &Connection,
    all_namespaces: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let api: Api<SparkConnect> = if all_namespaces {
        Api::all(connection.client.clone())
    } else {
        api(connection)
    };
    let mut connects = api.list(&ListParams::default()).await?.items;
    connects.sort_by_key(|c| (c.namespace(), c.name_any()));
    if print_structured(&connects, format)? {
        return Ok(ExitCode::SUCCESS);
    }
    if connects.is_empty() {
        let place = if all_namespaces {
            "any namespace".into()
        } else {
            format!("namespace {}", connection.namespace)
        };
        eprintln!("No SparkConnects in {place}.");
        return Ok(ExitCode::SUCCESS);
    }
    let now = jiff::Timestamp::now();
    let mut header = vec!["NAME", "STATE", "SERVER", "EXECUTORS", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if format == Format::Wide {
        header.extend(["POD IP", "SERVICE"]);
    }
    let rows: Vec<Vec<String>> = connects
        .iter()
        .map(|connect| {
            let server = connect.status.as_ref().and_then(|s| s.server.clone());
            let server = server.unwrap_or_default();
            let mut row = vec![
                connect.name_any(),
                state(connect),
                server.pod_name.clone().unwrap_or_else(|| "<none>".into()),
                executors(connect),
                connect
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| age(t.0, now))
                    .unwrap_or_default(),
            ];
            if all_namespaces {
                row.insert(0, connect.namespace().unwrap_or_default());
            }
            if format == Format::Wide {
                row.push(server.pod_ip.unwrap_or_else(|| "<none>".into()));
                row.push(server.service_name.unwrap_or_else(|| "<none>".into()));
            }
            row
        })
        .collect();
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

async fn status(connection: &Connection, name: &str, format: Format) -> anyhow::Result<ExitCode> {
    let connect = spark_connect(connection, name).await?;
    if print_structured(&connect, format)? {
        return Ok(ExitCode::SUCCESS);
    }
    let paint = Paint::stdout();
    let namespace = connect.namespace().unwrap_or_default();
    let status = connect.status.clone().unwrap_or_default();
    let field = |label: &str, value: String| println!("{:<14}{value}", paint.bold(label));
    field("Name:", format!("{name} (namespace {namespace})"));
    field("State:", paint_state(&paint, &state(&connect)));
    if let Some(condition) = status.conditions.iter().find(|c| c.status != "True") {
        field("Why:", condition.message.clone());
    }
    let server = status.server.clone().unwrap_or_default();
    let service = server
        .service_name
        .clone()
        .unwrap_or_else(|| naming::connect_service_name(&connect));
    field(
        "Server pod:",
        match (&server.pod_name, &server.pod_ip) {
            (Some(pod), Some(ip)) => format!("{pod} ({ip})"),
            (Some(pod), None) => pod.clone(),
            _ => "<none>".into(),
        },
    );
    field(
        "Address:",
        format!(
            "sc://{service}.{namespace}.svc:{CONNECT_PORT} in the cluster; `sparkctl connect forward {name}` for sc://localhost:{CONNECT_PORT}"
        ),
    );
    field("Started:", time(status.start_time.as_ref()));
    field("Updated:", time(status.last_update_time.as_ref()));
    let pods: Api<Pod> = Api::namespaced(connection.client.clone(), &namespace);
    let mut executors = pods
        .list(&ListParams::default().labels(&executor_selector(name, None)))
        .await?
        .items;
    if executors.is_empty() {
        field("Executors:", "<none>".into());
        return Ok(ExitCode::SUCCESS);
    }
    let id = |pod: &Pod| {
        pod.labels()
            .get("spark-exec-id")
            .cloned()
            .unwrap_or_default()
    };
    executors.sort_by_key(|pod| id(pod).parse::<u64>().unwrap_or(u64::MAX));
    println!("{}", paint.bold("Executors:"));
    let rows: Vec<Vec<String>> = executors
        .iter()
        .map(|pod| {
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
            vec![
                format!("  {}", id(pod)),
                pod.name_any(),
                phase.unwrap_or_else(|| "Unknown".into()),
            ]
        })
        .collect();
    print!("{}", table(&["  ID", "POD", "PHASE"], &rows));
    Ok(ExitCode::SUCCESS)
}

/// Kubeflow's selector of a SparkConnect's executors, or of one of them.
fn executor_selector(name: &str, id: Option<&str>) -> String {
    let mut selector = format!(
        "sparkoperator.k8s.io/connect-name={name},sparkoperator.k8s.io/launched-by-spark-operator=true,spark-role=executor"
    );
    if let Some(id) = id {
        selector.push_str(&format!(",spark-exec-id={id}"));
    }
    selector
}

async fn log(
    connection: &Connection,
    name: &str,
    executor: Option<&str>,
    follow: bool,
    tail: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let connect = spark_connect(connection, name).await?;
    let pods: Api<Pod> = Api::namespaced(connection.client.clone(), &connection.namespace);
    let (pod, container) = match executor {
        None => (server_pod(&connect)?, DRIVER_CONTAINER),
        Some(id) => {
            let selector = executor_selector(name, Some(id));
            let found = pods.list(&ListParams::default().labels(&selector)).await?;
            let pod = found.items.into_iter().next().ok_or_else(|| {
                anyhow!(
                    "{name} has no executor {id}; `sparkctl connect status {name}` lists its executors"
                )
            })?;
            (pod.name_any(), EXECUTOR_CONTAINER)
        }
    };
    print_log(&pods, &pod, name, container, follow, tail).await
}

async fn delete(connection: &Connection, names: &[String]) -> anyhow::Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for name in names {
        match spark_connect(connection, name).await {
            Ok(_) => {
                api(connection)
                    .delete(name, &DeleteParams::background())
                    .await?;
                println!("sparkconnect {name} deleted");
            }
            Err(error) => {
                eprintln!("error: {error}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

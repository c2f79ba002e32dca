//! `forward NAME [-p LOCAL_PORT]`: the driver's UI on a local port, through the API server's
//! `pods/portforward`, one forwarded stream per local connection (and the same for a Spark
//! Connect server's gRPC port, `connect forward`).

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::net::TcpListener;

use super::application;
use crate::connect::Connection;

const SPARK_UI_PORT: u16 = 4040;

pub async fn run(
    connection: &Connection,
    name: &str,
    local_port: u16,
    remote_port: Option<u16>,
) -> anyhow::Result<ExitCode> {
    let app = application(connection, name).await?;
    let status = app.status.unwrap_or_default();
    let pod = status.driver_info.pod_name.ok_or_else(|| {
        anyhow!("{name} has no driver pod yet; `sparkctl status {name}` shows its state")
    })?;
    let remote = remote_port
        .or_else(|| {
            status
                .driver_info
                .web_ui_port
                .and_then(|p| u16::try_from(p).ok())
        })
        .unwrap_or(SPARK_UI_PORT);
    forward(connection, &pod, "driver pod", local_port, remote, None).await
}

/// Forwards each connection to 127.0.0.1:`local_port` to port `remote` of `pod` (described as
/// `what`), through the API server, until Ctrl-C; with a `scheme`, the URL clients use is
/// printed too.
pub(super) async fn forward(
    connection: &Connection,
    pod: &str,
    what: &str,
    local_port: u16,
    remote: u16,
    scheme: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let pod = pod.to_string();
    let listener = TcpListener::bind(("127.0.0.1", local_port))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{local_port}; choose another with -p")
        })?;
    let local = listener.local_addr()?;
    println!("Forwarding from {local} -> {remote} ({what} {pod}); Ctrl-C stops");
    if let Some(scheme) = scheme {
        println!("Clients connect to {scheme}://{local}");
    }
    let pods: Api<Pod> = Api::namespaced(connection.client.clone(), &connection.namespace);
    loop {
        let (mut client, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        let pods = pods.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            let mut forwarder = match pods.portforward(&pod, &[remote]).await {
                Ok(forwarder) => forwarder,
                Err(error) => {
                    eprintln!("error: forwarding to {pod}: {error}");
                    return;
                }
            };
            let (Some(mut upstream), Some(errors)) =
                (forwarder.take_stream(remote), forwarder.take_error(remote))
            else {
                return;
            };
            let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
            tokio::pin!(copy);
            tokio::select! {
                _ = &mut copy => {}
                message = errors => match message {
                    Some(message) => eprintln!("error: {message}"),
                    None => {
                        let _ = copy.await;
                    }
                },
            }
        });
    }
}

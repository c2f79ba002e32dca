//! `log NAME [-e EXECUTOR_ID] [--follow] [--tail N]`.

use std::process::ExitCode;

use anyhow::anyhow;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::{Api, ResourceExt};

use super::application;
use crate::connect::Connection;

pub(super) const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
pub(super) const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";

pub async fn run(
    connection: &Connection,
    name: &str,
    executor: Option<&str>,
    follow: bool,
    tail: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let app = application(connection, name).await?;
    let pods: Api<Pod> = Api::namespaced(connection.client.clone(), &connection.namespace);
    let (pod, container) = match executor {
        None => {
            let pod = app
                .status
                .as_ref()
                .and_then(|s| s.driver_info.pod_name.clone())
                .ok_or_else(|| {
                    anyhow!(
                        "{name} has no driver pod yet; `sparkctl status {name}` shows its state"
                    )
                })?;
            (pod, DRIVER_CONTAINER)
        }
        Some(id) => {
            let selector = format!(
                "sparkoperator.k8s.io/app-name={name},spark-role=executor,spark-exec-id={id}"
            );
            let found = pods
                .list(&ListParams::default().labels(&selector))
                .await?
                .items;
            let pod = found.into_iter().next().ok_or_else(|| {
                anyhow!("{name} has no executor {id}; `sparkctl status {name}` lists its executors")
            })?;
            (pod.name_any(), EXECUTOR_CONTAINER)
        }
    };
    print_log(&pods, &pod, name, container, follow, tail).await
}

/// Prints the log of `container` of `pod` (of the resource `owner`), or of its first container
/// when it has no such one.
pub(super) async fn print_log(
    pods: &Api<Pod>,
    pod: &str,
    owner: &str,
    container: &str,
    follow: bool,
    tail: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let known = pods
        .get_opt(pod)
        .await?
        .ok_or_else(|| anyhow!("pod {pod} of {owner} is gone"))?;
    let containers: Vec<String> = known
        .spec
        .map(|s| s.containers.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    let container = if containers.iter().any(|c| c == container) {
        container.to_string()
    } else {
        containers
            .first()
            .cloned()
            .unwrap_or_else(|| container.to_string())
    };
    let params = LogParams {
        container: Some(container),
        follow,
        tail_lines: tail,
        ..Default::default()
    };
    let mut lines = pods.log_stream(pod, &params).await?.lines().boxed();
    while let Some(line) = lines.next().await {
        println!("{}", line?);
    }
    Ok(ExitCode::SUCCESS)
}

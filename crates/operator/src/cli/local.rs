//! `spark-operator run-local FILE`: the quick start. Starts the local cluster and the operator in
//! this process, applies the file, follows the application until it ends, and exits 0 when it
//! COMPLETED.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde::Deserialize;
use spark_operator_api::{ApplicationStateType, SparkApplication};

use crate::config::ControllerConfig;
use crate::install::FIELD_MANAGER;

#[derive(Debug, Args)]
pub struct RunLocalArgs {
    /// YAML file with the SparkApplication to run (other documents in it are applied too).
    #[arg(default_value = "examples/spark-pi.yaml")]
    pub file: PathBuf,
    /// Where to write the local cluster's kubeconfig, for kubectl.
    #[arg(long, default_value = "localcluster.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Keep the cluster and the operator running after the application ends (Ctrl-C stops them).
    #[arg(long)]
    pub keep_running: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_seconds: u64,
}

pub async fn run(args: RunLocalArgs) -> anyhow::Result<()> {
    crate::telemetry::init("warn", crate::telemetry::LogFormat::Text);
    let cluster = localcluster::LocalCluster::start(localcluster::Options::default())
        .await
        .context("starting the local cluster")?;
    cluster.write_kubeconfig(&args.kubeconfig)?;
    println!("local cluster listening on {}", cluster.url());
    println!(
        "kubectl:  export KUBECONFIG={}",
        absolute(&args.kubeconfig).display()
    );
    let client = cluster.client()?;
    tokio::spawn(localcluster::nodes::run(
        client.clone(),
        localcluster::nodes::NodesConfig::default(),
    ));
    crate::install::install_crds(&client).await?;
    let config = ControllerConfig {
        master_url: Some(cluster.url()),
        ..ControllerConfig::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    };
    let operator = tokio::spawn(crate::controller::run_all(client.clone(), config, shutdown));

    let apps = apply_file(&client, &args.file).await?;
    let Some((namespace, name)) = apps.into_iter().next() else {
        bail!("{} has no SparkApplication", args.file.display());
    };
    println!("applied SparkApplication {namespace}/{name}; following its state:");
    let outcome = tokio::time::timeout(
        Duration::from_secs(args.timeout_seconds),
        follow(&client, &namespace, &name),
    )
    .await
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the application did not end within {}s",
            args.timeout_seconds
        ))
    });
    if args.keep_running {
        println!("still serving; press Ctrl-C to stop");
        crate::cli::controller::shutdown_signal().await;
    }
    let _ = stop.send(true);
    let _ = operator.await;
    outcome
}

/// Prints each state the application passes through; Ok when COMPLETED.
async fn follow(client: &Client, namespace: &str, name: &str) -> anyhow::Result<()> {
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(apps, config).applied_objects().boxed();
    let mut last = None;
    while let Some(app) = events.next().await {
        let Ok(app) = app else { continue };
        let status = app.status.clone().unwrap_or_default();
        let state = status.application_state.state;
        if last != Some(state) {
            last = Some(state);
            let shown = if state == ApplicationStateType::New {
                "NEW"
            } else {
                state.as_str()
            };
            println!(
                "  {:<18} attempts={}",
                shown,
                status.execution_attempts.unwrap_or(0)
            );
        }
        match state {
            ApplicationStateType::Completed => {
                println!("{name} COMPLETED");
                return Ok(());
            }
            ApplicationStateType::Failed => {
                bail!(
                    "{name} FAILED: {}",
                    status.application_state.error_message.unwrap_or_default()
                )
            }
            _ => {}
        }
    }
    bail!("lost the watch on {name}")
}

/// Applies every document of the file by server-side apply; returns the SparkApplications.
pub async fn apply_file(client: &Client, file: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut apps = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let object = DynamicObject::deserialize(document)
            .with_context(|| format!("{} is not a Kubernetes object", file.display()))?;
        let Some(types) = &object.types else { continue };
        let gvk = kube::core::GroupVersionKind::try_from(types)?;
        let (resource, capabilities) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("the cluster does not serve {}", types.kind))?;
        let namespace = object.namespace().unwrap_or_else(|| "default".into());
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), &namespace, &resource),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let name = object.name_any();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .with_context(|| format!("applying {} {name}", types.kind))?;
        if types.kind == "SparkApplication" {
            apps.push((namespace, name));
        }
    }
    Ok(apps)
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

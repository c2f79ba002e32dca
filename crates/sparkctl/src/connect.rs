//! Reaching the cluster named by the kubeconfig, with errors that say what to do.

use anyhow::{Context, anyhow};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::Target;

pub struct Connection {
    pub client: Client,
    pub namespace: String,
}

pub async fn connect(target: &Target) -> anyhow::Result<Connection> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        ..Default::default()
    };
    let config = match &target.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if target.context.is_some() => Config::from_kubeconfig(&options).await?,
        None => Config::infer().await.map_err(|error| {
            anyhow!("no cluster configured ({error}); set KUBECONFIG or pass --kubeconfig")
        })?,
    };
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let url = config.cluster_url.clone();
    let client = Client::try_from(identified(config))?;
    client
        .apiserver_version()
        .await
        .map_err(|error| anyhow!("cannot reach the cluster at {url}: {error}"))?;
    Ok(Connection { client, namespace })
}

/// `config` with sparkctl's user agent, `sparkctl/<version>`: the API server records what sparkctl
/// writes under that name in `managedFields` (kube-rs sends no user agent of its own).
fn identified(mut config: Config) -> Config {
    let agent = concat!("sparkctl/", env!("CARGO_PKG_VERSION"));
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(agent),
    ));
    config
}

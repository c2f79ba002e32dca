//! Reaching the cluster named by the kubeconfig, with errors that say what to do.

use std::path::Path;

use anyhow::{anyhow, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::Target;

pub struct Connection {
    pub client: Client,
    pub namespace: String,
    /// Whether the namespace was given with `-n`/`--namespace`, which an object naming another
    /// namespace contradicts.
    pub namespace_given: bool,
}

impl Connection {
    /// The namespace an object is created in: its own, or the connection's; an error when `-n`
    /// names another, as kubectl refuses the mismatch.
    pub fn namespace_for(&self, object_namespace: Option<&str>) -> anyhow::Result<String> {
        resolve_namespace(object_namespace, &self.namespace, self.namespace_given)
    }
}

fn resolve_namespace(
    object: Option<&str>,
    connection: &str,
    given: bool,
) -> anyhow::Result<String> {
    match object {
        Some(own) if given && own != connection => bail!(
            "the namespace from the provided object {own:?} does not match the namespace {connection:?}: pass --namespace={own}, or leave --namespace out"
        ),
        Some(own) => Ok(own.to_string()),
        None => Ok(connection.to_string()),
    }
}

pub async fn connect(target: &Target) -> anyhow::Result<Connection> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        ..Default::default()
    };
    let config = match &target.kubeconfig {
        Some(path) => from_file(path, &options).await?,
        None if target.context.is_some() => {
            let kubeconfig = Kubeconfig::read().map_err(|error| {
                anyhow!(
                    "no kubeconfig to find --context in ({}); set KUBECONFIG or pass --kubeconfig",
                    root_cause(&error)
                )
            })?;
            from_kubeconfig(kubeconfig, &options, "the kubeconfig").await?
        }
        None => Config::infer().await.map_err(|error| {
            anyhow!(
                "no cluster configured ({}); set KUBECONFIG or pass --kubeconfig",
                root_cause(&error)
            )
        })?,
    };
    let namespace_given = target.namespace.is_some();
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let url = config.cluster_url.clone();
    let client = Client::try_from(identified(config))?;
    client
        .apiserver_version()
        .await
        .map_err(|error| anyhow!("cannot reach the cluster at {url}: {}", describe(&error)))?;
    Ok(Connection {
        client,
        namespace,
        namespace_given,
    })
}

async fn from_file(path: &Path, options: &KubeConfigOptions) -> anyhow::Result<Config> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|error| {
        anyhow!(
            "cannot read the kubeconfig {}: {}",
            path.display(),
            root_cause(&error)
        )
    })?;
    from_kubeconfig(kubeconfig, options, &path.display().to_string()).await
}

/// The configuration of `options.context` (or the current one) in `kubeconfig`; an unknown
/// context is refused with the names of those that exist.
async fn from_kubeconfig(
    kubeconfig: Kubeconfig,
    options: &KubeConfigOptions,
    source: &str,
) -> anyhow::Result<Config> {
    if let Some(wanted) = &options.context {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        if !known.contains(&wanted.as_str()) {
            bail!(
                "context {wanted:?} is not in {source}; its contexts: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    Config::from_custom_kubeconfig(kubeconfig, options)
        .await
        .map_err(|error| {
            anyhow!(
                "the kubeconfig {source} cannot be used: {}",
                root_cause(&error)
            )
        })
}

/// The innermost cause of an error: kube-rs wraps an I/O error in messages that repeat it.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// An API error as its message alone (`namespaces "x" not found`), other errors as they are:
/// kube-rs's Display of an API error includes its debug dump.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => root_cause(other),
    }
}

/// `error` of creating `kind` `name` in `namespace`, said so that the next step is clear.
pub fn creation_error(
    error: kube::Error,
    kind: &str,
    name: &str,
    namespace: &str,
) -> anyhow::Error {
    match &error {
        kube::Error::Api(status) if status.code == 409 => anyhow!(
            "{kind} {name} already exists: delete it first (`sparkctl delete {name}`) or change metadata.name"
        ),
        kube::Error::Api(status)
            if status.code == 404
                && status
                    .details
                    .as_ref()
                    .is_some_and(|d| d.kind == "namespaces") =>
        {
            anyhow!(
                "cannot create {kind} {name}: namespace {namespace:?} does not exist; create it (`kubectl create namespace {namespace}`) or pass another with -n"
            )
        }
        _ => anyhow!(
            "cannot create {kind} {name} in namespace {namespace}: {}",
            describe(&error)
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_keeps_its_namespace_unless_n_contradicts_it() {
        assert_eq!(resolve_namespace(None, "team", true).unwrap(), "team");
        assert_eq!(resolve_namespace(Some("a"), "default", false).unwrap(), "a");
        assert_eq!(resolve_namespace(Some("a"), "a", true).unwrap(), "a");
        let error = resolve_namespace(Some("a"), "b", true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--namespace=a"), "{error}");
    }

    #[test]
    fn a_missing_kubeconfig_is_named_once_with_its_cause() {
        let options = KubeConfigOptions::default();
        let error =
            futures::executor::block_on(from_file(Path::new("/nonexistent/kubeconfig"), &options))
                .err()
                .unwrap()
                .to_string();
        assert_eq!(
            error.matches("/nonexistent/kubeconfig").count(),
            1,
            "{error}"
        );
        assert_eq!(error.matches("No such file").count(), 1, "{error}");
    }
}

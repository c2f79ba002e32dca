//! What a container process is started with: the command, its environment and the container's
//! paths on this machine. A Spark container runs the Spark image's entrypoint from the Spark
//! installation ([`SparkLaunch`]); a container of a mapped image runs its program
//! ([`ProgramLaunch`]) with the pod's service account token and its own network address.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;

use super::entrypoint::{self, Command, Installation, SparkRole};
use super::paths::PathMap;
use super::programs::{self, ImageProgram};
use super::service_account::{self, ApiAccess};
use super::{hosts, network};

/// A prepared container process.
pub struct Launch {
    pub command: Command,
    pub environment: BTreeMap<String, String>,
    /// The container's paths on this machine.
    pub map: PathMap,
}

/// A Spark container: the image's entrypoint, run from the Spark installation.
pub struct SparkLaunch<'a> {
    pub installation: &'a Installation,
    pub role: SparkRole,
    pub map: &'a PathMap,
    pub pod_dir: &'a Path,
    pub pod_ip: &'a str,
}

impl SparkLaunch<'_> {
    /// The command and environment, from the container's environment `pod_env` over `base`.
    pub async fn prepare(
        &self,
        client: &Client,
        namespace: &str,
        container: &Value,
        pod_env: Vec<(String, String)>,
        mut environment: BTreeMap<String, String>,
    ) -> Result<Launch, String> {
        let (installation, map) = (self.installation, self.map);
        environment.insert(
            "SPARK_HOME".into(),
            installation.spark_home.to_string_lossy().into_owned(),
        );
        if let Some(java_home) = &installation.java_home {
            environment.insert("JAVA_HOME".into(), java_home.to_string_lossy().into_owned());
        }
        for (name, value) in pod_env {
            environment.insert(name, map.rewrite(&value));
        }
        let hosts_path = self.pod_dir.join("hosts");
        let hosts = hosts_for(client, namespace).await?;
        std::fs::write(&hosts_path, hosts)
            .map_err(|e| format!("writing {}: {e}", hosts_path.display()))?;
        let tool_options = format!("-Djdk.net.hosts.file={}", hosts_path.display());
        let tool_options = match environment.get("JAVA_TOOL_OPTIONS") {
            Some(existing) => format!("{existing} {tool_options}"),
            None => tool_options,
        };
        environment.insert("JAVA_TOOL_OPTIONS".into(), tool_options);
        environment.insert("SPARK_LOCAL_IP".into(), self.pod_ip.into());
        // Spark's Kubernetes client would otherwise pick up the user's own kubeconfig.
        environment.insert("KUBECONFIG".into(), no_kubeconfig(self.pod_dir));

        let args: Vec<String> = match entrypoint::connect_server_script(container) {
            Some(script) => vec![entrypoint::rewrite_conf_paths(script, |v| map.rewrite(v))],
            None => container["args"]
                .as_array()
                .into_iter()
                .flatten()
                .skip(1)
                .map(|a| map.rewrite(a.as_str().unwrap_or_default()))
                .collect(),
        };
        let command = entrypoint::command(self.role, &args, &environment, installation)?;
        Ok(Launch {
            command,
            environment,
            map: map.clone(),
        })
    }
}

/// A container of a mapped image: its program, as the image's entrypoint.
pub struct ProgramLaunch<'a> {
    pub program: &'a ImageProgram,
    /// How the pod reaches the API server; without it no token is mounted.
    pub access: Option<&'a ApiAccess>,
    pub pod_dir: &'a Path,
    pub pod_ip: &'a str,
    /// Where the runtime keeps what all its pods share.
    pub work_dir: &'a Path,
}

impl ProgramLaunch<'_> {
    /// The command and environment, from the container's environment `pod_env` over `base`,
    /// with its volumes `map`.
    pub async fn prepare(
        &self,
        client: &Client,
        pod: &Value,
        container: &Value,
        mut map: PathMap,
        pod_env: Vec<(String, String)>,
        mut environment: BTreeMap<String, String>,
    ) -> Result<Launch, String> {
        let mounted = match self.access {
            Some(access) => {
                service_account::mount(client, pod, container, access, self.pod_dir).await?
            }
            None => None,
        };
        // Without a token the program must not find this machine's own kubeconfig either.
        let kubeconfig = match mounted {
            Some((dir, kubeconfig)) => {
                map.add(service_account::MOUNT_PATH, &dir);
                kubeconfig.to_string_lossy().into_owned()
            }
            None => no_kubeconfig(self.pod_dir),
        };
        let mut expansion: Vec<(String, String)> = environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        expansion.extend(pod_env.iter().cloned());
        let line = programs::command_line(container, &self.program.program, &expansion)?;
        for (name, value) in pod_env {
            environment.insert(name, map.rewrite(&value));
        }
        environment.insert("KUBECONFIG".into(), kubeconfig);
        let library = network::library(self.work_dir)?;
        network::bind_to_pod_ip(&mut environment, &library, self.pod_ip);
        let program = line.program.to_string_lossy();
        let program = match line.is_entrypoint {
            true => program.into_owned(),
            false => map
                .host_path(&program)
                .unwrap_or_else(|| program.into_owned()),
        };
        let command = Command {
            program: program.into(),
            args: line.args.iter().map(|a| map.rewrite(a)).collect(),
        };
        Ok(Launch {
            command,
            environment,
            map,
        })
    }
}

/// A kubeconfig path where there is none.
fn no_kubeconfig(pod_dir: &Path) -> String {
    pod_dir.join("no-kubeconfig").to_string_lossy().into_owned()
}

async fn hosts_for(client: &Client, namespace: &str) -> Result<String, String> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let services = services
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let pods = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let services: Vec<Value> = services
        .items
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    let pods: Vec<Value> = pods
        .items
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    Ok(hosts::hosts_file(&services, &pods, &machine_hostname()))
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

//! Real processes in place of simulated containers: a pod whose container runs the Spark image's
//! entrypoint (`driver ...`, `executor`) or its Spark Connect server script is run as a local
//! process with a Spark installation standing for the image's `/opt/spark`. The process gets the pod's environment (downward API
//! resolved), its volumes as directories of its own, the pod's loopback IP to bind to and a
//! hosts file naming the Services of its namespace; what it prints becomes the container's log
//! and its exit status the container's.
//!
//! - [`paths`]: container paths to host paths (pure).
//! - [`env`]: the container's environment (pure).
//! - [`entrypoint`]: the command the Spark image runs (pure), reading shell scripts with
//!   [`shell`] (pure).
//! - [`probes`]: when a container with a TCP probe is ready.
//! - [`hosts`]: the hosts file (pure).
//! - [`volumes`]: ConfigMaps, Secrets and emptyDirs written out.
//! - [`exec`]: the running container as `exec` and `attach` reach it.

pub mod entrypoint;
pub mod env;
pub mod exec;
pub mod hosts;
pub mod paths;
pub mod probes;
pub mod shell;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{broadcast, watch};
use tracing::debug;

use crate::registry::Cluster;
use crate::streaming::{OutputStream, exit_code};
pub use entrypoint::{Installation, SparkRole};

/// Chooses how one pod runs: `process` or `simulated`, overriding the runtime's default (a
/// process for Spark containers when a Spark installation is configured).
pub const RUNTIME_ANNOTATION: &str = "localcluster/runtime";

/// Runs Spark containers as processes.
#[derive(Clone)]
pub struct ProcessRuntime {
    installation: Installation,
    /// Each pod's directory (volumes, working directory, hosts file) is made under it.
    work_dir: PathBuf,
    /// Where containers' output is recorded, for `pods/log`.
    cluster: Cluster,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("installation", &self.installation)
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

/// A container process that was started.
pub struct Started {
    pub container: String,
    pub control: ProcessControl,
    /// Resolves to the exit code once the process has ended and its output is recorded.
    pub exit: tokio::task::JoinHandle<i32>,
}

/// Stops a running container process.
#[derive(Clone)]
pub struct ProcessControl {
    /// The process group of the container (the entrypoint's process leads it).
    group: i32,
    ended: watch::Receiver<bool>,
}

impl ProcessControl {
    /// Sends SIGTERM to the container's processes, then SIGKILL if they still run after `grace`,
    /// as the kubelet stops a container; returns once they have ended.
    pub async fn stop(mut self, grace: Duration) {
        signal_group(self.group, libc::SIGTERM);
        let timed_out = tokio::time::timeout(grace, self.ended.wait_for(|e| *e))
            .await
            .is_err();
        if timed_out {
            signal_group(self.group, libc::SIGKILL);
            let _ = self.ended.wait_for(|e| *e).await;
        }
    }
}

fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-group, signal);
    }
}

impl ProcessRuntime {
    pub fn new(cluster: Cluster, installation: Installation, work_dir: PathBuf) -> ProcessRuntime {
        ProcessRuntime {
            installation,
            work_dir,
            cluster,
        }
    }

    /// The Spark installation and JVM the processes run.
    pub fn installation(&self) -> &Installation {
        &self.installation
    }

    /// The container of `pod` this runtime runs as a process, if any.
    pub fn container_of<'a>(&self, pod: &'a Value) -> Option<&'a Value> {
        if pod["metadata"]["annotations"][RUNTIME_ANNOTATION] == "simulated" {
            return None;
        }
        pod["spec"]["containers"]
            .as_array()?
            .iter()
            .find(|c| SparkRole::of_container(c).is_some())
    }

    /// The directory of a pod's files.
    pub fn pod_dir(&self, pod: &Value) -> PathBuf {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        self.work_dir
            .join(pod["metadata"]["namespace"].as_str().unwrap_or("default"))
            .join(format!(
                "{}-{}",
                pod["metadata"]["name"].as_str().unwrap_or_default(),
                uid.get(..8).unwrap_or(uid)
            ))
    }

    /// Starts the Spark container of `pod`, which the kubelet just reported running at `pod_ip`,
    /// with the kubelet's service variables `services` under its own environment. An `Err` says
    /// why the container could not start, for its log.
    pub async fn start(
        &self,
        client: &Client,
        pod: &Value,
        pod_ip: &str,
        services: &[(String, String)],
    ) -> Result<Started, String> {
        let container = self
            .container_of(pod)
            .ok_or("the pod has no Spark container")?;
        let role = SparkRole::of_container(container).ok_or("not a Spark container")?;
        let mut pod = pod.clone();
        pod["status"]["podIP"] = pod_ip.into();
        pod["status"]["hostIP"] = "127.0.0.1".into();
        let namespace = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let pod_dir = self.pod_dir(&pod);
        let work_dir = pod_dir.join("work-dir");
        std::fs::create_dir_all(&work_dir)
            .map_err(|e| format!("creating {}: {e}", work_dir.display()))?;
        let base = paths::PathMap::new(&self.installation.spark_home, &work_dir);
        let map = volumes::materialise(client, &pod, container, &pod_dir, base).await?;

        let (config_maps, secrets) = env::referenced_sources(container);
        let sources =
            super::startup::fetch_sources(client, &namespace, config_maps, secrets).await?;
        let pod_env = env::container_env(&pod, container, &sources)?;
        let mut environment: BTreeMap<String, String> = inherited_env();
        environment.insert(
            "SPARK_HOME".into(),
            self.installation.spark_home.to_string_lossy().into_owned(),
        );
        if let Some(java_home) = &self.installation.java_home {
            environment.insert("JAVA_HOME".into(), java_home.to_string_lossy().into_owned());
        }
        environment.extend(services.iter().cloned());
        for (name, value) in pod_env {
            environment.insert(name, map.rewrite(&value));
        }
        let hosts_path = pod_dir.join("hosts");
        let hosts = hosts_for(client, &namespace).await?;
        std::fs::write(&hosts_path, hosts)
            .map_err(|e| format!("writing {}: {e}", hosts_path.display()))?;
        let tool_options = format!("-Djdk.net.hosts.file={}", hosts_path.display());
        let tool_options = match environment.get("JAVA_TOOL_OPTIONS") {
            Some(existing) => format!("{existing} {tool_options}"),
            None => tool_options,
        };
        environment.insert("JAVA_TOOL_OPTIONS".into(), tool_options);
        environment.insert("SPARK_LOCAL_IP".into(), pod_ip.into());
        // Spark's Kubernetes client would otherwise pick up the user's own kubeconfig.
        environment.insert(
            "KUBECONFIG".into(),
            pod_dir.join("no-kubeconfig").to_string_lossy().into_owned(),
        );

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
        let command = entrypoint::command(role, &args, &environment, &self.installation)?;
        let working_dir = container["workingDir"]
            .as_str()
            .and_then(|dir| map.host_path(dir))
            .map(PathBuf::from)
            .unwrap_or(work_dir);
        std::fs::create_dir_all(&working_dir)
            .map_err(|e| format!("creating {}: {e}", working_dir.display()))?;

        let opens_stdin = container["stdin"].as_bool() == Some(true);
        let mut process = tokio::process::Command::new(&command.program);
        process
            .args(&command.args)
            .env_clear()
            .envs(&environment)
            .current_dir(&working_dir)
            .stdin(if opens_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = process
            .spawn()
            .map_err(|e| format!("starting {}: {e}", command.program.display()))?;
        let group = child
            .id()
            .map(|id| id as i32)
            .ok_or("the process ended at once")?;
        let container_name = container["name"].as_str().unwrap_or_default().to_string();
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let output = exec::output_channel();
        let stdin_once = container["stdinOnce"].as_bool() == Some(true);
        let streams = exec::ProcessContainer {
            environment,
            working_dir,
            paths: map,
            group,
            output: output.clone(),
            stdin: child
                .stdin
                .take()
                .map(|stdin| exec::feed_stdin(stdin, stdin_once)),
        };
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let running = self.cluster.running_containers().clone();
        running.register(
            (&namespace, &name, &uid),
            &container_name,
            std::sync::Arc::new(streams),
        );
        let log = (namespace.as_str(), name.as_str(), container_name.as_str());
        let outputs = [
            self.record(log, OutputStream::Stdout, child.stdout.take(), &output),
            self.record(log, OutputStream::Stderr, child.stderr.take(), &output),
        ];
        let (ended_tx, ended) = watch::channel(false);
        let registered = (namespace.clone(), name.clone(), container_name.clone());
        let exit = tokio::spawn(async move {
            let status = child.wait().await;
            let (namespace, name, container) = &registered;
            running.remove((namespace, name, &uid), container);
            // The group may outlive its leader (a Python worker, say): end it with the container.
            signal_group(group, libc::SIGKILL);
            for output in outputs {
                let _ = output.await;
            }
            let _ = ended_tx.send(true);
            match status {
                Ok(status) => exit_code(status),
                Err(error) => {
                    debug!(%error, "waiting for a container process");
                    128
                }
            }
        });
        Ok(Started {
            container: container_name,
            control: ProcessControl { group, ended },
            exit,
        })
    }

    /// Records what a process prints, line by line, as its container's log (`(namespace, pod,
    /// container)`), and passes each line to attached clients.
    fn record<R>(
        &self,
        (namespace, pod, container): (&str, &str, &str),
        stream: OutputStream,
        pipe: Option<R>,
        attached: &broadcast::Sender<(OutputStream, bytes::Bytes)>,
    ) -> tokio::task::JoinHandle<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let cluster = self.cluster.clone();
        let attached = attached.clone();
        let (namespace, pod, container) = (
            namespace.to_string(),
            pod.to_string(),
            container.to_string(),
        );
        tokio::spawn(async move {
            let Some(pipe) = pipe else { return };
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = format!("{line}\n");
                cluster.append_pod_log(&namespace, &pod, &container, &line);
                let _ = attached.send((stream, line.into()));
            }
        })
    }

    /// Records a line in a container's log (why it could not start, say).
    pub fn log(&self, namespace: &str, pod: &str, container: &str, line: &str) {
        self.cluster
            .append_pod_log(namespace, pod, container, &format!("{line}\n"));
    }
}

/// What a process keeps of this machine's environment: enough to find programs and the user's
/// Python, nothing that would change how Spark behaves.
fn inherited_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| {
            matches!(
                name.as_str(),
                "PATH" | "HOME" | "USER" | "LANG" | "TZ" | "TMPDIR"
            ) || name.starts_with("LC_")
                || name.starts_with("PYENV_")
        })
        .collect()
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

/// Removes a pod's directory once the pod is gone.
pub fn remove_pod_dir(dir: &Path) {
    if let Err(error) = std::fs::remove_dir_all(dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        debug!(%error, dir = %dir.display(), "could not remove a pod's directory");
    }
}

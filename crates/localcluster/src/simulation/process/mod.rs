//! Real processes in place of simulated containers. A pod whose container runs the Spark image's
//! entrypoint (`driver ...`, `executor`) or its Spark Connect server script is run as a local
//! process with a Spark installation standing for the image's `/opt/spark`; a container whose
//! image is mapped to a local program (`--image-program`) runs that program as its entrypoint,
//! with the pod's service account token. The process gets the pod's environment (downward API
//! resolved), its volumes as directories of its own, the pod's loopback IP to bind to; what it
//! prints becomes the container's log and its exit status the container's.
//!
//! - [`paths`]: container paths to host paths (pure).
//! - [`env`]: the container's environment (pure).
//! - [`entrypoint`]: the command the Spark image runs (pure), reading shell scripts with
//!   [`shell`] (pure); [`programs`]: images mapped to programs, and their command lines (pure).
//! - [`launch`]: a container's command, environment and paths, Spark's or a program's.
//! - [`service_account`]: the token, CA and namespace a kubelet mounts, and a kubeconfig naming
//!   them; [`network`]: a program's unspecified binds made the pod IP's.
//! - [`probes`]: when a container with a probe is ready, and when it is no longer alive.
//! - [`hosts`]: the hosts file (pure).
//! - [`volumes`]: ConfigMaps, Secrets and emptyDirs written out.
//! - [`exec`]: the running container as `exec` and `attach` reach it.

pub mod entrypoint;
pub mod env;
pub mod exec;
pub mod hosts;
pub mod launch;
pub mod network;
pub mod paths;
pub mod probes;
pub mod programs;
pub mod service_account;
pub mod shell;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kube::Client;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{broadcast, watch};
use tracing::debug;

use crate::registry::Cluster;
use crate::streaming::{OutputStream, exit_code};
pub use entrypoint::{Installation, SparkRole};
use launch::{Launch, ProgramLaunch, SparkLaunch};
pub use programs::ImageProgram;
pub use service_account::ApiAccess;

/// Chooses how one pod runs: `process` or `simulated`, overriding the runtime's default (a
/// process for Spark containers when a Spark installation is configured, and for containers of
/// mapped images).
pub const RUNTIME_ANNOTATION: &str = "localcluster/runtime";

/// Runs Spark containers, and containers of mapped images, as processes.
#[derive(Clone)]
pub struct ProcessRuntime {
    /// Runs Spark containers; they are simulated without it.
    installation: Option<Installation>,
    /// Images run as local programs.
    programs: Vec<ImageProgram>,
    /// How the programs reach the API server with their pod's token.
    access: Option<ApiAccess>,
    /// Each pod's directory (volumes, working directory, hosts file) is made under it.
    work_dir: PathBuf,
    /// Where containers' output is recorded, for `pods/log`.
    cluster: Cluster,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("installation", &self.installation)
            .field("programs", &self.programs)
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
    /// A runtime of Spark containers, run by `installation`.
    pub fn new(cluster: Cluster, installation: Installation, work_dir: PathBuf) -> ProcessRuntime {
        ProcessRuntime {
            installation: Some(installation),
            programs: Vec::new(),
            access: None,
            work_dir,
            cluster,
        }
    }

    /// A runtime of containers of mapped images only.
    pub fn for_images(
        cluster: Cluster,
        programs: Vec<ImageProgram>,
        access: ApiAccess,
        work_dir: PathBuf,
    ) -> ProcessRuntime {
        ProcessRuntime {
            installation: None,
            programs,
            access: Some(access),
            work_dir,
            cluster,
        }
    }

    /// This runtime, also running the containers of the images `programs` maps, whose pods reach
    /// the API server through `access`.
    pub fn with_image_programs(
        mut self,
        programs: Vec<ImageProgram>,
        access: ApiAccess,
    ) -> ProcessRuntime {
        self.programs = programs;
        self.access = Some(access);
        self
    }

    /// The Spark installation and JVM the Spark processes run, if any.
    pub fn installation(&self) -> Option<&Installation> {
        self.installation.as_ref()
    }

    /// The container of `pod` this runtime runs as a process, if any: its Spark container when
    /// a Spark installation is given, else the first container of a mapped image.
    pub fn container_of<'a>(&self, pod: &'a Value) -> Option<&'a Value> {
        if pod["metadata"]["annotations"][RUNTIME_ANNOTATION] == "simulated" {
            return None;
        }
        let containers = pod["spec"]["containers"].as_array()?;
        let spark = containers
            .iter()
            .find(|c| SparkRole::of_container(c).is_some())
            .filter(|_| self.installation.is_some());
        spark.or_else(|| {
            containers.iter().find(|c| {
                let image = c["image"].as_str().unwrap_or_default();
                programs::program_for(&self.programs, image).is_some()
            })
        })
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

    /// Starts the container of `pod` this runtime runs, which the kubelet just reported running at
    /// `pod_ip`, with the kubelet's service variables `services` under its own environment. An
    /// `Err` says why the container could not start, for its log.
    pub async fn start(
        &self,
        client: &Client,
        pod: &Value,
        pod_ip: &str,
        services: &[(String, String)],
    ) -> Result<Started, String> {
        let container = self
            .container_of(pod)
            .ok_or("the pod has no container run as a process")?;
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
        let (config_maps, secrets) = env::referenced_sources(container);
        let sources =
            super::startup::fetch_sources(client, &namespace, config_maps, secrets).await?;
        let pod_env = env::container_env(&pod, container, &sources)?;
        let mut environment: BTreeMap<String, String> = inherited_env();
        environment.extend(services.iter().cloned());
        let launch = match (SparkRole::of_container(container), &self.installation) {
            (Some(role), Some(installation)) => {
                let base = paths::PathMap::new(&installation.spark_home, &work_dir);
                let map = volumes::materialise(client, &pod, container, &pod_dir, base).await?;
                let spark = SparkLaunch {
                    installation,
                    role,
                    map: &map,
                    pod_dir: &pod_dir,
                    pod_ip,
                };
                spark
                    .prepare(client, &namespace, container, pod_env, environment)
                    .await?
            }
            _ => {
                let image = container["image"].as_str().unwrap_or_default();
                let program = programs::program_for(&self.programs, image)
                    .ok_or_else(|| format!("no program runs the image {image}"))?;
                let map = volumes::materialise(
                    client,
                    &pod,
                    container,
                    &pod_dir,
                    paths::PathMap::default(),
                )
                .await?;
                let launch = ProgramLaunch {
                    program,
                    access: self.access.as_ref(),
                    pod_dir: &pod_dir,
                    pod_ip,
                    work_dir: &self.work_dir,
                };
                launch
                    .prepare(client, &pod, container, map, pod_env, environment)
                    .await?
            }
        };
        let working_dir = container["workingDir"]
            .as_str()
            .and_then(|dir| launch.map.host_path(dir))
            .map(PathBuf::from)
            .unwrap_or(work_dir);
        std::fs::create_dir_all(&working_dir)
            .map_err(|e| format!("creating {}: {e}", working_dir.display()))?;
        self.spawn(&pod, container, launch, &working_dir)
    }

    /// Runs a prepared command in its own process group, its output recorded as the container's
    /// log, and registers it for exec and attach.
    fn spawn(
        &self,
        pod: &Value,
        container: &Value,
        launch: Launch,
        working_dir: &Path,
    ) -> Result<Started, String> {
        let Launch {
            command,
            environment,
            map,
        } = launch;
        let namespace = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let opens_stdin = container["stdin"].as_bool() == Some(true);
        let mut process = tokio::process::Command::new(&command.program);
        process
            .args(&command.args)
            .env_clear()
            .envs(&environment)
            .current_dir(working_dir)
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
            working_dir: working_dir.to_path_buf(),
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

/// Removes a pod's directory once the pod is gone.
pub fn remove_pod_dir(dir: &Path) {
    if let Err(error) = std::fs::remove_dir_all(dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        debug!(%error, dir = %dir.display(), "could not remove a pod's directory");
    }
}

//! What a kubelet needs before it starts a pod's containers, and what it reports while it waits:
//!
//! - every ConfigMap and Secret volume (and each source of a projected volume) must find its
//!   object, and the keys its `items` name, unless `optional: true`; otherwise the pod stays
//!   `ContainerCreating`, with a `FailedMount` event per volume (`MountVolume.SetUp failed for
//!   volume "conf" : configmap "settings" not found`), retried 0.5 s after, then twice as long each
//!   time up to 2 min 2 s, as the kubelet's volume manager retries;
//! - each container's image must be pulled (see [`super::images`]): `ErrImagePull`, then
//!   `ImagePullBackOff`, with the `Pulling`, `Failed` and `BackOff` events;
//! - each container's `envFrom` and `valueFrom` ConfigMaps, Secrets and keys must exist (unless
//!   optional); otherwise it waits in `CreateContainerConfigError` (`configmap "settings" not
//!   found`) with a `Failed` event, retried after 1 s, then twice as long up to 10 s (the
//!   kubelet's pod worker retries a failed pod every 10 s or so).
//!
//! Init containers come first: until they can all start, the pod's containers are not looked at.
//! A pod starts only when all its containers can, and, until then, those that could are reported
//! waiting too (`ContainerCreating`) where a kubelet would run them.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::events::PodEvent;
use super::images::{self, Pulls};
use super::kubelet::{condition, container_names};
use super::process::env::{self, Sources};

/// The kubelet's volume mount retries: the first delay, doubled up to the most.
pub const FIRST_MOUNT_RETRY: Duration = Duration::from_millis(500);
pub const MOST_MOUNT_RETRY: Duration = Duration::from_secs(122);
/// Retries of a container whose configuration cannot be made.
pub const FIRST_CONFIG_RETRY: Duration = Duration::from_secs(1);
pub const MOST_CONFIG_RETRY: Duration = Duration::from_secs(10);
/// How soon after a failed pull the pod is reported backing off.
const BACK_OFF_REPORT: Duration = Duration::from_secs(1);

/// The ConfigMaps and Secrets a pod refers to, in its volumes and its containers' environment.
pub fn referenced(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut config_maps, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let projected = volume["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten();
        for source in std::iter::once(volume).chain(projected) {
            if let Some(name) = source["configMap"]["name"].as_str() {
                config_maps.insert(name.to_string());
            }
            let secret = &source["secret"];
            if let Some(name) = secret["secretName"].as_str().or(secret["name"].as_str()) {
                secrets.insert(name.to_string());
            }
        }
    }
    for list in ["initContainers", "containers"] {
        for container in pod["spec"][list].as_array().into_iter().flatten() {
            let (c, s) = env::referenced_sources(container);
            config_maps.extend(c);
            secrets.extend(s);
        }
    }
    (config_maps, secrets)
}

/// Reads the named ConfigMaps and Secrets of `namespace`; absent ones are left out.
pub async fn fetch_sources(
    client: &Client,
    namespace: &str,
    config_maps: impl IntoIterator<Item = String>,
    secrets: impl IntoIterator<Item = String>,
) -> Result<Sources, String> {
    let mut sources = Sources::default();
    let config_map_api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for name in config_maps {
        let found = config_map_api
            .get_opt(&name)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(config_map) = found {
            let binary = config_map.binary_data.unwrap_or_default();
            sources
                .binary_keys
                .insert(name.clone(), binary.into_keys().collect());
            sources
                .config_maps
                .insert(name, config_map.data.unwrap_or_default());
        }
    }
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for name in secrets {
        if let Some(secret) = secret_api.get_opt(&name).await.map_err(|e| e.to_string())? {
            let data = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()));
            sources.secrets.insert(name, data.collect());
        }
    }
    Ok(sources)
}

/// Why each volume that cannot be set up cannot, in the kubelet's words.
pub fn unmountable(pod: &Value, sources: &Sources) -> Vec<(String, String)> {
    let mut failures = Vec::new();
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or_default();
        let mut errors: Vec<String> = Vec::new();
        if volume["configMap"].is_object() || volume["secret"].is_object() {
            errors.extend(source_error(volume, sources));
        } else if let Some(projected) = volume["projected"]["sources"].as_array() {
            errors.extend(projected.iter().filter_map(|s| source_error(s, sources)));
        }
        let message = match errors.as_slice() {
            [] => continue,
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        failures.push((
            name.to_string(),
            format!("MountVolume.SetUp failed for volume \"{name}\" : {message}"),
        ));
    }
    failures
}

/// What is wrong with one ConfigMap or Secret source (a volume, or a projected volume's source).
fn source_error(source: &Value, sources: &Sources) -> Option<String> {
    let (reference, kind) = if source["configMap"].is_object() {
        (&source["configMap"], "configmap")
    } else if source["secret"].is_object() {
        (&source["secret"], "secret")
    } else {
        return None;
    };
    let name = reference["name"]
        .as_str()
        .or(reference["secretName"].as_str())
        .unwrap_or_default();
    let keys: Option<BTreeSet<&str>> = match kind {
        "configmap" => sources.config_maps.get(name).map(|data| {
            let binary = sources.binary_keys.get(name).into_iter().flatten();
            data.keys().chain(binary).map(String::as_str).collect()
        }),
        _ => sources
            .secrets
            .get(name)
            .map(|data| data.keys().map(String::as_str).collect()),
    };
    let optional = reference["optional"] == true;
    let Some(keys) = keys else {
        return (!optional).then(|| format!("{kind} \"{name}\" not found"));
    };
    let missing = reference["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["key"].as_str())
        .find(|key| !keys.contains(key))?;
    (!optional).then(|| match kind {
        "configmap" => format!("configmap references non-existent config key: {missing}"),
        _ => format!("secret references non-existent secret key: {missing}"),
    })
}

/// Why one container cannot start, as its waiting state says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub container: String,
    pub reason: String,
    pub message: String,
    pub init: bool,
}

/// What stops a pod from starting now.
#[derive(Debug, Default)]
pub struct Blocked {
    /// Volumes that cannot be set up: nothing else is looked at.
    pub volumes: Vec<(String, String)>,
    pub containers: Vec<Waiting>,
    pub events: Vec<PodEvent<'static>>,
    /// When to look again.
    pub next: Duration,
}

impl Blocked {
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.containers.is_empty()
    }
}

/// The state of a pod's waits across checks: pull back-offs per container, and the retry delays.
#[derive(Debug)]
pub struct Tries {
    pulls: HashMap<String, Pulls>,
    mount_delay: Duration,
    config_delay: Duration,
}

impl Default for Tries {
    fn default() -> Self {
        Tries {
            pulls: HashMap::new(),
            mount_delay: FIRST_MOUNT_RETRY,
            config_delay: FIRST_CONFIG_RETRY,
        }
    }
}

fn next_delay(delay: &mut Duration, most: Duration) -> Duration {
    let now = *delay;
    *delay = (*delay * 2).min(most);
    now
}

/// Checks a pod once: what stops it from starting now, with the events to record.
pub fn check(
    pod: &Value,
    sources: &Sources,
    patterns: &[String],
    tries: &mut Tries,
    now: Instant,
) -> Blocked {
    let mut blocked = Blocked {
        volumes: unmountable(pod, sources),
        ..Blocked::default()
    };
    if !blocked.volumes.is_empty() {
        for (_, message) in &blocked.volumes {
            blocked
                .events
                .push(warning("FailedMount", message.clone(), None));
        }
        blocked.next = next_delay(&mut tries.mount_delay, MOST_MOUNT_RETRY);
        return blocked;
    }
    let mut next: Option<Duration> = None;
    let mut sooner = |delay: Duration| next = Some(next.map_or(delay, |n| n.min(delay)));
    for (list, init) in [("initContainers", true), ("containers", false)] {
        for container in pod["spec"][list].as_array().into_iter().flatten() {
            let name = container["name"].as_str().unwrap_or_default().to_string();
            let image = container["image"].as_str().unwrap_or_default();
            let path = Some(format!("spec.{list}{{{name}}}"));
            let waiting = |reason: &str, message: String| Waiting {
                container: name.clone(),
                reason: reason.into(),
                message,
                init,
            };
            if images::unpullable(image, pod, patterns) {
                let error = images::pull_error(image);
                let retry = match tries.pulls.get_mut(&name) {
                    None => true,
                    Some(pulls) => pulls.may_retry(now),
                };
                if retry {
                    match tries.pulls.get_mut(&name) {
                        Some(pulls) => pulls.failed_again(now),
                        None => {
                            tries.pulls.insert(name.clone(), Pulls::failed(now));
                        }
                    }
                    blocked.events.extend([
                        normal(
                            "Pulling",
                            format!("Pulling image \"{image}\""),
                            path.clone(),
                        ),
                        warning(
                            "Failed",
                            format!("Failed to pull image \"{image}\": {error}"),
                            path.clone(),
                        ),
                        warning("Failed", "Error: ErrImagePull".into(), path.clone()),
                    ]);
                    blocked.containers.push(waiting("ErrImagePull", error));
                    sooner(BACK_OFF_REPORT);
                } else if let Some(pulls) = tries.pulls.get_mut(&name) {
                    if !pulls.backing_off_reported {
                        pulls.backing_off_reported = true;
                        blocked.events.extend([
                            normal(
                                "BackOff",
                                format!("Back-off pulling image \"{image}\""),
                                path.clone(),
                            ),
                            warning("Failed", "Error: ImagePullBackOff".into(), path.clone()),
                        ]);
                    }
                    blocked.containers.push(waiting(
                        "ImagePullBackOff",
                        format!("Back-off pulling image \"{image}\": ErrImagePull: {error}"),
                    ));
                    sooner(pulls.remaining(now).max(Duration::from_millis(10)));
                }
                continue;
            }
            tries.pulls.remove(&name);
            if let Err(message) = env::container_env(pod, container, sources) {
                blocked
                    .events
                    .push(warning("Failed", format!("Error: {message}"), path));
                blocked
                    .containers
                    .push(waiting("CreateContainerConfigError", message));
            }
        }
        if blocked
            .containers
            .iter()
            .any(|w| w.reason == "CreateContainerConfigError")
        {
            sooner(next_delay(&mut tries.config_delay, MOST_CONFIG_RETRY));
        }
        if !blocked.containers.is_empty() {
            // Containers wait for the init containers before them.
            break;
        }
    }
    blocked.next = next.unwrap_or(MOST_CONFIG_RETRY);
    blocked
}

fn warning(reason: &'static str, message: String, field_path: Option<String>) -> PodEvent<'static> {
    PodEvent {
        warning: true,
        reason,
        message,
        field_path,
    }
}

fn normal(reason: &'static str, message: String, field_path: Option<String>) -> PodEvent<'static> {
    PodEvent {
        warning: false,
        ..warning(reason, message, field_path)
    }
}

/// The status of a pod whose containers wait: `Pending`, each container waiting with its reason,
/// and the pod IP once its sandbox exists (its volumes are set up).
pub fn waiting_status(
    pod: &Value,
    blocked: &Blocked,
    host_ip: &str,
    pod_ip: &str,
    now: &str,
) -> Value {
    let mounted = blocked.volumes.is_empty();
    let init_names = container_names(pod, "initContainers");
    let names = container_names(pod, "containers");
    let init_blocked = blocked.containers.iter().any(|w| w.init);
    let blocked_as = |name: &str, init: bool| {
        blocked
            .containers
            .iter()
            .find(|w| w.container == name && w.init == init)
    };
    let first_blocked_init = init_names
        .iter()
        .position(|(name, _)| blocked_as(name, true).is_some());
    // Containers not yet started wait as the kubelet reports them by default.
    let default_reason = match init_names.is_empty() {
        true => "ContainerCreating",
        false => "PodInitializing",
    };
    let state_of = |index: usize, name: &str, init: bool| -> Value {
        if let Some(w) = blocked_as(name, init) {
            return json!({"waiting": {"reason": w.reason, "message": w.message}});
        }
        let completed = init && mounted && first_blocked_init.is_none_or(|first| index < first);
        match completed {
            true => json!({"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": now, "finishedAt": now}}),
            false => json!({"waiting": {"reason": default_reason}}),
        }
    };
    let statuses = |list: &[(String, String)], init: bool| -> Vec<Value> {
        list.iter()
            .enumerate()
            .map(|(index, (name, image))| {
                json!({"name": name, "image": image, "imageID": "", "ready": false, "started": false,
                       "restartCount": 0, "state": state_of(index, name, init)})
            })
            .collect()
    };
    let unready: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    let mut conditions = vec![
        condition("PodReadyToStartContainers", mounted, now),
        condition(
            "Initialized",
            init_names.is_empty() || (mounted && !init_blocked),
            now,
        ),
        not_ready("Ready", &unready, now),
        not_ready("ContainersReady", &unready, now),
        condition("PodScheduled", true, now),
    ];
    if !init_names.is_empty() && (!mounted || init_blocked) {
        let pending: Vec<&str> = init_names.iter().map(|(n, _)| n.as_str()).collect();
        conditions[1]["reason"] = json!("ContainersNotInitialized");
        conditions[1]["message"] = json!(format!(
            "containers with incomplete status: [{}]",
            pending.join(" ")
        ));
    }
    let mut status = json!({
        "phase": "Pending",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": now,
        "qosClass": pod["status"]["qosClass"],
        "conditions": conditions,
        "containerStatuses": statuses(&names, false),
    });
    if mounted {
        status["podIP"] = json!(pod_ip);
        status["podIPs"] = json!([{"ip": pod_ip}]);
    }
    if !init_names.is_empty() {
        status["initContainerStatuses"] = Value::Array(statuses(&init_names, true));
    }
    status
}

fn not_ready(kind: &str, containers: &[&str], now: &str) -> Value {
    let mut c = condition(kind, false, now);
    c["reason"] = json!("ContainersNotReady");
    c["message"] = json!(format!(
        "containers with unready status: [{}]",
        containers.join(" ")
    ));
    c
}

#[cfg(test)]
#[path = "startup_tests.rs"]
mod tests;

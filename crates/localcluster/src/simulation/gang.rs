//! Batch schedulers that gang-schedule, as installing Volcano or the scheduler-plugins
//! coscheduling plugin adds them to a cluster: their PodGroup CRD is served, and a pod that
//! names their scheduler and a PodGroup is bound only once its group is admitted: the group's
//! `minResources` fit what the cluster has free (counting what other admitted groups still
//! hold for their pods to come) and at least `minMember` of its pods exist. A group that does not
//! fit keeps its pods Pending with an Unschedulable condition that names it, until another
//! group's pods end. The group's `status.phase` moves as its scheduler's does (Pending, then
//! Inqueue for Volcano or Scheduled for coscheduling, then Running).
//!
//! YuniKorn runs as a scheduler that places pods one by one: its task groups and placeholder
//! pods are not simulated. A pod whose `schedulerName` no installed scheduler has stays Pending
//! with no condition, as in a cluster without that scheduler.

use std::collections::HashMap;
use std::sync::Arc;

use kube::Client;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::warn;

use super::State;
use super::resources::Resources;
use crate::quantity::Quantity;

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
const VOLCANO_GROUP_ANNOTATION: &str = "scheduling.k8s.io/group-name";
const COSCHEDULING_GROUP_LABEL: &str = "scheduling.x-k8s.io/pod-group";
const VOLCANO_CRD: &str = include_str!("crds/volcano-podgroup.yaml");
const COSCHEDULING_CRD: &str = include_str!("crds/coscheduling-podgroup.yaml");

/// A batch scheduler the cluster runs besides the default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchScheduler {
    Volcano,
    YuniKorn,
    /// A scheduler-plugins scheduler with the coscheduling plugin, by its `schedulerName`.
    Coscheduling(String),
}

impl std::str::FromStr for BatchScheduler {
    type Err = String;

    /// `volcano`, `yunikorn` or `coscheduling=NAME`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            None if text == "volcano" => Ok(Self::Volcano),
            None if text == "yunikorn" => Ok(Self::YuniKorn),
            Some(("coscheduling", name)) if !name.is_empty() => {
                Ok(Self::Coscheduling(name.to_string()))
            }
            _ => Err(format!(
                "batch scheduler {text:?}: expected volcano, yunikorn or coscheduling=SCHEDULER_NAME"
            )),
        }
    }
}

impl BatchScheduler {
    /// The `schedulerName` of the pods it places.
    pub fn name(&self) -> &str {
        match self {
            Self::Volcano => "volcano",
            Self::YuniKorn => "yunikorn",
            Self::Coscheduling(name) => name,
        }
    }

    fn crd(&self) -> Option<&'static str> {
        match self {
            Self::Volcano => Some(VOLCANO_CRD),
            Self::Coscheduling(_) => Some(COSCHEDULING_CRD),
            Self::YuniKorn => None,
        }
    }

    /// The group of `pod`, which this scheduler places.
    fn group_of(&self, pod: &Value, namespace: &str) -> Option<Group> {
        let (name, api_version, admitted_phase) = match self {
            Self::Volcano => (
                pod["metadata"]["annotations"][VOLCANO_GROUP_ANNOTATION].as_str()?,
                "scheduling.volcano.sh/v1beta1",
                "Inqueue",
            ),
            Self::Coscheduling(_) => (
                pod["metadata"]["labels"][COSCHEDULING_GROUP_LABEL].as_str()?,
                "scheduling.x-k8s.io/v1alpha1",
                "Scheduled",
            ),
            Self::YuniKorn => return None,
        };
        Some(Group {
            path: format!("/apis/{api_version}/namespaces/{namespace}/podgroups/{name}"),
            name: format!("{namespace}/{name}"),
            admitted_phase,
        })
    }
}

/// Creates the CRDs of `schedulers`, as their installations do.
pub async fn install(client: &Client, schedulers: &[BatchScheduler]) -> anyhow::Result<()> {
    for crd in schedulers.iter().filter_map(BatchScheduler::crd) {
        let body: Value = serde_yaml::from_str(crd)?;
        let request =
            http::Request::post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body)?)?;
        match client.request::<Value>(request).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// A PodGroup, by where it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    path: String,
    /// `namespace/name`.
    name: String,
    admitted_phase: &'static str,
}

/// What the scheduler does with a pod.
pub(super) enum Placement {
    /// No installed scheduler has its `schedulerName`: nobody binds it.
    Nobody,
    /// Placed on its own, as the default scheduler does.
    Alone,
    /// Placed once its group is admitted.
    InGroup(Group),
}

/// Who places `pod` in a cluster running `schedulers`.
pub(super) fn placement(pod: &Value, schedulers: &[BatchScheduler]) -> Placement {
    let name = pod["spec"]["schedulerName"]
        .as_str()
        .unwrap_or(DEFAULT_SCHEDULER);
    if name == DEFAULT_SCHEDULER {
        return Placement::Alone;
    }
    let Some(scheduler) = schedulers.iter().find(|s| s.name() == name) else {
        return Placement::Nobody;
    };
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    match scheduler.group_of(pod, namespace) {
        Some(group) => Placement::InGroup(group),
        None => Placement::Alone,
    }
}

/// The admitted groups and their members, kept with the scheduler's state.
#[derive(Debug, Default)]
pub(super) struct Gangs {
    /// Admitted groups: what they hold, and whether their phase is Running yet.
    admitted: HashMap<String, Admitted>,
    /// The group of each bound member, by pod key.
    members: HashMap<String, String>,
}

#[derive(Debug)]
struct Admitted {
    min_resources: Resources,
    min_member: usize,
    running: bool,
}

impl Gangs {
    fn bound_members<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.members
            .iter()
            .filter(move |(_, g)| g.as_str() == group)
            .map(|(pod, _)| pod)
    }

    /// What admitted groups other than `except` still hold for their pods to come.
    fn held(&self, state_bound: &HashMap<String, (String, Resources)>, except: &str) -> Resources {
        let mut held = Resources::default();
        for (group, admitted) in &self.admitted {
            if group == except {
                continue;
            }
            let bound = self
                .bound_members(group)
                .filter_map(|pod| state_bound.get(pod).map(|(_, r)| *r))
                .fold(Resources::default(), |sum, r| sum.add(&r));
            held = held.add(&admitted.min_resources.saturating_sub(&bound));
        }
        held
    }
}

/// Admits the group of the pod `pod_key` if it can be, or says why its pods wait.
pub(super) async fn admit(
    client: &Client,
    state: &Arc<Mutex<State>>,
    pod_key: &str,
    group: &Group,
) -> Result<(), String> {
    let stored = read_group(client, group).await?;
    let min_member = stored["spec"]["minMember"].as_u64().unwrap_or(1) as usize;
    let min_resources = resources_of(&stored["spec"]["minResources"]);
    let newly = {
        let mut state = state.lock().await;
        let present = present_members(&state, group, pod_key);
        if present < min_member {
            return Err(format!(
                "pod group {} is not ready: {present} of its minMember {min_member} pods exist",
                group.name
            ));
        }
        if state.gangs.admitted.contains_key(&group.name) {
            false
        } else {
            let total = state
                .nodes
                .iter()
                .fold(Resources::default(), |sum, n| sum.add(&n.allocatable));
            let allocated = state
                .nodes
                .iter()
                .fold(Resources::default(), |sum, n| sum.add(&n.allocated));
            let held = state.gangs.held(&state.bound, &group.name);
            let free = total.saturating_sub(&allocated).saturating_sub(&held);
            if min_resources.millicores > free.millicores || min_resources.bytes > free.bytes {
                return Err(format!(
                    "pod group {} is Pending: its minResources ({}) do not fit what the cluster has free ({})",
                    group.name,
                    describe(&min_resources),
                    describe(&free)
                ));
            }
            state.gangs.admitted.insert(
                group.name.clone(),
                Admitted {
                    min_resources,
                    min_member,
                    running: false,
                },
            );
            true
        }
    };
    if newly {
        set_phase(client, &group.path, group.admitted_phase).await;
    }
    Ok(())
}

/// The group's pods that exist: bound ones, ones waiting for room, and `pod_key`.
fn present_members(state: &State, group: &Group, pod_key: &str) -> usize {
    let bound = state.gangs.bound_members(&group.name).count();
    let waiting = state
        .unschedulable
        .iter()
        .filter(|(key, (pod, _))| {
            key.as_str() != pod_key
                && serde_json::to_value(pod).is_ok_and(|pod| {
                    matches!(placement(&pod, &state.batch_schedulers), Placement::InGroup(g) if g == *group)
                })
        })
        .count();
    bound + waiting + 1
}

/// Records `pod_key` as a bound member of `group`; the group's phase is Running once
/// `minMember` of its pods are bound.
pub(super) async fn bound(
    client: &Client,
    state: &Arc<Mutex<State>>,
    pod_key: &str,
    group: &Group,
) {
    let now_running = {
        let mut state = state.lock().await;
        let gangs = &mut state.gangs;
        gangs
            .members
            .insert(pod_key.to_string(), group.name.clone());
        let count = gangs.bound_members(&group.name).count();
        match gangs.admitted.get_mut(&group.name) {
            Some(admitted) if !admitted.running && count >= admitted.min_member => {
                admitted.running = true;
                true
            }
            _ => false,
        }
    };
    if now_running {
        set_phase(client, &group.path, "Running").await;
    }
}

/// A member ended: a group whose pods have all ended holds nothing any more.
pub(super) fn ended(state: &mut State, pod_key: &str) {
    let Some(group) = state.gangs.members.remove(pod_key) else {
        return;
    };
    if state.gangs.bound_members(&group).next().is_none() {
        state.gangs.admitted.remove(&group);
    }
}

async fn read_group(client: &Client, group: &Group) -> Result<Value, String> {
    let request = http::Request::get(&group.path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match client.request::<Value>(request).await {
        Ok(stored) => Ok(stored),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            Err(format!("pod group {} does not exist", group.name))
        }
        Err(error) => Err(format!("reading pod group {}: {error}", group.name)),
    }
}

async fn set_phase(client: &Client, path: &str, phase: &str) {
    let body = json!({"status": {"phase": phase}});
    let request = http::Request::patch(format!("{path}/status"))
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string().into_bytes());
    if let Ok(request) = request
        && let Err(error) = client.request::<Value>(request).await
    {
        warn!(%path, %error, "setting the pod group's phase failed");
    }
}

/// `minResources` as the scheduler compares them.
fn resources_of(list: &Value) -> Resources {
    let get = |name: &str| {
        match &list[name] {
            Value::String(text) => Quantity::parse(text),
            Value::Number(number) => Quantity::parse(&number.to_string()),
            _ => None,
        }
        .unwrap_or_else(Quantity::zero)
    };
    let as_u64 = |value: i128| u64::try_from(value.max(0)).unwrap_or(u64::MAX);
    Resources {
        millicores: as_u64(get("cpu").milli_value()),
        bytes: as_u64(get("memory").value()),
        pods: 0,
    }
}

fn describe(resources: &Resources) -> String {
    format!(
        "cpu {}m, memory {}Mi",
        resources.millicores,
        resources.bytes >> 20
    )
}

/// Whether any group holds room: waiting pods are then retried on a timer, since a group's
/// deletion frees room without a pod event.
pub(super) fn any_waiting_in_groups(state: &State) -> bool {
    !state.batch_schedulers.is_empty() && !state.unschedulable.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedulers_parse_from_their_flag() {
        assert_eq!("volcano".parse(), Ok(BatchScheduler::Volcano));
        assert_eq!(
            "coscheduling=scheduler-plugins-scheduler".parse(),
            Ok(BatchScheduler::Coscheduling(
                "scheduler-plugins-scheduler".into()
            ))
        );
        assert!(
            "kueue"
                .parse::<BatchScheduler>()
                .unwrap_err()
                .contains("coscheduling=SCHEDULER_NAME")
        );
    }

    #[test]
    fn pods_go_to_the_scheduler_they_name_and_groups_by_annotation_or_label() {
        let installed = [
            BatchScheduler::Volcano,
            BatchScheduler::Coscheduling("co".into()),
        ];
        let pod = |scheduler: &str, metadata: Value| {
            let mut metadata = metadata;
            metadata["namespace"] = json!("jobs");
            json!({"metadata": metadata, "spec": {"schedulerName": scheduler}})
        };
        assert!(matches!(
            placement(&json!({"spec": {}}), &installed),
            Placement::Alone
        ));
        assert!(matches!(
            placement(&pod("yunikorn", json!({})), &installed),
            Placement::Nobody
        ));
        let volcano = pod(
            "volcano",
            json!({"annotations": {VOLCANO_GROUP_ANNOTATION: "spark-pi-pg"}}),
        );
        match placement(&volcano, &installed) {
            Placement::InGroup(group) => {
                assert_eq!(
                    group.path,
                    "/apis/scheduling.volcano.sh/v1beta1/namespaces/jobs/podgroups/spark-pi-pg"
                );
                assert_eq!(group.admitted_phase, "Inqueue");
            }
            _ => panic!("a Volcano group member"),
        }
        let co = pod("co", json!({"labels": {COSCHEDULING_GROUP_LABEL: "pi-pg"}}));
        assert!(
            matches!(placement(&co, &installed), Placement::InGroup(g) if g.name == "jobs/pi-pg")
        );
        assert!(matches!(
            placement(&pod("volcano", json!({})), &installed),
            Placement::Alone
        ));
    }

    #[test]
    fn min_resources_read_as_quantities() {
        let resources = resources_of(&json!({"cpu": "2500m", "memory": "2688Mi"}));
        assert_eq!((resources.millicores, resources.bytes), (2500, 2688 << 20));
        assert_eq!(resources_of(&json!({"cpu": 3})).millicores, 3000);
    }
}

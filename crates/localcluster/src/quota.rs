//! ResourceQuota accounting, shared by the quota admission plugin (which charges a new object to
//! the quotas of its namespace) and the quota controller (which recomputes `status.used`): what an
//! object of a resource uses, which of a quota's resources that covers, and whether the quota's
//! scopes select it. As Kubernetes' quota evaluators do it: pods use `pods`, `count/pods`, CPU and
//! memory requests and limits (nothing but `count/pods` once ended); Services use `services` and
//! their node ports and load balancers; every other resource uses `count/<resource>` (and its
//! legacy name, such as `configmaps`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::kinds::ResourceType;
use crate::meta;
use crate::pod_resources;
use crate::quantity::{self, Quantity, ResourceList};

/// Resources whose quota needs every container to say its requests or limits.
const POD_VALIDATED: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// The pod resources quota knows besides `count/pods` and extended `requests.*` ones.
const POD_RESOURCES: [&str; 10] = [
    "pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

/// Legacy names of object counts.
const LEGACY_COUNTS: [&str; 6] = [
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
    "services",
];

/// How objects of one resource are accounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluator {
    Pods,
    Services,
    /// Objects counted as `count/<qualified resource>`, and by `legacy` name for some.
    Counted {
        qualified: String,
        legacy: Option<&'static str>,
    },
}

impl Evaluator {
    /// The evaluator of objects stored under `qualified` (`pods`, `deployments.apps`).
    pub fn for_storage(qualified: &str) -> Evaluator {
        match qualified {
            "pods" => Evaluator::Pods,
            "services" => Evaluator::Services,
            other => Evaluator::Counted {
                qualified: other.to_string(),
                legacy: LEGACY_COUNTS.iter().find(|l| **l == other).copied(),
            },
        }
    }

    pub fn for_resource(resource: &ResourceType) -> Evaluator {
        Self::for_storage(&resource.storage)
    }

    /// The storage key of the objects it accounts.
    pub fn storage(&self) -> &str {
        match self {
            Evaluator::Pods => "pods",
            Evaluator::Services => "services",
            Evaluator::Counted { qualified, .. } => qualified,
        }
    }

    /// Which of `names` (a quota's resources) this evaluator accounts.
    pub fn matching<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        names
            .into_iter()
            .filter(|name| self.accounts(name))
            .cloned()
            .collect()
    }

    fn accounts(&self, name: &str) -> bool {
        let count = format!("count/{}", self.storage());
        if name == count {
            return true;
        }
        match self {
            Evaluator::Pods => {
                POD_RESOURCES.contains(&name)
                    || name.starts_with("hugepages-")
                    || name.starts_with("requests.hugepages-")
                    || name
                        .strip_prefix("requests.")
                        .is_some_and(|resource| resource.contains('/'))
            }
            Evaluator::Services => matches!(
                name,
                "services" | "services.loadbalancers" | "services.nodeports"
            ),
            Evaluator::Counted { legacy, .. } => legacy.is_some_and(|l| l == name),
        }
    }

    /// Whether `quota` covers `object`: it limits something this evaluator accounts, and its
    /// scopes (only pods have any) all select the object.
    pub fn matches(&self, quota: &Value, object: &Value) -> bool {
        let hard = hard(quota);
        if self.matching(hard.keys()).is_empty() {
            return false;
        }
        self.in_scopes(quota, object)
    }

    /// Whether the quota's scopes all select `object` (only pods can be selected by a scope).
    pub fn in_scopes(&self, quota: &Value, object: &Value) -> bool {
        let scopes = scopes(quota);
        match self {
            Evaluator::Pods => scopes.iter().all(|scope| scope.selects(object)),
            _ => scopes.is_empty(),
        }
    }

    /// What `object` uses.
    pub fn usage(&self, object: &Value) -> ResourceList {
        let one = Quantity::from_count(1);
        let mut usage = ResourceList::from([(format!("count/{}", self.storage()), one)]);
        match self {
            Evaluator::Pods => {
                if charged(object) {
                    usage.insert("pods".into(), one);
                    usage.extend(compute_usage(
                        &pod_resources::requests(object),
                        &pod_resources::limits(object),
                    ));
                }
            }
            Evaluator::Services => {
                let kind = object["spec"]["type"].as_str().unwrap_or("ClusterIP");
                let ports = object["spec"]["ports"].as_array().map_or(0, Vec::len) as i64;
                let node_ports = match kind {
                    "NodePort" | "LoadBalancer" => ports,
                    _ => 0,
                };
                usage.insert("services".into(), one);
                usage.insert(
                    "services.loadbalancers".into(),
                    Quantity::from_count(i64::from(kind == "LoadBalancer")),
                );
                usage.insert(
                    "services.nodeports".into(),
                    Quantity::from_count(node_ports),
                );
            }
            Evaluator::Counted { legacy, .. } => {
                if let Some(legacy) = legacy {
                    usage.insert(legacy.to_string(), one);
                }
            }
        }
        usage
    }

    /// Refuses a pod some container of which does not say the requests or limits a quota of
    /// `required` resources needs (`must specify limits.cpu for: main; ...`).
    pub fn constraints(&self, required: &[String], object: &Value) -> Result<(), String> {
        if *self != Evaluator::Pods {
            return Ok(());
        }
        let required: BTreeSet<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|r| POD_VALIDATED.contains(r))
            .collect();
        let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for list in ["containers", "initContainers"] {
            for container in object["spec"][list].as_array().into_iter().flatten() {
                let has = compute_usage(
                    &pod_resources::container(container, "requests"),
                    &pod_resources::container(container, "limits"),
                );
                for resource in &required {
                    if !has.contains_key(*resource) {
                        let name = container["name"].as_str().unwrap_or_default();
                        missing.entry(resource).or_default().insert(name.into());
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(resource, containers)| {
                let names: Vec<&str> = containers.iter().map(String::as_str).collect();
                format!("{resource} for: {}", names.join(","))
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }
}

/// The compute resources of requests and limits, under quota's names.
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut usage = ResourceList::new();
    for resource in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(request) = requests.get(resource) {
            usage.insert(resource.to_string(), *request);
            usage.insert(format!("requests.{resource}"), *request);
        }
        if let Some(limit) = limits.get(resource) {
            usage.insert(format!("limits.{resource}"), *limit);
        }
    }
    for (resource, request) in requests {
        if resource.starts_with("hugepages-") {
            usage.insert(resource.clone(), *request);
            usage.insert(format!("requests.{resource}"), *request);
        } else if resource.contains('/') {
            usage.insert(format!("requests.{resource}"), *request);
        }
    }
    usage
}

/// Whether a pod is charged compute resources: not when it has ended, or when its deletion's
/// grace period is over.
fn charged(pod: &Value) -> bool {
    if matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) {
        return false;
    }
    let deadline = meta::deletion_timestamp(pod).and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let grace = pod["metadata"]["deletionGracePeriodSeconds"].as_i64();
    match (deadline, grace) {
        (Some(deadline), Some(grace)) => {
            let end = deadline + jiff::SignedDuration::from_secs(grace);
            jiff::Timestamp::now() <= end
        }
        _ => true,
    }
}

/// One scope of a quota, as `scopes` or a `scopeSelector` expression.
#[derive(Debug, Clone)]
pub struct Scope {
    pub name: String,
    pub operator: String,
    pub values: Vec<String>,
}

impl Scope {
    fn selects(&self, pod: &Value) -> bool {
        let terminating = pod["spec"]["activeDeadlineSeconds"]
            .as_i64()
            .is_some_and(|s| s >= 0);
        let best_effort = pod_resources::qos_class(pod) == "BestEffort";
        match self.name.as_str() {
            "Terminating" => terminating,
            "NotTerminating" => !terminating,
            "BestEffort" => best_effort,
            "NotBestEffort" => !best_effort,
            "PriorityClass" => {
                let class = pod["spec"]["priorityClassName"]
                    .as_str()
                    .filter(|c| !c.is_empty());
                match (self.operator.as_str(), class) {
                    ("Exists", class) => class.is_some(),
                    ("DoesNotExist", class) => class.is_none(),
                    ("In", Some(class)) => self.values.iter().any(|v| v == class),
                    ("In", None) => false,
                    ("NotIn", class) => class.is_none_or(|c| !self.values.iter().any(|v| v == c)),
                    _ => false,
                }
            }
            "CrossNamespacePodAffinity" => {
                let affinity = &pod["spec"]["affinity"];
                ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
                    let terms = &affinity[kind];
                    let required = terms["requiredDuringSchedulingIgnoredDuringExecution"]
                        .as_array()
                        .into_iter()
                        .flatten();
                    let preferred = terms["preferredDuringSchedulingIgnoredDuringExecution"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| &t["podAffinityTerm"]);
                    required.chain(preferred).any(|term| {
                        term["namespaces"].as_array().is_some_and(|n| !n.is_empty())
                            || term["namespaceSelector"].is_object()
                    })
                })
            }
            _ => false,
        }
    }
}

/// The scopes of a quota: `spec.scopes` (as `Exists`) and `spec.scopeSelector`.
pub fn scopes(quota: &Value) -> Vec<Scope> {
    let listed = quota["spec"]["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| Scope {
            name: name.to_string(),
            operator: "Exists".into(),
            values: Vec::new(),
        });
    let selected = quota["spec"]["scopeSelector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Scope {
            name: e["scopeName"].as_str().unwrap_or_default().to_string(),
            operator: e["operator"].as_str().unwrap_or_default().to_string(),
            values: e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        });
    listed.chain(selected).collect()
}

/// What the quota enforces: `status.hard`, which the quota controller copies from the spec (a
/// quota not yet seen by it enforces nothing, as in Kubernetes).
pub fn hard(quota: &Value) -> ResourceList {
    quantity::resource_list(&quota["status"]["hard"])
}

pub fn used(quota: &Value) -> ResourceList {
    quantity::resource_list(&quota["status"]["used"])
}

/// The resources a quota limits, by evaluator: which evaluator accounts each name.
pub fn evaluators_of(hard: &ResourceList) -> Vec<Evaluator> {
    let mut found: Vec<Evaluator> = Vec::new();
    for name in hard.keys() {
        let evaluator = if let Some(qualified) = name.strip_prefix("count/") {
            Evaluator::for_storage(qualified)
        } else if Evaluator::Pods.accounts(name) {
            Evaluator::Pods
        } else if Evaluator::Services.accounts(name) {
            Evaluator::Services
        } else if let Some(legacy) = LEGACY_COUNTS.iter().find(|l| **l == name) {
            Evaluator::for_storage(legacy)
        } else {
            continue;
        };
        if !found.contains(&evaluator) {
            found.push(evaluator);
        }
    }
    found
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;

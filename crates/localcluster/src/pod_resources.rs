//! What a pod requests and limits as a whole, as Kubernetes adds its containers up for the
//! scheduler and for quota: the sum of its containers, or the largest init container's where that
//! is larger, plus the pod's `overhead`.

use serde_json::Value;

use crate::quantity::{self, Quantity, ResourceList};

/// `requests` or `limits` of one container.
pub fn container(container: &Value, which: &str) -> ResourceList {
    quantity::resource_list(&container["resources"][which])
}

fn containers<'a>(pod: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    pod["spec"][list].as_array().into_iter().flatten()
}

/// The pod's `requests` (`which` = "requests") or `limits` (`which` = "limits").
fn aggregate(pod: &Value, which: &str) -> ResourceList {
    let mut total = ResourceList::new();
    for c in containers(pod, "containers") {
        total = quantity::add(&total, &container(c, which));
    }
    for init in containers(pod, "initContainers") {
        for (name, value) in container(init, which) {
            let larger = total.get(&name).is_none_or(|current| value > *current);
            if larger {
                total.insert(name, value);
            }
        }
    }
    let overhead = quantity::resource_list(&pod["spec"]["overhead"]);
    if !overhead.is_empty() {
        // Overhead counts only for what the containers ask for at all.
        let counted: ResourceList = overhead
            .into_iter()
            .filter(|(name, _)| which == "requests" || total.contains_key(name))
            .collect();
        total = quantity::add(&total, &counted);
    }
    total
}

/// What the pod requests: the scheduler fits this on a node and quota charges it.
pub fn requests(pod: &Value) -> ResourceList {
    aggregate(pod, "requests")
}

/// What the pod is limited to.
pub fn limits(pod: &Value) -> ResourceList {
    aggregate(pod, "limits")
}

/// One resource of a list, zero when absent.
pub fn get(list: &ResourceList, name: &str) -> Quantity {
    list.get(name).copied().unwrap_or_else(Quantity::zero)
}

/// Guaranteed, Burstable or BestEffort, from the containers' requests and limits.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .collect();
    let section = |c: &Value, which: &str| {
        c.pointer(&format!("/resources/{which}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let any_set = containers
        .iter()
        .any(|c| !section(c, "requests").is_empty() || !section(c, "limits").is_empty());
    if !any_set {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = section(c, "limits");
        let requests = section(c, "requests");
        ["cpu", "memory"].iter().all(|r| {
            let limit = limits.get(*r);
            limit.is_some() && requests.get(*r).is_none_or(|req| Some(req) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_add_up_and_a_larger_init_container_wins() {
        let pod = json!({"spec": {
        "initContainers": [{"resources": {"requests": {"cpu": "3"}}}],
        "containers": [
            {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}},
            {"resources": {"requests": {"cpu": "1", "memory": "512Mi"}}},
        ]}});
        let requests = requests(&pod);
        assert_eq!(requests["cpu"].to_string(), "3");
        assert_eq!(requests["memory"].to_string(), "1536Mi");
        assert_eq!(limits(&pod)["memory"].to_string(), "2Gi");
        assert!(!limits(&pod).contains_key("cpu"));
    }
}

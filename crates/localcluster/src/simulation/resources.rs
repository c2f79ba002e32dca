//! CPU, memory and pod slots of nodes and pods, in the units the scheduler compares: millicores,
//! bytes and pods.

use serde_json::Value;

use crate::pod_resources;
use crate::quantity::{Quantity, ResourceList};

/// An amount of CPU, memory and pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub millicores: u64,
    pub bytes: u64,
    pub pods: u64,
}

impl Resources {
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            millicores: self.millicores.saturating_sub(other.millicores),
            bytes: self.bytes.saturating_sub(other.bytes),
            pods: self.pods.saturating_sub(other.pods),
        }
    }

    pub fn add(&self, other: &Resources) -> Resources {
        Resources {
            millicores: self.millicores + other.millicores,
            bytes: self.bytes + other.bytes,
            pods: self.pods + other.pods,
        }
    }

    /// A node's `status.allocatable` (or `capacity`).
    pub fn of_list(list: &ResourceList) -> Resources {
        let get = |name: &str| pod_resources::get(list, name);
        Resources {
            millicores: clamp(get("cpu").milli_value()),
            bytes: clamp(get("memory").value()),
            pods: clamp(get("pods").value()),
        }
    }
}

fn clamp(value: i128) -> u64 {
    u64::try_from(value.max(0)).unwrap_or(u64::MAX)
}

/// What a pod asks for, as the Kubernetes scheduler counts it (see [`pod_resources::requests`]);
/// a limit without a request counts as the request, as the API server defaults it. A pod takes
/// one pod slot.
pub fn pod_requests(pod: &Value) -> Resources {
    let requests = pod_resources::requests(pod);
    let limits = pod_resources::limits(pod);
    let either = |name: &str| {
        requests
            .get(name)
            .or_else(|| limits.get(name))
            .copied()
            .unwrap_or_else(Quantity::zero)
    };
    Resources {
        millicores: clamp(either("cpu").milli_value()),
        bytes: clamp(either("memory").value()),
        pods: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_add_up_and_limits_stand_in_for_missing_requests() {
        let pod = json!({"spec": {"containers": [
            {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            {"resources": {"limits": {"cpu": "1", "memory": "128Mi"}}},
            {}
        ]}});
        assert_eq!(
            pod_requests(&pod),
            Resources {
                millicores: 500,
                bytes: 1 << 30,
                pods: 1
            }
        );
        let limited = json!({"spec": {"containers": [
            {"resources": {"limits": {"cpu": "1", "memory": "128Mi"}}}]}});
        assert_eq!(
            pod_requests(&limited),
            Resources {
                millicores: 1000,
                bytes: 128 << 20,
                pods: 1
            }
        );
    }

    #[test]
    fn a_larger_init_container_sets_the_request() {
        let pod = json!({"spec": {
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
            "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Mi"}}}]}});
        assert_eq!(
            pod_requests(&pod),
            Resources {
                millicores: 2000,
                bytes: 1 << 20,
                pods: 1
            }
        );
    }
}

//! CPU and memory of nodes and pods, in the units the scheduler compares: millicores and bytes.

use serde_json::Value;

/// An amount of CPU and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub millicores: u64,
    pub bytes: u64,
}

impl Resources {
    pub fn fits_in(&self, free: &Resources) -> bool {
        self.millicores <= free.millicores && self.bytes <= free.bytes
    }

    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            millicores: self.millicores.saturating_sub(other.millicores),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }

    pub fn add(&self, other: &Resources) -> Resources {
        Resources {
            millicores: self.millicores + other.millicores,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// What a pod asks for, as the Kubernetes scheduler counts it: the sum of its containers'
/// requests, or the largest init container's if that is larger.
pub fn pod_requests(pod: &Value) -> Resources {
    let sum = |containers: Option<&Value>| -> Resources {
        containers
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(container_requests)
            .fold(Resources::default(), |a, b| a.add(&b))
    };
    let max_init = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(container_requests)
        .fold(Resources::default(), |a, b| Resources {
            millicores: a.millicores.max(b.millicores),
            bytes: a.bytes.max(b.bytes),
        });
    let main = sum(pod["spec"].get("containers"));
    Resources {
        millicores: main.millicores.max(max_init.millicores),
        bytes: main.bytes.max(max_init.bytes),
    }
}

/// A container's requests; a limit without a request counts as the request, as Kubernetes defaults it.
fn container_requests(container: &Value) -> Resources {
    let resources = &container["resources"];
    let get = |name: &str| {
        resources["requests"][name]
            .as_str()
            .or_else(|| resources["limits"][name].as_str())
            .and_then(parse_quantity)
            .unwrap_or(0.0)
    };
    Resources {
        millicores: (get("cpu") * 1000.0).ceil() as u64,
        bytes: get("memory").ceil() as u64,
    }
}

/// A Kubernetes quantity as a number (`500m` is 0.5, `1Gi` is 1073741824).
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => 10f64.powi(exponent.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    Some(value * multiplier)
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
                millicores: 1500,
                bytes: (1024 + 128) << 20
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
                bytes: 1 << 20
            }
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("1408Mi"), Some(1408.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("nonsense"), None);
    }
}

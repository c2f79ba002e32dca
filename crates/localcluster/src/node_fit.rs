//! Whether a pod may go to a node by the node's name, labels and taints: the predicates the
//! scheduler filters nodes with and the DaemonSet controller chooses its nodes with. Kubernetes
//! shares them between the two (the scheduler's `NodeAffinity` and `TaintToleration` plugins are
//! what `daemon.NodeShouldRunDaemonPod` calls), so one place keeps them from drifting apart.

use std::collections::BTreeMap;

use serde_json::Value;

/// The name, labels and taints of a node, as the predicates read them.
#[derive(Debug, Clone, Copy)]
pub struct NodeFacts<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub taints: &'a [Value],
}

/// A node's labels as strings.
pub fn labels_of(node: &Value) -> BTreeMap<String, String> {
    node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The pod's `nodeSelector` labels are all on the node.
pub fn selector_matches(pod: &Value, node: NodeFacts) -> bool {
    pod["spec"]["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| node.labels.get(key).map(String::as_str) == value.as_str())
}

/// `requiredDuringSchedulingIgnoredDuringExecution` node affinity: any term matches (all of its
/// expressions and fields do).
pub fn affinity_matches(pod: &Value, node: NodeFacts) -> bool {
    let required =
        &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let Some(terms) = required["nodeSelectorTerms"].as_array() else {
        return true;
    };
    terms.iter().any(|term| {
        let expressions = term["matchExpressions"].as_array().into_iter().flatten();
        let fields = term["matchFields"].as_array().into_iter().flatten();
        let has_any = term["matchExpressions"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
            || term["matchFields"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
        has_any
            && expressions.clone().all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                requirement(e, node.labels.get(key).map(String::as_str))
            })
            && fields.clone().all(|e| {
                let value = (e["key"] == "metadata.name").then_some(node.name);
                requirement(e, value)
            })
    })
}

fn requirement(expression: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = expression["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let number = |text: &str| text.parse::<i64>().ok();
    let bound = values.first().and_then(|v| number(v));
    match expression["operator"].as_str().unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => matches!((value.and_then(number), bound), (Some(v), Some(b)) if v > b),
        "Lt" => matches!((value.and_then(number), bound), (Some(v), Some(b)) if v < b),
        _ => false,
    }
}

/// The toleration tolerates the taint.
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let key = toleration["key"].as_str().unwrap_or_default();
    let effect = toleration["effect"].as_str().unwrap_or_default();
    let key_matches = key.is_empty() || Some(key) == taint["key"].as_str();
    let effect_matches = effect.is_empty() || Some(effect) == taint["effect"].as_str();
    let value_matches = match toleration["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        _ => {
            toleration["value"].as_str().unwrap_or_default()
                == taint["value"].as_str().unwrap_or_default()
        }
    };
    key_matches && effect_matches && value_matches
}

/// The first of the node's taints with one of `effects` that the pod does not tolerate.
pub fn untolerated_taint<'a>(
    pod: &Value,
    node: NodeFacts<'a>,
    effects: &[&str],
) -> Option<&'a Value> {
    let tolerations = pod["spec"]["tolerations"].as_array();
    node.taints.iter().find(|taint| {
        taint["effect"]
            .as_str()
            .is_some_and(|effect| effects.contains(&effect))
            && !tolerations
                .into_iter()
                .flatten()
                .any(|t| tolerates(t, taint))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts<'a>(labels: &'a BTreeMap<String, String>, taints: &'a [Value]) -> NodeFacts<'a> {
        NodeFacts {
            name: "node-a",
            labels,
            taints,
        }
    }

    #[test]
    fn selectors_and_affinity_read_labels_and_the_node_name() {
        let labels = BTreeMap::from([("disk".to_string(), "ssd".to_string())]);
        let node = facts(&labels, &[]);
        assert!(selector_matches(
            &json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
            node
        ));
        assert!(!selector_matches(
            &json!({"spec": {"nodeSelector": {"disk": "hdd"}}}),
            node
        ));
        let by_name = |name: &str| {
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [name]}]}]}}}}})
        };
        assert!(affinity_matches(&by_name("node-a"), node));
        assert!(!affinity_matches(&by_name("node-b"), node));
    }

    #[test]
    fn only_taints_of_the_given_effects_count() {
        let labels = BTreeMap::new();
        let taints = [json!({"key": "gpu", "value": "yes", "effect": "NoSchedule"})];
        let node = facts(&labels, &taints);
        let bare = json!({"spec": {}});
        assert!(untolerated_taint(&bare, node, &["NoSchedule"]).is_some());
        assert!(untolerated_taint(&bare, node, &["NoExecute"]).is_none());
        let tolerant = json!({"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}});
        assert!(untolerated_taint(&tolerant, node, &["NoSchedule"]).is_none());
    }
}

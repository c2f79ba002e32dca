//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/{group}` and the APIResourceList of
//! each group version, generated from the served kinds ([`Kinds`]).

use serde_json::{Value, json};

use crate::kinds::{Kinds, ResourceType};

/// The Kubernetes version this server reports (kubectl warns beyond one minor version of skew).
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "32");

pub fn version() -> Value {
    let (major, minor) = KUBERNETES_VERSION;
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{major}.{minor}.0-localcluster"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": entries,
        "preferredVersion": entries.first().cloned().unwrap_or(Value::Null),
    })
}

pub fn groups(kinds: &Kinds) -> Value {
    let groups: Vec<Value> = kinds
        .groups()
        .iter()
        .map(|g| group_json(&g.group, &g.versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(kinds: &Kinds, name: &str) -> Option<Value> {
    let found = kinds.groups().into_iter().find(|g| g.group == name)?;
    let mut group = group_json(&found.group, &found.versions);
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    Some(group)
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn subresource_entry(resource: &ResourceType, subresource: &str) -> Value {
    let (kind, verbs, group_version): (&str, &[&str], Option<(&str, &str)>) = match subresource {
        "status" => (&resource.kind, &["get", "patch", "update"], None),
        "scale" => (
            "Scale",
            &["get", "patch", "update"],
            Some(("autoscaling", "v1")),
        ),
        "log" => ("Pod", &["get"], None),
        "binding" => ("Binding", &["create"], None),
        "eviction" => ("Eviction", &["create"], Some(("policy", "v1"))),
        "finalize" => (&resource.kind, &["update"], None),
        // Connect subresources: a POST (SPDY) or a GET (WebSocket) opens them.
        "exec" => ("PodExecOptions", &["create", "get"], None),
        "attach" => ("PodAttachOptions", &["create", "get"], None),
        "portforward" => ("PodPortForwardOptions", &["create", "get"], None),
        _ => (&resource.kind, &["get"], None),
    };
    let mut entry = json!({
        "name": format!("{}/{subresource}", resource.plural),
        "singularName": "",
        "namespaced": resource.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if let Some((group, version)) = group_version {
        entry["group"] = json!(group);
        entry["version"] = json!(version);
    }
    entry
}

pub fn resource_list(kinds: &Kinds, group: &str, version: &str) -> Option<Value> {
    let resources = kinds.resources_in(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut entries = Vec::new();
    for resource in &resources {
        let mut entry = json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": VERBS,
        });
        if !resource.short_names.is_empty() {
            entry["shortNames"] = json!(resource.short_names);
        }
        if !resource.categories.is_empty() {
            entry["categories"] = json!(resource.categories);
        }
        entries.push(entry);
        entries.extend(
            resource
                .subresources
                .iter()
                .map(|s| subresource_entry(resource, s)),
        );
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resources_list_their_subresources() {
        let kinds = Kinds::with_builtins();
        let list = resource_list(&kinds, "", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        for expected in [
            "pods",
            "pods/status",
            "pods/log",
            "pods/binding",
            "pods/eviction",
            "namespaces/finalize",
            "configmaps",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let eviction = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods/eviction")
            .unwrap();
        assert_eq!(
            (eviction["group"].as_str(), eviction["kind"].as_str()),
            (Some("policy"), Some("Eviction"))
        );
        assert!(resource_list(&kinds, "nope", "v1").is_none());
    }

    #[test]
    fn groups_prefer_their_best_version() {
        let kinds = Kinds::with_builtins();
        let group = group(&kinds, "coordination.k8s.io").unwrap();
        assert_eq!(
            group["preferredVersion"]["groupVersion"],
            "coordination.k8s.io/v1"
        );
    }
}

//! Which RBAC permissions requests need, and what the Helm chart grants, for the tests that
//! check that the chart grants what the operator and its webhook use and nothing more. The
//! chart's rules live in static files (`deploy/helm/spark-operator/files/*-rules.yaml`) that its
//! templates include verbatim, so the tests read exactly what is installed.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::helm::chart_dir;

/// (API group, resource[/subresource], verb).
pub type Permission = (String, String, String);

/// The permission a request needs; `None` for non-resource URLs (discovery, version).
pub fn permission(method: &str, path_and_query: &str) -> Option<Permission> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, name, sub) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
        _ => return None,
    };
    let watching = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let verb = match (method, name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    let resource = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    Some((group.to_string(), resource, verb.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

/// Every permission the chart's rules file `files/NAME` grants.
pub fn chart_grants(name: &str) -> BTreeSet<Permission> {
    let path = chart_dir().join("files").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let rules: Vec<Rule> = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut grants = BTreeSet::new();
    for rule in rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    grants.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    grants
}

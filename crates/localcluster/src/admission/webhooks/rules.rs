//! The webhooks of a Mutating/ValidatingWebhookConfiguration, read from its JSON, and whether one
//! of them is to be called for a request: `rules` (operations, apiGroups, apiVersions, resources
//! with subresources, scope), `namespaceSelector` and `objectSelector`. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::selector::{LabelSelector, labels_of};

/// Kubernetes' default and bounds of `timeoutSeconds`.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
const MAX_TIMEOUT_SECONDS: u64 = 30;

/// Where a webhook is served.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Url(String),
    Service {
        namespace: String,
        name: String,
        path: String,
        port: i64,
    },
}

/// One webhook of a configuration, with Kubernetes' v1 defaults filled in.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    pub endpoint: Endpoint,
    /// The PEM certificates of `clientConfig.caBundle`, if any.
    pub ca_bundle: Option<Vec<u8>>,
    pub rules: Vec<Rule>,
    /// `failurePolicy: Ignore` (the default, `Fail`, is false).
    pub ignore_failures: bool,
    pub namespace_selector: Value,
    pub object_selector: Value,
    pub timeout: Duration,
    /// `None` or `NoneOnDryRun`: may be called for dry-run requests.
    pub dry_run_safe: bool,
    pub review_versions: Vec<String>,
}

/// One entry of `rules`.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub operations: Vec<String>,
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub scope: String,
}

/// What a request is, as the rules see it.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub operation: &'a str,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespaced: bool,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The webhooks of a configuration object, in their order. A webhook without a usable
/// `clientConfig` is an `Err` naming it, so that its failure policy decides.
pub fn webhooks_of(configuration: &Value) -> Vec<Result<Webhook, (String, bool, String)>> {
    let Some(list) = configuration.get("webhooks").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter().map(webhook).collect()
}

fn webhook(value: &Value) -> Result<Webhook, (String, bool, String)> {
    let name = text(value, "name");
    let ignore_failures = value.get("failurePolicy").and_then(Value::as_str) == Some("Ignore");
    let fail = |why: String| (name.clone(), ignore_failures, why);
    let client = value.get("clientConfig").cloned().unwrap_or(Value::Null);
    let endpoint = match (
        client.get("url").and_then(Value::as_str),
        client.get("service"),
    ) {
        (Some(url), _) => Endpoint::Url(url.to_string()),
        (None, Some(service)) if service.is_object() => Endpoint::Service {
            namespace: text(service, "namespace"),
            name: text(service, "name"),
            path: text(service, "path"),
            port: service.get("port").and_then(Value::as_i64).unwrap_or(443),
        },
        _ => return Err(fail("clientConfig has neither url nor service".into())),
    };
    let ca_bundle = match client.get("caBundle").and_then(Value::as_str) {
        None | Some("") => None,
        Some(encoded) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| fail(format!("clientConfig.caBundle is not base64: {e}")))?,
        ),
    };
    let rules = value
        .get("rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|rule| Rule {
                    operations: strings(&rule["operations"]),
                    api_groups: strings(&rule["apiGroups"]),
                    api_versions: strings(&rule["apiVersions"]),
                    resources: strings(&rule["resources"]),
                    scope: rule
                        .get("scope")
                        .and_then(Value::as_str)
                        .unwrap_or("*")
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let timeout = value
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
        .clamp(1, MAX_TIMEOUT_SECONDS);
    let side_effects = value
        .get("sideEffects")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    Ok(Webhook {
        name: name.clone(),
        endpoint,
        ca_bundle,
        rules,
        ignore_failures,
        namespace_selector: value.get("namespaceSelector").cloned().unwrap_or_default(),
        object_selector: value.get("objectSelector").cloned().unwrap_or_default(),
        timeout: Duration::from_secs(timeout),
        dry_run_safe: matches!(side_effects, "None" | "NoneOnDryRun"),
        review_versions: strings(&value["admissionReviewVersions"]),
    })
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|item| item == "*" || item == value)
}

/// `resources` entries: `pods`, `pods/status`, `pods/*`, `*`, `*/status`, `*/*`.
fn resource_listed(list: &[String], resource: &str, subresource: &str) -> bool {
    list.iter().any(|entry| {
        let (res, sub) = entry.split_once('/').unwrap_or((entry, ""));
        let resource_ok = res == "*" || res == resource;
        let sub_ok = if subresource.is_empty() {
            sub.is_empty()
        } else {
            sub == "*" || sub == subresource
        };
        resource_ok && sub_ok
    })
}

impl Rule {
    pub fn matches(&self, target: &Target) -> bool {
        let scope_ok = match self.scope.as_str() {
            "Cluster" => !target.namespaced,
            "Namespaced" => target.namespaced,
            _ => true,
        };
        scope_ok
            && listed(&self.operations, target.operation)
            && listed(&self.api_groups, target.group)
            && listed(&self.api_versions, target.version)
            && resource_listed(&self.resources, target.resource, target.subresource)
    }
}

/// Whether the webhook is called: a rule matches, the namespace's labels match
/// `namespaceSelector` (namespaced objects, and Namespaces themselves, whose own labels count)
/// and the object's or the old object's labels match `objectSelector`. A selector that cannot be
/// read is an `Err`.
pub fn should_call(
    webhook: &Webhook,
    target: &Target,
    namespace_labels: Option<&BTreeMap<String, String>>,
    object: Option<&Value>,
    old_object: Option<&Value>,
) -> Result<bool, String> {
    if !webhook.rules.iter().any(|rule| rule.matches(target)) {
        return Ok(false);
    }
    if let Some(labels) = namespace_labels {
        let selector = LabelSelector::from_json(&webhook.namespace_selector)
            .map_err(|e| format!("namespaceSelector: {e}"))?;
        if !selector.matches(labels) {
            return Ok(false);
        }
    }
    let selector = LabelSelector::from_json(&webhook.object_selector)
        .map_err(|e| format!("objectSelector: {e}"))?;
    if selector.is_empty() {
        return Ok(true);
    }
    Ok([object, old_object]
        .into_iter()
        .flatten()
        .any(|o| selector.matches(&labels_of(o))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods_target(operation: &'static str, subresource: &'static str) -> Target<'static> {
        Target {
            operation,
            group: "",
            version: "v1",
            resource: "pods",
            subresource,
            namespaced: true,
        }
    }

    fn hook(extra: Value) -> Webhook {
        let mut value = json!({"name": "w.example.com", "clientConfig": {"url": "https://127.0.0.1:1/x"},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "sideEffects": "None", "admissionReviewVersions": ["v1"]});
        if let (Some(map), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            map.extend(extra.clone());
        }
        webhook(&value).expect("webhook reads")
    }

    #[test]
    fn defaults_are_kubernetes_v1_defaults() {
        let w = hook(json!({}));
        assert!(!w.ignore_failures);
        assert_eq!(w.timeout, Duration::from_secs(10));
        assert!(w.dry_run_safe);
        assert_eq!(w.rules[0].scope, "*");
        let w =
            hook(json!({"timeoutSeconds": 90, "failurePolicy": "Ignore", "sideEffects": "Some"}));
        assert_eq!(w.timeout, Duration::from_secs(30));
        assert!(w.ignore_failures);
        assert!(!w.dry_run_safe);
    }

    #[test]
    fn resources_and_subresources_match_as_in_kubernetes() {
        let rule = |resources: &[&str], scope: &str| Rule {
            operations: vec!["*".into()],
            api_groups: vec!["*".into()],
            api_versions: vec!["*".into()],
            resources: resources.iter().map(|r| r.to_string()).collect(),
            scope: scope.into(),
        };
        let pod = pods_target("CREATE", "");
        let status = pods_target("UPDATE", "status");
        assert!(rule(&["pods"], "*").matches(&pod));
        assert!(!rule(&["pods"], "*").matches(&status));
        assert!(rule(&["pods/*"], "*").matches(&status));
        assert!(!rule(&["pods/*"], "*").matches(&pod));
        assert!(rule(&["*"], "*").matches(&pod));
        assert!(!rule(&["*"], "*").matches(&status));
        assert!(rule(&["*/*"], "*").matches(&status));
        assert!(rule(&["*/status"], "Namespaced").matches(&status));
        assert!(!rule(&["pods"], "Cluster").matches(&pod));
    }

    #[test]
    fn selectors_decide() {
        let w = hook(json!({"namespaceSelector": {"matchLabels": {"team": "a"}},
            "objectSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}));
        let target = pods_target("CREATE", "");
        let team_a = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let labelled = json!({"metadata": {"labels": {"app": "x"}}});
        let bare = json!({"metadata": {}});
        assert_eq!(
            should_call(&w, &target, Some(&team_a), Some(&labelled), None),
            Ok(true)
        );
        assert_eq!(
            should_call(&w, &target, Some(&BTreeMap::new()), Some(&labelled), None),
            Ok(false)
        );
        assert_eq!(
            should_call(&w, &target, Some(&team_a), Some(&bare), None),
            Ok(false)
        );
        assert_eq!(
            should_call(&w, &target, Some(&team_a), Some(&bare), Some(&labelled)),
            Ok(true)
        );
        assert_eq!(
            should_call(
                &w,
                &pods_target("DELETE", ""),
                Some(&team_a),
                None,
                Some(&labelled)
            ),
            Ok(false)
        );
    }

    #[test]
    fn unusable_client_config_is_named() {
        let broken = webhook(&json!({"name": "b", "failurePolicy": "Ignore", "clientConfig": {}}));
        assert_eq!(
            broken.err(),
            Some((
                "b".to_string(),
                true,
                "clientConfig has neither url nor service".to_string()
            ))
        );
    }
}

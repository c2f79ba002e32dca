//! The RBAC decision, apart from any I/O: who asks ([`Subject`]), what they ask for
//! ([`Attributes`]) and the Roles, ClusterRoles and bindings in force ([`Policy`]) decide whether
//! a request is allowed, with the rules of Kubernetes' RBAC authorizer.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject as BindingSubject,
};

/// The group whose members may do anything, as in Kubernetes.
pub const MASTERS: &str = "system:masters";
/// Every authenticated user's group.
pub const AUTHENTICATED: &str = "system:authenticated";

/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: String,
    pub groups: Vec<String>,
}

impl Subject {
    pub fn admin() -> Self {
        Subject {
            user: "localcluster-admin".into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
        }
    }

    /// `system:serviceaccount:NS:NAME`, in the service-account groups.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Subject {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.into(),
            ],
        }
    }

    pub fn anonymous() -> Self {
        Subject {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}

/// What a request does, in RBAC's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    Resource {
        verb: String,
        group: String,
        resource: String,
        subresource: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
    },
    /// A path outside `/api` and `/apis/GROUP/VERSION/...`: discovery, health, OpenAPI.
    NonResource { verb: String, path: String },
}

/// The RBAC objects in force.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

/// Paths every authenticated user may read, as Kubernetes' `system:discovery` ClusterRole
/// grants them.
const DISCOVERY_PATHS: &[&str] = &[
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/openapi",
    "/openapi/*",
];

/// Paths anyone may read, authenticated or not, as `system:public-info-viewer` grants them.
const PUBLIC_PATHS: &[&str] = &["/version", "/version/", "/healthz", "/livez", "/readyz"];

/// Whether `subject` may do `attributes` under `policy`.
pub fn allows(policy: &Policy, subject: &Subject, attributes: &Attributes) -> bool {
    if subject.groups.iter().any(|g| g == MASTERS) {
        return true;
    }
    if let Attributes::NonResource { verb, path } = attributes
        && verb == "get"
    {
        let authenticated = subject.groups.iter().any(|g| g == AUTHENTICATED);
        let readable = |paths: &[&str]| paths.iter().any(|p| url_matches(p, path));
        if readable(PUBLIC_PATHS) || (authenticated && readable(DISCOVERY_PATHS)) {
            return true;
        }
    }
    rules_for(policy, subject, attributes)
        .into_iter()
        .any(|rule| rule_allows(rule, attributes))
}

/// The rules of every role bound to `subject` that applies where the request acts: cluster
/// roles bound cluster-wide, and roles or cluster roles bound in the request's namespace.
fn rules_for<'a>(
    policy: &'a Policy,
    subject: &Subject,
    attributes: &Attributes,
) -> Vec<&'a PolicyRule> {
    let cluster_role_rules = |name: &str| -> Vec<&'a PolicyRule> {
        policy
            .cluster_roles
            .iter()
            .filter(|r| r.metadata.name.as_deref() == Some(name))
            .flat_map(|r| r.rules.iter().flatten())
            .collect()
    };
    let mut rules = Vec::new();
    for binding in &policy.cluster_role_bindings {
        let subjects = binding.subjects.iter().flatten();
        if binding.role_ref.kind == "ClusterRole"
            && subjects.into_iter().any(|s| applies_to(s, subject, None))
        {
            rules.extend(cluster_role_rules(&binding.role_ref.name));
        }
    }
    let Attributes::Resource {
        namespace: Some(namespace),
        ..
    } = attributes
    else {
        return rules;
    };
    for binding in &policy.role_bindings {
        if binding.metadata.namespace.as_deref() != Some(namespace.as_str()) {
            continue;
        }
        let subjects = binding.subjects.iter().flatten();
        if !subjects
            .into_iter()
            .any(|s| applies_to(s, subject, Some(namespace)))
        {
            continue;
        }
        match binding.role_ref.kind.as_str() {
            "ClusterRole" => rules.extend(cluster_role_rules(&binding.role_ref.name)),
            "Role" => rules.extend(
                policy
                    .roles
                    .iter()
                    .filter(|r| r.metadata.namespace.as_deref() == Some(namespace.as_str()))
                    .filter(|r| r.metadata.name.as_deref() == Some(&binding.role_ref.name))
                    .flat_map(|r| r.rules.iter().flatten()),
            ),
            _ => {}
        }
    }
    rules
}

/// Whether a binding's subject names `subject`; a service account without a namespace in a
/// RoleBinding means one in the binding's namespace.
fn applies_to(binding: &BindingSubject, subject: &Subject, namespace: Option<&str>) -> bool {
    match binding.kind.as_str() {
        "User" => binding.name == subject.user,
        "Group" => subject.groups.contains(&binding.name),
        "ServiceAccount" => {
            let Some(namespace) = binding.namespace.as_deref().or(namespace) else {
                return false;
            };
            subject.user == format!("system:serviceaccount:{namespace}:{}", binding.name)
        }
        _ => false,
    }
}

fn rule_allows(rule: &PolicyRule, attributes: &Attributes) -> bool {
    let verb_matches = |verb: &str| rule.verbs.iter().any(|v| v == "*" || v == verb);
    match attributes {
        Attributes::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            verb_matches(verb)
                && list_matches(rule.api_groups.as_deref(), group)
                && resource_matches(
                    rule.resources.as_deref().unwrap_or_default(),
                    resource,
                    subresource.as_deref(),
                )
                && resource_name_matches(
                    rule.resource_names.as_deref().unwrap_or_default(),
                    name.as_deref(),
                )
        }
        Attributes::NonResource { verb, path } => {
            verb_matches(verb)
                && rule
                    .non_resource_urls
                    .iter()
                    .flatten()
                    .any(|url| url_matches(url, path))
        }
    }
}

fn list_matches(allowed: Option<&[String]>, value: &str) -> bool {
    allowed
        .unwrap_or_default()
        .iter()
        .any(|a| a == "*" || a == value)
}

/// `*`, `resource`, `resource/subresource` or `*/subresource`, as Kubernetes matches them.
fn resource_matches(rules: &[String], resource: &str, subresource: Option<&str>) -> bool {
    let requested = match subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    rules.iter().any(|rule| {
        rule == "*"
            || *rule == requested
            || subresource.is_some_and(|sub| rule.strip_prefix("*/") == Some(sub))
    })
}

/// A rule with resource names only matches requests that name one of them (so never a list,
/// a watch of a collection, or a create).
fn resource_name_matches(names: &[String], requested: Option<&str>) -> bool {
    names.is_empty() || requested.is_some_and(|n| names.iter().any(|name| name == n))
}

/// An exact path, or a prefix ending in `*`.
fn url_matches(rule: &str, path: &str) -> bool {
    match rule.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => rule == path,
    }
}

/// The message of the 403 Kubernetes answers with, such as `pods "p" is forbidden: User "u"
/// cannot get resource "pods" in API group "" in the namespace "ns"`.
pub fn forbidden_message(subject: &Subject, attributes: &Attributes) -> String {
    match attributes {
        Attributes::Resource {
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
        } => {
            let qualified = if group.is_empty() {
                resource.clone()
            } else {
                format!("{resource}.{group}")
            };
            let object = match name {
                Some(name) => format!("{qualified} \"{name}\""),
                None => qualified,
            };
            let full = match subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.clone(),
            };
            let scope = match namespace {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".to_string(),
            };
            format!(
                "{object} is forbidden: User \"{}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}",
                subject.user
            )
        }
        Attributes::NonResource { verb, path } => format!(
            "forbidden: User \"{}\" cannot {verb} path \"{path}\"",
            subject.user
        ),
    }
}

#[cfg(test)]
#[path = "rbac_tests.rs"]
mod tests;

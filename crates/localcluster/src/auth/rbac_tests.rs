use super::*;

fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml::from_str(yaml).expect("test YAML")
}

/// The shape of the Helm chart's RBAC: an operator ClusterRole bound cluster-wide, a Role on
/// the leader Lease in its namespace, and a driver Role in a job namespace.
fn policy() -> Policy {
    Policy {
        cluster_roles: vec![
            from_yaml(
                r#"
metadata: {name: operator}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [create, get, list, watch, delete]
  - apiGroups: [sparkoperator.k8s.io]
    resources: [sparkapplications]
    verbs: [list, watch]
  - apiGroups: [sparkoperator.k8s.io]
    resources: [sparkapplications/status]
    verbs: [patch]
  - nonResourceURLs: [/metrics, /debug/*]
    verbs: [get]
"#,
            ),
            from_yaml(
                r#"
metadata: {name: everything}
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
"#,
            ),
            from_yaml(
                r#"
metadata: {name: log-reader}
rules:
  - apiGroups: [""]
    resources: ["*/log"]
    verbs: [get]
"#,
            ),
        ],
        cluster_role_bindings: vec![from_yaml(
            r#"
metadata: {name: operator}
subjects: [{kind: ServiceAccount, name: op, namespace: system}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: operator}
"#,
        )],
        roles: vec![
            from_yaml(
                r#"
metadata: {name: leader, namespace: system}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: [lock]
    verbs: [get, update]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create]
"#,
            ),
            from_yaml(
                r#"
metadata: {name: driver, namespace: jobs}
rules:
  - apiGroups: [""]
    resources: [pods, configmaps]
    verbs: [get, list, watch, create, delete, deletecollection]
"#,
            ),
        ],
        role_bindings: vec![
            from_yaml(
                r#"
metadata: {name: leader, namespace: system}
subjects: [{kind: ServiceAccount, name: op, namespace: system}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader}
"#,
            ),
            // No namespace on the subject: the binding's own.
            from_yaml(
                r#"
metadata: {name: driver, namespace: jobs}
subjects: [{kind: ServiceAccount, name: spark}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: driver}
"#,
            ),
            from_yaml(
                r#"
metadata: {name: admins, namespace: jobs}
subjects: [{kind: Group, name: team-admins}, {kind: User, name: alice}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: everything}
"#,
            ),
            from_yaml(
                r#"
metadata: {name: logs, namespace: jobs}
subjects: [{kind: User, name: bob}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: log-reader}
"#,
            ),
        ],
    }
}

fn request(verb: &str, group: &str, resource: &str, ns: Option<&str>) -> Attributes {
    Attributes::Resource {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: None,
        namespace: ns.map(Into::into),
        name: None,
    }
}

fn named(attributes: Attributes, name: &str, subresource: Option<&str>) -> Attributes {
    match attributes {
        Attributes::Resource {
            verb,
            group,
            resource,
            namespace,
            ..
        } => Attributes::Resource {
            verb,
            group,
            resource,
            subresource: subresource.map(Into::into),
            namespace,
            name: Some(name.into()),
        },
        other => other,
    }
}

fn user(name: &str, groups: &[&str]) -> Subject {
    Subject {
        user: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

#[test]
fn a_cluster_role_binding_grants_its_verbs_in_every_namespace_and_nothing_else() {
    let (policy, op) = (policy(), Subject::service_account("system", "op"));
    for ns in ["jobs", "default"] {
        assert!(allows(
            &policy,
            &op,
            &request("create", "", "pods", Some(ns))
        ));
        assert!(allows(
            &policy,
            &op,
            &request("watch", "", "pods", Some(ns))
        ));
    }
    assert!(allows(&policy, &op, &request("list", "", "pods", None)));
    assert!(!allows(
        &policy,
        &op,
        &request("patch", "", "pods", Some("jobs"))
    ));
    assert!(!allows(
        &policy,
        &op,
        &request("create", "", "secrets", Some("jobs"))
    ));
    // A group's resources are not another group's.
    assert!(!allows(
        &policy,
        &op,
        &request("list", "apps", "pods", Some("jobs"))
    ));
    // Another service account of the same name elsewhere is someone else.
    let other = Subject::service_account("jobs", "op");
    assert!(!allows(
        &policy,
        &other,
        &request("list", "", "pods", Some("jobs"))
    ));
}

#[test]
fn subresources_are_granted_apart_from_their_resource() {
    let (policy, op) = (policy(), Subject::service_account("system", "op"));
    let app = request(
        "patch",
        "sparkoperator.k8s.io",
        "sparkapplications",
        Some("jobs"),
    );
    assert!(allows(
        &policy,
        &op,
        &named(app.clone(), "a", Some("status"))
    ));
    assert!(!allows(&policy, &op, &named(app, "a", None)));
    let log = named(request("get", "", "pods", Some("jobs")), "p", Some("log"));
    assert!(!allows(&policy, &op, &log), "pods does not grant pods/log");
    let bob = user("bob", &[AUTHENTICATED]);
    assert!(allows(&policy, &bob, &log), "*/log grants pods/log");
    let pod = named(request("get", "", "pods", Some("jobs")), "p", None);
    assert!(!allows(&policy, &bob, &pod));
}

#[test]
fn roles_apply_in_their_namespace_only() {
    let (policy, spark) = (policy(), Subject::service_account("jobs", "spark"));
    assert!(allows(
        &policy,
        &spark,
        &request("deletecollection", "", "pods", Some("jobs"))
    ));
    assert!(allows(
        &policy,
        &spark,
        &request("create", "", "configmaps", Some("jobs"))
    ));
    assert!(!allows(
        &policy,
        &spark,
        &request("create", "", "pods", Some("default"))
    ));
    assert!(!allows(&policy, &spark, &request("list", "", "pods", None)));
    assert!(!allows(
        &policy,
        &spark,
        &request("create", "", "services", Some("jobs"))
    ));
}

#[test]
fn resource_names_limit_a_rule_to_named_requests() {
    let (policy, op) = (policy(), Subject::service_account("system", "op"));
    let leases = request("get", "coordination.k8s.io", "leases", Some("system"));
    assert!(allows(&policy, &op, &named(leases.clone(), "lock", None)));
    assert!(!allows(&policy, &op, &named(leases, "other", None)));
    let list = request("list", "coordination.k8s.io", "leases", Some("system"));
    assert!(
        !allows(&policy, &op, &list),
        "a named rule never grants a list"
    );
    let create = request("create", "coordination.k8s.io", "leases", Some("system"));
    assert!(allows(&policy, &op, &create));
    assert!(!allows(
        &policy,
        &op,
        &request("create", "coordination.k8s.io", "leases", Some("jobs"))
    ));
}

#[test]
fn wildcards_users_groups_and_cluster_roles_bound_in_a_namespace() {
    let policy = policy();
    let secrets = request("deletecollection", "", "secrets", Some("jobs"));
    let crds = request(
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
    );
    for subject in [user("alice", &[]), user("carol", &["team-admins"])] {
        assert!(allows(&policy, &subject, &secrets), "{subject:?}");
        assert!(!allows(
            &policy,
            &subject,
            &request("list", "", "secrets", Some("default"))
        ));
        assert!(
            !allows(&policy, &subject, &crds),
            "a RoleBinding never grants cluster scope"
        );
    }
    assert!(!allows(&policy, &user("dave", &[AUTHENTICATED]), &secrets));
    assert!(allows(&policy, &Subject::admin(), &crds));
    assert!(allows(&policy, &Subject::admin(), &secrets));
}

#[test]
fn non_resource_paths_discovery_and_anonymous_users() {
    let policy = policy();
    let get = |path: &str| Attributes::NonResource {
        verb: "get".into(),
        path: path.into(),
    };
    let op = Subject::service_account("system", "op");
    let nobody = user("nobody", &[AUTHENTICATED]);
    assert!(allows(&policy, &op, &get("/metrics")));
    assert!(allows(&policy, &op, &get("/debug/pprof")));
    assert!(!allows(&policy, &nobody, &get("/metrics")));
    for path in ["/api", "/apis/sparkoperator.k8s.io/v1beta2", "/openapi/v3"] {
        assert!(allows(&policy, &nobody, &get(path)), "{path}");
        assert!(
            !allows(&policy, &Subject::anonymous(), &get(path)),
            "{path}"
        );
    }
    // Public information, even to the anonymous.
    for path in ["/version", "/healthz", "/readyz"] {
        assert!(allows(&policy, &Subject::anonymous(), &get(path)), "{path}");
    }
    assert!(!allows(
        &policy,
        &Subject::anonymous(),
        &request("list", "", "pods", Some("jobs"))
    ));
}

#[test]
fn forbidden_messages_read_as_kubernetes_writes_them() {
    let spark = Subject::service_account("jobs", "spark");
    assert_eq!(
        forbidden_message(
            &spark,
            &named(request("get", "", "pods", Some("jobs")), "p", Some("log"))
        ),
        "pods \"p\" is forbidden: User \"system:serviceaccount:jobs:spark\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"jobs\""
    );
    assert_eq!(
        forbidden_message(&spark, &request("list", "apps", "deployments", None)),
        "deployments.apps is forbidden: User \"system:serviceaccount:jobs:spark\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
    );
}

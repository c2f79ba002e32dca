//! The built-in kinds this server serves: data only, one row per resource.

/// One built-in resource: where it is served and how discovery describes it.
pub(super) struct Builtin {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [&'static str],
    /// The store key of another resource whose objects these are.
    pub stored_as: Option<&'static str>,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short_names: &[],
        categories: &[],
        subresources: &[],
        stored_as: None,
    }
}

const fn with(
    base: Builtin,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> Builtin {
    Builtin {
        short_names,
        categories,
        subresources,
        ..base
    }
}

const NAMESPACED: bool = true;
const CLUSTER: bool = false;

pub(super) const BUILTINS: &[Builtin] = &[
    with(
        kind("", "v1", "Namespace", "namespaces", CLUSTER),
        &["ns"],
        &[],
        &["status", "finalize"],
    ),
    with(
        kind("", "v1", "Pod", "pods", NAMESPACED),
        &["po"],
        &["all"],
        &[
            "status",
            "log",
            "binding",
            "eviction",
            "exec",
            "attach",
            "portforward",
            "proxy",
        ],
    ),
    with(
        kind("", "v1", "Node", "nodes", CLUSTER),
        &["no"],
        &[],
        &["status"],
    ),
    with(
        kind("", "v1", "Service", "services", NAMESPACED),
        &["svc"],
        &["all"],
        &["status", "proxy"],
    ),
    with(
        kind("", "v1", "Endpoints", "endpoints", NAMESPACED),
        &["ep"],
        &[],
        &[],
    ),
    kind(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        NAMESPACED,
    ),
    with(
        kind("", "v1", "ConfigMap", "configmaps", NAMESPACED),
        &["cm"],
        &[],
        &[],
    ),
    kind("", "v1", "Secret", "secrets", NAMESPACED),
    with(
        kind("", "v1", "ServiceAccount", "serviceaccounts", NAMESPACED),
        &["sa"],
        &[],
        &["token"],
    ),
    with(
        kind("", "v1", "Event", "events", NAMESPACED),
        &["ev"],
        &[],
        &[],
    ),
    with(
        kind("", "v1", "ResourceQuota", "resourcequotas", NAMESPACED),
        &["quota"],
        &[],
        &["status"],
    ),
    with(
        kind("", "v1", "LimitRange", "limitranges", NAMESPACED),
        &["limits"],
        &[],
        &[],
    ),
    with(
        kind(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            NAMESPACED,
        ),
        &["pvc"],
        &[],
        &["status"],
    ),
    with(
        kind("", "v1", "PersistentVolume", "persistentvolumes", CLUSTER),
        &["pv"],
        &[],
        &["status"],
    ),
    Builtin {
        stored_as: Some("events"),
        ..with(
            kind("events.k8s.io", "v1", "Event", "events", NAMESPACED),
            &["ev"],
            &[],
            &[],
        )
    },
    kind("coordination.k8s.io", "v1", "Lease", "leases", NAMESPACED),
    // Workloads: defaulted and validated (`registry/workloads.rs`).
    with(
        kind("apps", "v1", "Deployment", "deployments", NAMESPACED),
        &["deploy"],
        &["all"],
        &["status", "scale"],
    ),
    with(
        kind("apps", "v1", "ReplicaSet", "replicasets", NAMESPACED),
        &["rs"],
        &["all"],
        &["status", "scale"],
    ),
    with(
        kind("apps", "v1", "StatefulSet", "statefulsets", NAMESPACED),
        &["sts"],
        &["all"],
        &["status", "scale"],
    ),
    with(
        kind("apps", "v1", "DaemonSet", "daemonsets", NAMESPACED),
        &["ds"],
        &["all"],
        &["status"],
    ),
    kind(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        NAMESPACED,
    ),
    with(
        kind(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            NAMESPACED,
        ),
        &["rc"],
        &["all"],
        &["status", "scale"],
    ),
    with(
        kind("batch", "v1", "Job", "jobs", NAMESPACED),
        &[],
        &["all"],
        &["status"],
    ),
    with(
        kind("batch", "v1", "CronJob", "cronjobs", NAMESPACED),
        &["cj"],
        &["all"],
        &["status"],
    ),
    with(
        kind(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            CLUSTER,
        ),
        &[],
        &["api-extensions"],
        &["status"],
    ),
    with(
        kind(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            NAMESPACED,
        ),
        &["ing"],
        &[],
        &["status"],
    ),
    with(
        kind(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            NAMESPACED,
        ),
        &["pdb"],
        &[],
        &["status"],
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        NAMESPACED,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        NAMESPACED,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        CLUSTER,
    ),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        CLUSTER,
    ),
    with(
        kind(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            CLUSTER,
        ),
        &["crd", "crds"],
        &["api-extensions"],
        &["status"],
    ),
    with(
        kind(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            CLUSTER,
        ),
        &[],
        &["api-extensions"],
        &[],
    ),
    with(
        kind(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            CLUSTER,
        ),
        &[],
        &["api-extensions"],
        &[],
    ),
];

/// Resources (group, plural) whose DELETE answers with the object as it was removed; the others
/// answer a `Status` naming it, as the API server's generic store does unless a resource asks
/// for its object back. CustomResourceDefinitions are listed because their deletion always waits
/// for a finalizer in Kubernetes, which answers with the object then.
pub(super) const RETURN_DELETED_OBJECT: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "services"),
    ("", "nodes"),
    ("", "namespaces"),
    ("", "serviceaccounts"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
];

/// Resources (group, plural) whose strategies set `metadata.generation` and bump it when the
/// desired state changes; custom resources always do. Other kinds have no generation.
pub(super) const TRACK_GENERATION: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("", "replicationcontrollers"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("networking.k8s.io", "ingresses"),
    ("policy", "poddisruptionbudgets"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
];

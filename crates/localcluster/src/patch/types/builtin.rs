//! Merge keys and list/map types of the built-in kinds, as Kubernetes declares them on its Go
//! types (`patchStrategy`, `patchMergeKey`, `listType`, `listMapKey`, `structType`). Fields not
//! listed here are plain: objects merge field by field, lists are replaced whole.

use super::{Field, KeyDef, Shape, Smp, Ssa, TypeDef};

const fn object(name: &'static str, ty: &'static TypeDef) -> Field {
    Field {
        name,
        ty: Some(ty),
        is_list: false,
        smp: Smp::Default,
        ssa: Ssa::FromSmp,
    }
}

/// A list merged item by item on `key` by both strategic merge patch and server-side apply.
const fn keyed(name: &'static str, ty: &'static TypeDef, key: &'static str) -> Field {
    Field {
        name,
        ty: Some(ty),
        is_list: true,
        smp: Smp::MergeKey(key),
        ssa: Ssa::FromSmp,
    }
}

/// Like `keyed`, but server-side apply identifies items by several key fields.
const fn keyed_by(
    name: &'static str,
    ty: &'static TypeDef,
    key: &'static str,
    keys: &'static [KeyDef],
) -> Field {
    Field {
        name,
        ty: Some(ty),
        is_list: true,
        smp: Smp::MergeKey(key),
        ssa: Ssa::Map(keys),
    }
}

/// A list that only server-side apply treats as a map (no strategic merge key).
const fn apply_keyed(name: &'static str, ty: &'static TypeDef, keys: &'static [KeyDef]) -> Field {
    Field {
        name,
        ty: Some(ty),
        is_list: true,
        smp: Smp::Default,
        ssa: Ssa::Map(keys),
    }
}

/// A list that strategic merge patch merges on `key` but server-side apply replaces.
const fn keyed_but_atomic(name: &'static str, ty: &'static TypeDef, key: &'static str) -> Field {
    Field {
        name,
        ty: Some(ty),
        is_list: true,
        smp: Smp::MergeKey(key),
        ssa: Ssa::Atomic,
    }
}

/// A list of scalars merged as a set.
const fn set(name: &'static str) -> Field {
    Field {
        name,
        ty: None,
        is_list: true,
        smp: Smp::MergePrimitives,
        ssa: Ssa::Set,
    }
}

/// A list replaced whole, whose items still have a known type.
const fn atomic_list(name: &'static str, ty: &'static TypeDef) -> Field {
    Field {
        name,
        ty: Some(ty),
        is_list: true,
        smp: Smp::Default,
        ssa: Ssa::Atomic,
    }
}

const fn key(name: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: None,
    }
}

const fn key_or(name: &'static str, default: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: Some(default),
    }
}

const fn strukt(fields: &'static [Field]) -> TypeDef {
    TypeDef {
        shape: Shape::Struct,
        fields,
    }
}

static PLAIN: TypeDef = strukt(&[]);
static ATOMIC: TypeDef = TypeDef {
    shape: Shape::Atomic,
    fields: &[],
};
static STRING_MAP: TypeDef = TypeDef {
    shape: Shape::Map(None),
    fields: &[],
};

static OWNER_REFERENCE: TypeDef = TypeDef {
    shape: Shape::Atomic,
    fields: &[],
};
static OBJECT_META: TypeDef = strukt(&[
    object("labels", &STRING_MAP),
    object("annotations", &STRING_MAP),
    set("finalizers"),
    keyed("ownerReferences", &OWNER_REFERENCE, "uid"),
]);

pub(crate) fn object_meta() -> &'static TypeDef {
    &OBJECT_META
}

static CONDITION: TypeDef = strukt(&[]);
static LABEL_SELECTOR: TypeDef = TypeDef {
    shape: Shape::Atomic,
    fields: &[],
};

// --- Pods -------------------------------------------------------------------------------------

const PORT_KEYS: &[KeyDef] = &[key("containerPort"), key_or("protocol", "TCP")];
const NAME_KEY: &[KeyDef] = &[key("name")];

static ENV_VAR_SOURCE: TypeDef = strukt(&[
    object("configMapKeyRef", &ATOMIC),
    object("secretKeyRef", &ATOMIC),
    object("fieldRef", &ATOMIC),
    object("resourceFieldRef", &ATOMIC),
]);
static ENV_VAR: TypeDef = strukt(&[object("valueFrom", &ENV_VAR_SOURCE)]);
static RESOURCES: TypeDef = strukt(&[
    object("limits", &STRING_MAP),
    object("requests", &STRING_MAP),
    apply_keyed("claims", &PLAIN, NAME_KEY),
]);
static CONTAINER: TypeDef = strukt(&[
    keyed("env", &ENV_VAR, "name"),
    keyed_by("ports", &PLAIN, "containerPort", PORT_KEYS),
    keyed("volumeMounts", &PLAIN, "mountPath"),
    keyed("volumeDevices", &PLAIN, "devicePath"),
    object("resources", &RESOURCES),
]);
static VOLUME: TypeDef = strukt(&[
    object("configMap", &PLAIN),
    object("secret", &PLAIN),
    object("persistentVolumeClaim", &PLAIN),
]);
static NODE_AFFINITY: TypeDef = strukt(&[object(
    "requiredDuringSchedulingIgnoredDuringExecution",
    &ATOMIC,
)]);
static AFFINITY: TypeDef = strukt(&[object("nodeAffinity", &NODE_AFFINITY)]);
static POD_SPEC: TypeDef = strukt(&[
    keyed("containers", &CONTAINER, "name"),
    keyed("initContainers", &CONTAINER, "name"),
    keyed("ephemeralContainers", &CONTAINER, "name"),
    keyed("volumes", &VOLUME, "name"),
    keyed("imagePullSecrets", &ATOMIC, "name"),
    keyed("hostAliases", &PLAIN, "ip"),
    keyed_by(
        "topologySpreadConstraints",
        &PLAIN,
        "topologyKey",
        &[key("topologyKey"), key("whenUnsatisfiable")],
    ),
    keyed("schedulingGates", &PLAIN, "name"),
    keyed("resourceClaims", &PLAIN, "name"),
    atomic_list("tolerations", &PLAIN),
    object("nodeSelector", &STRING_MAP),
    object("overhead", &STRING_MAP),
    object("affinity", &AFFINITY),
]);
static POD_STATUS: TypeDef = strukt(&[
    keyed("conditions", &CONDITION, "type"),
    keyed("podIPs", &PLAIN, "ip"),
    keyed("hostIPs", &PLAIN, "ip"),
    keyed("resourceClaimStatuses", &PLAIN, "name"),
]);
static POD_TEMPLATE_SPEC: TypeDef =
    strukt(&[object("metadata", &OBJECT_META), object("spec", &POD_SPEC)]);
static POD: TypeDef = strukt(&[object("spec", &POD_SPEC), object("status", &POD_STATUS)]);
static POD_TEMPLATE: TypeDef = strukt(&[object("template", &POD_TEMPLATE_SPEC)]);

// --- Workloads --------------------------------------------------------------------------------

static PVC_SPEC: TypeDef = strukt(&[
    object("resources", &RESOURCES),
    object("selector", &LABEL_SELECTOR),
]);
static PVC_STATUS: TypeDef = strukt(&[
    keyed("conditions", &CONDITION, "type"),
    object("capacity", &STRING_MAP),
]);
static PVC_TEMPLATE: TypeDef =
    strukt(&[object("metadata", &OBJECT_META), object("spec", &PVC_SPEC)]);
static WORKLOAD_SPEC: TypeDef = strukt(&[
    object("selector", &LABEL_SELECTOR),
    object("template", &POD_TEMPLATE_SPEC),
    atomic_list("volumeClaimTemplates", &PVC_TEMPLATE),
]);
static WORKLOAD_STATUS: TypeDef = strukt(&[keyed("conditions", &CONDITION, "type")]);
static WORKLOAD: TypeDef = strukt(&[
    object("spec", &WORKLOAD_SPEC),
    object("status", &WORKLOAD_STATUS),
]);
static JOB_SPEC: TypeDef = strukt(&[
    object("selector", &LABEL_SELECTOR),
    object("template", &POD_TEMPLATE_SPEC),
]);
static JOB_STATUS: TypeDef = strukt(&[keyed_but_atomic("conditions", &CONDITION, "type")]);
static JOB: TypeDef = strukt(&[object("spec", &JOB_SPEC), object("status", &JOB_STATUS)]);
static JOB_TEMPLATE: TypeDef =
    strukt(&[object("metadata", &OBJECT_META), object("spec", &JOB_SPEC)]);
static CRON_JOB_SPEC: TypeDef = strukt(&[object("jobTemplate", &JOB_TEMPLATE)]);
static CRON_JOB: TypeDef = strukt(&[object("spec", &CRON_JOB_SPEC)]);

// --- Services, nodes, namespaces, configuration ------------------------------------------------

static SERVICE_SPEC: TypeDef = strukt(&[
    keyed_by(
        "ports",
        &PLAIN,
        "port",
        &[key("port"), key_or("protocol", "TCP")],
    ),
    object("selector", &STRING_MAP),
]);
static STATUS_WITH_CONDITIONS: TypeDef = strukt(&[keyed("conditions", &CONDITION, "type")]);
static SERVICE: TypeDef = strukt(&[
    object("spec", &SERVICE_SPEC),
    object("status", &STATUS_WITH_CONDITIONS),
]);
static NODE_SPEC: TypeDef = strukt(&[set("podCIDRs")]);
static NODE_STATUS: TypeDef = strukt(&[
    keyed("conditions", &CONDITION, "type"),
    keyed("addresses", &PLAIN, "type"),
    object("capacity", &STRING_MAP),
    object("allocatable", &STRING_MAP),
]);
static NODE: TypeDef = strukt(&[object("spec", &NODE_SPEC), object("status", &NODE_STATUS)]);
static NAMESPACE: TypeDef = strukt(&[object("status", &STATUS_WITH_CONDITIONS)]);
static CONFIG_MAP: TypeDef = strukt(&[
    object("data", &STRING_MAP),
    object("binaryData", &STRING_MAP),
]);
static SECRET: TypeDef = strukt(&[
    object("data", &STRING_MAP),
    object("stringData", &STRING_MAP),
]);
static SERVICE_ACCOUNT: TypeDef = strukt(&[keyed("secrets", &PLAIN, "name")]);
static PVC: TypeDef = strukt(&[object("spec", &PVC_SPEC), object("status", &PVC_STATUS)]);
static PDB_SPEC: TypeDef = strukt(&[object("selector", &LABEL_SELECTOR)]);
static PDB: TypeDef = strukt(&[
    object("spec", &PDB_SPEC),
    object("status", &STATUS_WITH_CONDITIONS),
]);
static WEBHOOK: TypeDef = strukt(&[
    object("namespaceSelector", &LABEL_SELECTOR),
    object("objectSelector", &LABEL_SELECTOR),
]);
static WEBHOOK_CONFIGURATION: TypeDef = strukt(&[keyed("webhooks", &WEBHOOK, "name")]);
static CRD: TypeDef = strukt(&[object("status", &STATUS_WITH_CONDITIONS)]);
static OTHER: TypeDef = strukt(&[]);

/// API groups served by Kubernetes itself (strategic merge patch applies to them only).
pub(crate) fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "core"
            | "apps"
            | "batch"
            | "autoscaling"
            | "policy"
            | "coordination.k8s.io"
            | "events.k8s.io"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
            | "admissionregistration.k8s.io"
            | "apiextensions.k8s.io"
            | "apiregistration.k8s.io"
            | "storage.k8s.io"
            | "scheduling.k8s.io"
            | "discovery.k8s.io"
            | "node.k8s.io"
            | "certificates.k8s.io"
            | "authentication.k8s.io"
            | "authorization.k8s.io"
            | "flowcontrol.apiserver.k8s.io"
            | "resource.k8s.io"
    )
}

/// The root type of a built-in kind; unknown kinds still get ObjectMeta's strategies.
pub(crate) fn builtin_root(group: &str, kind: &str) -> &'static TypeDef {
    match (group, kind) {
        ("" | "core", "Pod") => &POD,
        ("" | "core", "PodTemplate") => &POD_TEMPLATE,
        ("" | "core", "Service") => &SERVICE,
        ("" | "core", "Node") => &NODE,
        ("" | "core", "Namespace") => &NAMESPACE,
        ("" | "core", "ConfigMap") => &CONFIG_MAP,
        ("" | "core", "Secret") => &SECRET,
        ("" | "core", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("" | "core", "PersistentVolumeClaim") => &PVC,
        ("" | "core", "ReplicationController") => &WORKLOAD,
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => &WORKLOAD,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("policy", "PodDisruptionBudget") => &PDB,
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => &WEBHOOK_CONFIGURATION,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &CRD,
        _ => &OTHER,
    }
}

/// Every kind has an ObjectMeta `metadata`; it is found here when a table does not declare it, so
/// the roots above list only their own fields.
pub(crate) fn root_field(name: &str) -> Option<&'static Field> {
    static METADATA: Field = object("metadata", &OBJECT_META);
    (name == "metadata").then_some(&METADATA)
}

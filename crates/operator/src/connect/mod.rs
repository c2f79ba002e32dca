//! SparkConnect: a Spark Connect server per resource, as Kubeflow's SparkConnect controller runs
//! it (`internal/controller/sparkconnect/`), in pure functions: the objects of a server
//! (`objects`, with the start command in `command`) and what one reconcile decides from what it
//! observes (`decide`): the status, the Events, and which objects to create, update or replace.
//! `controller::connect` carries the decision out against the API server.
//!
//! The server pod runs `start-connect-server.sh` in client mode against the API server
//! (`--master k8s://...`); the server creates its executor pods itself, named
//! `<name>-exec-<id>`, labelled with the SparkConnect's name and owned by the server pod.
//!
//! # Differences from Kubeflow's controller
//!
//! 1. **A changed spec restarts the server.** The server pod carries a digest of the pod and the
//!    executor template it was built from (`sparkoperator.k8s.io/connect-server-hash`); when the
//!    spec (or the SparkConnect's labels, which the command passes on) gives another one, the pod
//!    is deleted and a new one created, since a running server reads neither again. Kubeflow
//!    builds the pod once and later only updates its labels. A server pod without the digest
//!    (made by another operator) is adopted as it is.
//! 2. **A server pod that ended is replaced.** A pod that is `Failed` or `Succeeded` (which
//!    Kubernetes never restarts: a `restartPolicy` other than `Always`, an eviction) is reported
//!    `Failed` with why, and replaced: at once the first time, then after 10 s doubling up to
//!    5 minutes while replacements keep failing, as a kubelet backs off a crashing container.
//!    Kubeflow leaves such a pod, and the resource `NotReady`, for ever.
//! 3. **States and messages.** `Provisioning` while the server pod is pending or has never been
//!    ready (Kubeflow goes straight to `NotReady`), `Failed` as above; the `ServerPodReady`
//!    condition's message says why the pod is not ready (unschedulable, an image that cannot be
//!    pulled, the gRPC port not yet open) where Kubeflow copies the pod's often empty
//!    `status.message`. Events are this operator's (Kubeflow's controller records none).
//! 4. **The Service follows the spec.** Its type, ports, selector, labels and annotations are
//!    kept as the spec says; Kubeflow sets its ports and selector only when it creates it. When
//!    `spec.server.service` has no name, the Service is `<name>-server` (Kubeflow would try to
//!    create a Service without a name).
//! 5. **Master URL.** `--master` is `k8s://` and the operator's `--master-url` (default: the API
//!    server the operator talks to); Kubeflow builds it from the operator pod's
//!    `KUBERNETES_SERVICE_HOST`/`_PORT`, which is the same address inside a cluster.
//! 6. **No file on the operator's disk.** Kubeflow also writes the executor template to
//!    `/tmp/spark/` in the operator's container, where nothing reads it; the server reads the
//!    copy mounted from the ConfigMap, which is all this operator makes.
//! 7. **`enableServiceLinks: false`** on the server pod unless its template sets it, as on the
//!    operator's other Spark pods.
//! 8. **Order.** `sparkConf`, `hadoopConf` and label options are in key order (Kubeflow's follow
//!    Go's random map order).

pub mod command;
mod decide;
pub mod objects;

#[cfg(test)]
mod tests;

pub use decide::{
    Action, Decision, Observation, ServerPod, Settings, decide, executor_counts, reasons,
    reject_invalid,
};
pub use objects::{ServerObjects, build, config_map_is_current, service_is_current};

/// Kubeflow's label with the name of the SparkConnect an object or pod belongs to.
pub const LABEL_CONNECT_NAME: &str = "sparkoperator.k8s.io/connect-name";
/// The `spark-role` of a Spark Connect server pod.
pub const ROLE_CONNECT_SERVER: &str = "connect-server";
/// The key of the executor pod template in the ConfigMap, and its file name on the server.
pub const EXECUTOR_TEMPLATE_FILE: &str = "executor-pod-template.yaml";
/// Where the server finds the executor pod template.
pub const EXECUTOR_TEMPLATE_PATH: &str = "/tmp/spark/executor-pod-template.yaml";
/// The Spark Connect gRPC port.
pub const CONNECT_PORT: i32 = 15002;
/// The Spark UI port of the server.
pub const UI_PORT: i32 = 4040;
/// A digest of what the server pod was built from; see the module's documentation.
pub const SERVER_HASH_ANNOTATION: &str = "sparkoperator.k8s.io/connect-server-hash";
/// The condition type of the status.
pub const CONDITION_SERVER_POD_READY: &str = "ServerPodReady";

/// `status.state` of a SparkConnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Provisioning,
    Ready,
    NotReady,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Provisioning => "Provisioning",
            State::Ready => "Ready",
            State::NotReady => "NotReady",
            State::Failed => "Failed",
        }
    }

    pub fn parse(state: Option<&str>) -> Option<State> {
        [
            State::Provisioning,
            State::Ready,
            State::NotReady,
            State::Failed,
        ]
        .into_iter()
        .find(|s| Some(s.as_str()) == state)
    }
}

/// The address clients reach the server at through its Service, inside the cluster.
pub fn connect_url(service: &str, namespace: &str) -> String {
    format!("sc://{service}.{namespace}.svc:{CONNECT_PORT}")
}

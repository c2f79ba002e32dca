//! The ServiceAccount admission plugin: a pod is created only if the service account it names
//! exists in its namespace, as the API server's plugin refuses it otherwise (`pods "x" is
//! forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found`).
//! It is the first refusal a Spark user meets when the driver's service account is missing.
//!
//! The pod's `serviceAccountName` is defaulted to `default` by the pod strategy before admission.
//! The `default` service account is made by the service account controller just after its
//! namespace, so, as the real plugin does, a missing `default` is looked up again a few times
//! (10 attempts, 100 to 200 ms apart) before the pod is refused. The service account's
//! `imagePullSecrets` are copied to a pod that names none.
//!
//! Not done: the token volume (`kube-api-access-*`) the real plugin mounts, and the mountable
//! secrets enforcement.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use super::{AdmissionRequest, Operation};
use crate::error::ApiError;
use crate::storage::{ObjectKey, Store};

/// The service account a pod without one runs as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// How often a missing `default` service account is looked up before the pod is refused.
const DEFAULT_ACCOUNT_ATTEMPTS: usize = 10;

/// Annotation of mirror pods, which may not name a service account.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Checks (and completes) a pod being created.
pub(crate) async fn admit(store: &Store, request: &mut AdmissionRequest) -> Result<(), ApiError> {
    if request.operation != Operation::Create
        || request.subresource.is_some()
        || !request.resource.group.is_empty()
        || request.resource.plural != "pods"
    {
        return Ok(());
    }
    let Some(pod) = request.object.as_mut() else {
        return Ok(());
    };
    if pod["metadata"]["annotations"][MIRROR_POD_ANNOTATION].is_string() {
        return Ok(());
    }
    let account = pod["spec"]["serviceAccountName"]
        .as_str()
        .filter(|name| !name.is_empty())
        .unwrap_or(DEFAULT_SERVICE_ACCOUNT)
        .to_string();
    let Some(found) = look_up(store, &request.namespace, &account).await else {
        return Err(ApiError::forbidden_object(
            "pods",
            &request.name,
            &format!(
                "error looking up service account {}/{account}: serviceaccount \"{account}\" not found",
                request.namespace
            ),
        ));
    };
    let pull_secrets = found
        .get("imagePullSecrets")
        .filter(|s| s.as_array().is_some_and(|list| !list.is_empty()));
    let has_own = pod["spec"]["imagePullSecrets"]
        .as_array()
        .is_some_and(|list| !list.is_empty());
    if let Some(secrets) = pull_secrets.filter(|_| !has_own)
        && let Some(spec) = pod["spec"].as_object_mut()
    {
        let names: Vec<Value> = secrets
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| serde_json::json!({"name": s["name"]}))
            .collect();
        spec.insert("imagePullSecrets".into(), Value::Array(names));
    }
    Ok(())
}

/// The service account, looked up again a few times when it is `default`.
async fn look_up(store: &Store, namespace: &str, name: &str) -> Option<std::sync::Arc<Value>> {
    let key = ObjectKey::new("serviceaccounts", namespace, name);
    let attempts = if name == DEFAULT_SERVICE_ACCOUNT {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    let pause = Duration::from_millis(rand::rng().random_range(100..200));
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
        }
        if let Some(found) = store.get(&key) {
            return Some(found);
        }
    }
    None
}

//! AdmissionReview in and out, as pure functions: the validating webhook's verdict on a
//! SparkApplication, ScheduledSparkApplication or SparkConnect, and the mutating webhook's patch
//! of a pod.

use base64::Engine;
use serde_json::{Value, json};
use spark_operator_api::SparkApplication;
use spark_operator_api::validation::{
    FieldError, validate_application_json, validate_connect_json, validate_scheduled_json,
};

use super::mutate::{self, Role};

/// Paths the webhooks are served at (Kubeflow's).
pub const VALIDATE_APPLICATION_PATH: &str =
    "/validate-sparkoperator-k8s-io-v1beta2-sparkapplication";
pub const VALIDATE_SCHEDULED_PATH: &str =
    "/validate-sparkoperator-k8s-io-v1beta2-scheduledsparkapplication";
pub const VALIDATE_CONNECT_PATH: &str = "/validate-sparkoperator-k8s-io-v1alpha1-sparkconnect";
pub const MUTATE_POD_PATH: &str = "/mutate--v1-pod";

/// The fields of a review request the webhooks use.
#[derive(Debug, Clone)]
pub struct Request {
    pub uid: String,
    pub kind: String,
    pub operation: String,
    pub namespace: String,
    pub object: Value,
    pub old_object: Value,
}

/// Reads an AdmissionReview; `Err` says what is wrong with it.
pub fn request(review: &Value) -> Result<Request, String> {
    let request = review
        .get("request")
        .filter(|r| r.is_object())
        .ok_or("the AdmissionReview has no request")?;
    let text = |pointer: &str| {
        request
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let uid = text("/uid");
    if uid.is_empty() {
        return Err("the AdmissionReview request has no uid".into());
    }
    Ok(Request {
        uid,
        kind: text("/kind/kind"),
        operation: text("/operation"),
        namespace: text("/namespace"),
        object: request.get("object").cloned().unwrap_or(Value::Null),
        old_object: request.get("oldObject").cloned().unwrap_or(Value::Null),
    })
}

fn response(uid: &str, answer: Value) -> Value {
    let mut answer = answer;
    answer["uid"] = json!(uid);
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": answer})
}

pub fn allowed(uid: &str) -> Value {
    response(uid, json!({"allowed": true}))
}

/// A denial as controller-runtime writes one for a validator's error: 403 Forbidden.
pub fn denied(uid: &str, message: &str) -> Value {
    response(
        uid,
        json!({"allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": message}}),
    )
}

/// The validating webhook: every problem of the object, each with its field path and the fix.
/// Updates that leave the spec alone are allowed, so that metadata and finalizers of an object
/// stored before the webhook existed can still change.
pub fn validate(request: &Request) -> Value {
    if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
        return allowed(&request.uid);
    }
    if request.operation == "UPDATE" && request.object.get("spec") == request.old_object.get("spec")
    {
        return allowed(&request.uid);
    }
    // The namespace is the request's when the object does not name it (its sparkConf may only
    // name that one).
    let mut object = request.object.clone();
    if object.pointer("/metadata/namespace").is_none()
        && !request.namespace.is_empty()
        && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.insert("namespace".into(), json!(request.namespace));
    }
    let errors: Vec<FieldError> = match request.kind.as_str() {
        "SparkApplication" => validate_application_json(&object),
        "ScheduledSparkApplication" => validate_scheduled_json(&object),
        "SparkConnect" => validate_connect_json(&object),
        _ => Vec::new(),
    };
    if errors.is_empty() {
        return allowed(&request.uid);
    }
    let name = request
        .object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let problems = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    denied(
        &request.uid,
        &format!(
            "{} {}/{name} is invalid ({} problem(s)): {problems}",
            request.kind,
            request.namespace,
            errors.len()
        ),
    )
}

/// The mutating webhook for a pod whose application is `app` (`None`: not found): allowed, with a
/// JSON patch when the pod lacks something the application asks. Unmanaged pods are never
/// patched, and a pod that cannot be read is allowed unchanged.
pub fn mutate_pod(request: &Request, app: Option<&SparkApplication>) -> Value {
    let (Some(app), Some((_, role)), "CREATE") = (
        app,
        mutate::managed_pod(&request.object),
        request.operation.as_str(),
    ) else {
        return allowed(&request.uid);
    };
    let patch = match mutate::patch_for(&request.object, app, role) {
        Ok(patch) if !patch.is_empty() => patch,
        Ok(_) => return allowed(&request.uid),
        Err(error) => {
            tracing::warn!(%error, "pod not mutated");
            return allowed(&request.uid);
        }
    };
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&patch).unwrap_or_default());
    response(
        &request.uid,
        json!({"allowed": true, "patchType": "JSONPatch", "patch": encoded}),
    )
}

/// The pod's application, for the caller to fetch: (namespace, name) of a managed pod.
pub fn pod_application(request: &Request) -> Option<(String, String, Role)> {
    let (name, role) = mutate::managed_pod(&request.object)?;
    let namespace = request
        .object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(&request.namespace)
        .to_string();
    Some((namespace, name, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(kind: &str, operation: &str, object: Value, old: Value) -> Request {
        request(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"group": "sparkoperator.k8s.io", "version": "v1beta2", "kind": kind},
                "operation": operation, "namespace": "default", "object": object, "oldObject": old}}))
        .expect("review reads")
    }

    #[test]
    fn invalid_applications_are_denied_with_every_problem() {
        let app = json!({"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "bad", "namespace": "default"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0",
                "driver": {"cores": 0}, "executor": {"instances": -1}}});
        let answer = validate(&review(
            "SparkApplication",
            "CREATE",
            app.clone(),
            Value::Null,
        ));
        assert_eq!(answer["response"]["allowed"], false);
        assert_eq!(answer["response"]["uid"], "u1");
        assert_eq!(answer["response"]["status"]["code"], 403);
        let message = answer["response"]["status"]["message"]
            .as_str()
            .expect("message");
        assert!(
            message.starts_with("SparkApplication default/bad is invalid"),
            "{message}"
        );
        assert!(message.contains("spec.driver.cores"), "{message}");
        assert!(message.contains("spec.executor.instances"), "{message}");
        // An update that leaves the spec alone passes.
        let answer = validate(&review("SparkApplication", "UPDATE", app.clone(), app));
        assert_eq!(answer["response"]["allowed"], true);
    }

    #[test]
    fn malformed_reviews_are_errors_not_panics() {
        assert!(request(&json!(null)).is_err());
        assert!(request(&json!({"request": {"uid": ""}})).is_err());
        let odd = review("SparkApplication", "CREATE", json!("text"), json!(7));
        assert_eq!(validate(&odd)["response"]["allowed"], false);
        let pod = review("Pod", "CREATE", json!([1, 2]), Value::Null);
        assert_eq!(mutate_pod(&pod, None)["response"]["allowed"], true);
        assert!(pod_application(&pod).is_none());
    }
}

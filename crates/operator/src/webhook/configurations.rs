//! The MutatingWebhookConfiguration and ValidatingWebhookConfiguration the operator writes
//! (server-side apply, one field manager), built as pure functions of the settings and the CA.

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::review::{
    MUTATE_POD_PATH, VALIDATE_APPLICATION_PATH, VALIDATE_CONNECT_PATH, VALIDATE_SCHEDULED_PATH,
};
use crate::submission::{LABEL_APP_NAME, LABEL_LAUNCHED_BY};

/// The field manager of every write of the webhook's objects.
pub const FIELD_MANAGER: &str = "spark-operator-webhook";

/// How the API server reaches the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTarget {
    /// `clientConfig.service` (in a cluster).
    Service {
        namespace: String,
        name: String,
        port: u16,
    },
    /// `clientConfig.url`, a base such as `https://127.0.0.1:9443`.
    Url(String),
}

/// What the configurations say besides the CA.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub mutating_name: String,
    pub validating_name: String,
    pub target: ClientTarget,
    /// `Fail` or `Ignore`.
    pub failure_policy: String,
    /// A `metav1.LabelSelector` object (`{}` for every namespace).
    pub namespace_selector: Value,
    /// A `metav1.LabelSelector` object added to every webhook's object selector.
    pub object_selector: Value,
    pub timeout_seconds: u16,
}

fn client_config(target: &ClientTarget, path: &str, ca_bundle: &str) -> Value {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_bundle);
    match target {
        ClientTarget::Service {
            namespace,
            name,
            port,
        } => json!({"service": {"namespace": namespace, "name": name, "path": path, "port": port},
            "caBundle": ca}),
        ClientTarget::Url(base) => {
            json!({"url": format!("{}{path}", base.trim_end_matches('/')), "caBundle": ca})
        }
    }
}

/// `extra` with the requirements of `base` added.
fn and_selector(base: &Value, extra: Value) -> Value {
    let mut selector = extra;
    if let Some(labels) = base.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            selector["matchLabels"][key] = value.clone();
        }
    }
    if let Some(expressions) = base.get("matchExpressions").and_then(Value::as_array) {
        let list = selector["matchExpressions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        selector["matchExpressions"] = json!([list, expressions.clone()].concat());
    }
    selector
}

fn webhook(registration: &Registration, name: &str, path: &str, ca: &str, rule: Value) -> Value {
    json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": registration.failure_policy,
        "timeoutSeconds": registration.timeout_seconds,
        "matchPolicy": "Equivalent",
        "namespaceSelector": registration.namespace_selector,
        "objectSelector": registration.object_selector,
        "clientConfig": client_config(&registration.target, path, ca),
        "rules": [rule],
    })
}

/// The mutating configuration: driver and executor pods of managed applications, on create.
pub fn mutating(registration: &Registration, ca_bundle: &str) -> Value {
    let mut pods = webhook(
        registration,
        "mutate--v1-pod.sparkoperator.k8s.io",
        MUTATE_POD_PATH,
        ca_bundle,
        json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["pods"], "scope": "Namespaced"}),
    );
    pods["objectSelector"] = and_selector(
        &registration.object_selector,
        json!({"matchLabels": {LABEL_LAUNCHED_BY: "true"},
            "matchExpressions": [{"key": LABEL_APP_NAME, "operator": "Exists"}]}),
    );
    pods["reinvocationPolicy"] = json!("Never");
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": registration.mutating_name},
        "webhooks": [pods],
    })
}

/// The validating configuration: SparkApplications, ScheduledSparkApplications and SparkConnects
/// on create and update.
pub fn validating(registration: &Registration, ca_bundle: &str) -> Value {
    let rule = |version: &str, resource: &str| {
        json!({"operations": ["CREATE", "UPDATE"], "apiGroups": ["sparkoperator.k8s.io"],
            "apiVersions": [version], "resources": [resource], "scope": "Namespaced"})
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": registration.validating_name},
        "webhooks": [
            webhook(registration, "validate-sparkoperator-k8s-io-v1beta2-sparkapplication.sparkoperator.k8s.io",
                VALIDATE_APPLICATION_PATH, ca_bundle, rule("v1beta2", "sparkapplications")),
            webhook(registration, "validate-sparkoperator-k8s-io-v1beta2-scheduledsparkapplication.sparkoperator.k8s.io",
                VALIDATE_SCHEDULED_PATH, ca_bundle, rule("v1beta2", "scheduledsparkapplications")),
            webhook(registration, "validate-sparkoperator-k8s-io-v1alpha1-sparkconnect.sparkoperator.k8s.io",
                VALIDATE_CONNECT_PATH, ca_bundle, rule("v1alpha1", "sparkconnects")),
        ],
    })
}

/// Applies both configurations with `ca_bundle` (server-side apply, forced: the operator owns
/// these fields).
pub async fn apply(
    client: &Client,
    registration: &Registration,
    ca_bundle: &str,
) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mutating_api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    mutating_api
        .patch(
            &registration.mutating_name,
            &params,
            &Patch::Apply(mutating(registration, ca_bundle)),
        )
        .await?;
    let validating_api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    validating_api
        .patch(
            &registration.validating_name,
            &params,
            &Patch::Apply(validating(registration, ca_bundle)),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(target: ClientTarget) -> Registration {
        Registration {
            mutating_name: "m".into(),
            validating_name: "v".into(),
            target,
            failure_policy: "Ignore".into(),
            namespace_selector: json!({"matchLabels": {"spark": "yes"}}),
            object_selector: json!({"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}),
            timeout_seconds: 5,
        }
    }

    #[test]
    fn configurations_carry_the_settings() {
        let r = registration(ClientTarget::Url("https://127.0.0.1:9443/".into()));
        let m = mutating(&r, "PEM");
        let hook = &m["webhooks"][0];
        assert_eq!(
            hook["clientConfig"]["url"],
            "https://127.0.0.1:9443/mutate--v1-pod"
        );
        assert_eq!(hook["clientConfig"]["caBundle"], "UEVN");
        assert_eq!(hook["failurePolicy"], "Ignore");
        assert_eq!(hook["timeoutSeconds"], 5);
        assert_eq!(hook["namespaceSelector"]["matchLabels"]["spark"], "yes");
        assert_eq!(
            hook["objectSelector"]["matchLabels"][LABEL_LAUNCHED_BY],
            "true"
        );
        assert_eq!(
            hook["objectSelector"]["matchExpressions"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let service = registration(ClientTarget::Service {
            namespace: "ops".into(),
            name: "svc".into(),
            port: 9443,
        });
        let v = validating(&service, "PEM");
        assert_eq!(v["webhooks"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            v["webhooks"][2]["rules"][0]["resources"][0],
            "sparkconnects"
        );
        assert_eq!(v["webhooks"][1]["clientConfig"]["service"]["name"], "svc");
        assert_eq!(
            v["webhooks"][0]["objectSelector"]["matchExpressions"][0]["key"],
            "skip"
        );
    }
}

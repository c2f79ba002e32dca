//! The driver's PodDisruptionBudget, as Kubeflow makes it with `--enable-driver-pdb` for
//! applications that set `driverPodDisruptionBudget: true`: `kubectl drain` and the cluster
//! autoscaler must not evict a running driver, whose loss fails the whole application, while
//! executors may go (Spark replaces them). Pure: the submitter creates it, the lifecycle's end
//! deletes it.

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::SubmissionNames;
use super::names::{LABEL_APP_NAME, LABEL_LAUNCHED_BY, LABEL_SPARK_ROLE, ROLE_DRIVER};
use super::spec::Prepared;

/// Where the PodDisruptionBudgets of `namespace` are served.
pub fn collection_path(namespace: &str) -> String {
    format!("/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets")
}

/// The budget of `prepared`'s driver, named as the driver pod, when the application asks for one.
pub fn driver(prepared: &Prepared, names: &SubmissionNames) -> Option<PodDisruptionBudget> {
    if prepared.spec.driver_pod_disruption_budget != Some(true) {
        return None;
    }
    let app = (LABEL_APP_NAME.to_string(), prepared.name.clone());
    Some(PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(names.driver_pod.clone()),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(BTreeMap::from([
                (LABEL_LAUNCHED_BY.to_string(), "true".to_string()),
                app.clone(),
            ])),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    app,
                    (LABEL_SPARK_ROLE.to_string(), ROLE_DRIVER.to_string()),
                ])),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

//! The application as the submission sees it: Kubeflow's defaults and the rewrites Kubeflow's
//! operator makes before submitting (web UI proxy, monitoring), plus what every object shares
//! (owner reference, labels).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use spark_operator_api::defaults::application_defaults;
use spark_operator_api::{DeployMode, SparkApplication, SparkApplicationSpec};

use super::names::{LABEL_APP_NAME, LABEL_SUBMISSION_ID};
use super::{SubmissionContext, SubmissionError, gang, ingress_url, monitoring};

/// An application ready to be translated.
pub struct Prepared<'a> {
    pub app: &'a SparkApplication,
    pub name: String,
    pub namespace: String,
    uid: String,
    /// The spec with Kubeflow's defaults and pre-submission rewrites applied.
    pub spec: SparkApplicationSpec,
    /// The PodGroup the application's pods wait on, when a batch scheduler that needs one
    /// gang-schedules it.
    pub pod_group: Option<PlannedPodGroup>,
}

/// A PodGroup to create, and where it is served.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPodGroup {
    pub reference: gang::PodGroupRef,
    pub object: serde_json::Value,
}

impl<'a> Prepared<'a> {
    pub fn new(
        app: &'a SparkApplication,
        ctx: &SubmissionContext,
    ) -> Result<Self, SubmissionError> {
        let name = app.name_any();
        let namespace = app.namespace().ok_or(SubmissionError::MissingNamespace)?;
        let uid = app.uid().ok_or(SubmissionError::MissingUid)?;
        let mut spec = application_defaults(&app.spec);
        if spec.mode == Some(DeployMode::Client) {
            return Err(SubmissionError::ClientMode);
        }
        if spec.driver.pod.service_account.is_none() {
            spec.driver.pod.service_account = ctx.options.default_service_account.clone();
        }
        ingress_url::configure_proxy_base(&mut spec, &name, &namespace, ctx)?;
        monitoring::configure(&mut spec, &namespace, &name);
        let mut prepared = Self {
            app,
            name,
            namespace,
            uid,
            spec,
            pod_group: None,
        };
        if let Some(gang) = ctx.options.batch_scheduling.gang_of(&prepared.spec) {
            let owner = serde_json::to_value(prepared.owner_reference())
                .map_err(|e| SubmissionError::Serialization(e.to_string()))?;
            let object = gang::prepare(
                &gang,
                &mut prepared.spec,
                &prepared.name,
                &prepared.namespace,
                owner,
            );
            prepared.pod_group = gang
                .pod_group(&prepared.name)
                .zip(object)
                .map(|(reference, object)| PlannedPodGroup { reference, object });
        }
        Ok(prepared)
    }

    /// The reference that makes the application own an object: deleting the application deletes it.
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: SparkApplication::api_version(&()).into_owned(),
            kind: SparkApplication::kind(&()).into_owned(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// The same reference without controller and deletion blocking, as Kubeflow puts it on
    /// executor pods (the driver pod is their controller).
    pub fn executor_owner_reference(&self) -> OwnerReference {
        OwnerReference {
            controller: None,
            block_owner_deletion: None,
            ..self.owner_reference()
        }
    }

    /// Labels Kubeflow puts on the objects it creates for an application.
    pub fn resource_labels(&self, ctx: &SubmissionContext) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_APP_NAME.to_string(), self.name.clone()),
            (LABEL_SUBMISSION_ID.to_string(), ctx.submission_id.clone()),
        ])
    }

    /// How spark-submit classifies the main file: by its extension, whatever `spec.type` says.
    pub fn main_resource(&self) -> MainResource {
        match self.spec.main_application_file.as_deref() {
            Some(file) if file.ends_with(".py") => MainResource::Python(file.to_string()),
            Some(file) if file.ends_with(".R") || file.ends_with(".r") => {
                MainResource::R(file.to_string())
            }
            other => MainResource::Java(other.map(str::to_string)),
        }
    }
}

/// The application's main file and the runner Spark starts it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MainResource {
    Java(Option<String>),
    Python(String),
    R(String),
}

impl MainResource {
    pub fn is_jvm(&self) -> bool {
        matches!(self, Self::Java(_))
    }

    /// `spark.kubernetes.resource.type`.
    pub fn resource_type(&self) -> &'static str {
        match self {
            Self::Java(_) => "java",
            Self::Python(_) => "python",
            Self::R(_) => "r",
        }
    }

    pub fn file(&self) -> Option<&str> {
        match self {
            Self::Java(file) => file.as_deref(),
            Self::Python(file) | Self::R(file) => Some(file),
        }
    }
}

/// Whether spark-submit would have to upload `uri` from the submitter's disk: it has no scheme or
/// the `file` scheme. `local://` files are in the image; other schemes are fetched by the driver.
pub fn is_submitter_local(uri: &str) -> bool {
    match scheme(uri) {
        None => true,
        Some(scheme) => scheme.eq_ignore_ascii_case("file"),
    }
}

fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_are_those_spark_submit_uploads() {
        assert!(is_submitter_local("/opt/app.jar"));
        assert!(is_submitter_local("file:///opt/app.jar"));
        assert!(is_submitter_local("app.py"));
        assert!(!is_submitter_local(
            "local:///opt/spark/examples/jars/spark-examples.jar"
        ));
        assert!(!is_submitter_local("s3a://bucket/app.jar"));
        assert!(!is_submitter_local("https://repo/app.jar"));
    }
}

//! Submission through Spark's own `spark-submit`, for applications (or operators) that choose it:
//! `runner` runs the process; this module makes sure it runs at most once per attempt. The
//! attempt's driver pod carries the attempt's submission id, so an attempt whose driver already
//! exists is adopted and `spark-submit` never runs twice for it.

mod runner;

pub use crate::config::{DEFAULT_JAVA_OPTIONS, SparkSubmitOptions};
pub use crate::error::SparkSubmitError;
pub use runner::{SparkSubmitOutput, SparkSubmitter, find_spark_home};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::SparkApplication;
use spark_operator_api::naming::driver_pod_name;

use super::Submitter;
use crate::error::{Error, Result};
use crate::submission::SubmissionContext;
use crate::submission::{LABEL_SPARK_APP_SELECTOR, LABEL_SUBMISSION_ID};

/// Submits attempt `attempt` of `app` through spark-submit, unless its driver exists already;
/// the driver's name and Spark's application id.
pub async fn submit(
    submitter: &Submitter,
    app: &SparkApplication,
    attempt: &SubmissionContext,
) -> Result<(String, String)> {
    let namespace = app.namespace().unwrap_or_default();
    let pods = Api::<Pod>::namespaced(submitter.client.clone(), &namespace);
    let driver_name = driver_pod_name(app);
    // Read fresh, not from the cache: a driver created a moment ago must be found.
    if let Some(driver) = pods.get_opt(&driver_name).await? {
        let same_attempt = driver.labels().get(LABEL_SUBMISSION_ID) == Some(&attempt.submission_id);
        if !same_attempt {
            return Err(Error::ForeignObject {
                kind: "Pod".into(),
                name: driver_name,
            });
        }
        return adopt(app, &pods, driver, attempt).await;
    }
    let runner = submitter
        .spark_submitter
        .get_or_init(|| async {
            SparkSubmitter::new(submitter.config.spark_submit.clone())
                .map(|runner| runner.stopping_with(submitter.stopping.clone()))
        })
        .await
        .as_ref()
        .map_err(|error| Error::SparkSubmit(error.clone()))?;
    runner.submit(app, attempt).await?;
    let driver = pods.get(&driver_name).await?;
    adopt(app, &pods, driver, attempt).await
}

/// Makes the driver the application's (so that deleting the application deletes it, as Kubeflow's
/// webhook arranges for spark-submit's drivers) and reports the attempt submitted.
async fn adopt(
    app: &SparkApplication,
    pods: &Api<Pod>,
    driver: Pod,
    attempt: &SubmissionContext,
) -> Result<(String, String)> {
    let uid = app.uid().unwrap_or_default();
    if !driver.owner_references().iter().any(|o| o.uid == uid)
        && let Some(owner) = app.controller_owner_ref(&())
    {
        let patch = serde_json::json!({"metadata": {"ownerReferences": [owner]}});
        pods.patch(
            &driver.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    let app_id = driver
        .labels()
        .get(LABEL_SPARK_APP_SELECTOR)
        .cloned()
        .unwrap_or_else(|| attempt.app_id.clone());
    Ok((driver.name_any(), app_id))
}

//! Submission through Spark's own `spark-submit`, for applications (or operators) that choose it.
//! The attempt's driver pod carries the attempt's submission id, so an attempt whose driver
//! already exists is adopted and `spark-submit` never runs twice for it.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::SparkApplication;
use spark_operator_api::naming::driver_pod_name;

use super::Context;
use crate::error::{Error, Result};
use crate::lifecycle::SubmissionOutcome;
use crate::submission::SubmissionContext;
use crate::submission::spark_submit::{SparkSubmitError, SparkSubmitter};
use crate::submission::{LABEL_SPARK_APP_SELECTOR, LABEL_SUBMISSION_ID};

pub async fn submit(
    app: &SparkApplication,
    ctx: &Context,
    attempt: &SubmissionContext,
) -> Result<SubmissionOutcome> {
    let namespace = app.namespace().unwrap_or_default();
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &namespace);
    let driver_name = driver_pod_name(app);
    // Read fresh, not from the cache: a driver created a moment ago must be found.
    if let Some(driver) = pods.get_opt(&driver_name).await? {
        let same_attempt = driver.labels().get(LABEL_SUBMISSION_ID) == Some(&attempt.submission_id);
        if !same_attempt {
            return Err(Error::Submission(format!(
                "pod {driver_name} exists from another submission; it is deleted before the application is submitted again"
            )));
        }
        return adopt(app, &pods, driver, attempt).await;
    }
    let submitter = ctx
        .spark_submitter
        .get_or_init(|| async {
            SparkSubmitter::new(ctx.config.spark_submit.clone())
                .map(|submitter| submitter.stopping_with(ctx.stopping.clone()))
                .map_err(|e| e.to_string())
        })
        .await
        .as_ref()
        .map_err(|message| Error::Submission(message.clone()))?;
    submitter
        .submit(app, attempt)
        .await
        .map_err(|error| match error {
            SparkSubmitError::Stopping => Error::Stopping,
            error => Error::Submission(error.to_string()),
        })?;
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
) -> Result<SubmissionOutcome> {
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
    Ok(SubmissionOutcome::Submitted {
        driver_pod_name: driver.name_any(),
        app_id,
    })
}
